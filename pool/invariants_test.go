package pool

import (
	"fmt"
	"slices"

	"github.com/embatch/embatch/task"
)

// checkInvariants checks the core's internal bookkeeping against its
// records.
func checkInvariants(s *Scheduler) error {
	busy := 0
	for _, n := range s.nodeList {
		if n.rec.State == NodeCreating || n.leaving {
			busy++
		}
	}
	if busy != s.busyNodes {
		return fmt.Errorf("%d nodes being created or leaving, counted %d", busy, s.busyNodes)
	}
	slotsUsed := map[*nodeRec]int{}
	for id, a := range s.attempts.all() {
		if a.a.ID != id {
			return fmt.Errorf("attempt %d filed under %d", a.a.ID, id)
		}
		for _, n := range a.nodes {
			if s.nodeByID[n.rec.ID] != n {
				return fmt.Errorf("attempt #%d on node %s that left the pool", id, n.rec.ID)
			}
			if !slices.Contains(n.attempts, a) {
				return fmt.Errorf("attempt #%d not listed on its node %s", id, n.rec.ID)
			}
			slotsUsed[n] += a.a.Slots
		}
		if a.task != nil && a.task.attempt != a {
			return fmt.Errorf("attempt #%d of %s/%s is not its task's attempt", id, a.a.JobID, a.a.TaskID)
		}
	}
	if err := checkRunIndex(s); err != nil {
		return err
	}
	freeTotal, count := 0, 0
	for _, n := range s.nodeList {
		if n.free != s.slotsPerNode-slotsUsed[n] {
			return fmt.Errorf("node %s: free=%d, but attempts hold %d of %d slots", n.rec.ID, n.free, slotsUsed[n], s.slotsPerNode)
		}
		if n.free < 0 {
			return fmt.Errorf("node %s oversubscribed: free=%d", n.rec.ID, n.free)
		}
		if n.rec.RunningTaskSlotsCount != slotsUsed[n] {
			return fmt.Errorf("node %s: runningTaskSlotsCount=%d, attempts hold %d", n.rec.ID, n.rec.RunningTaskSlotsCount, slotsUsed[n])
		}
		if n.indexed != n.schedulable() {
			return fmt.Errorf("node %s (%s): indexed=%v schedulable=%v", n.rec.ID, n.rec.State, n.indexed, n.schedulable())
		}
		if n.indexed {
			freeTotal += n.free
			count++
		}
		for _, a := range n.attempts {
			if s.attempts.get(a.a.ID) != a {
				return fmt.Errorf("node %s lists ended attempt #%d", n.rec.ID, a.a.ID)
			}
		}
		st := n.rec.State
		if (st == NodeIdle || st == NodeOffline) && n.rec.RunningTasksCount > 0 {
			return fmt.Errorf("node %s is %s with %d tasks", n.rec.ID, st, n.rec.RunningTasksCount)
		}
		if st == NodeRunning && n.rec.RunningTasksCount == 0 {
			return fmt.Errorf("node %s is running with no task", n.rec.ID)
		}
		if (st == NodeWaitingForStartTask || st == NodeStartTaskFailed) && n.rec.RunningTasksCount > 0 {
			return fmt.Errorf("node %s is %s with %d tasks (waitForSuccess)", n.rec.ID, st, n.rec.RunningTasksCount)
		}
	}
	if freeTotal != s.nodes.freeTotal || count != s.nodes.count {
		return fmt.Errorf("index: freeTotal=%d count=%d, nodes say %d %d", s.nodes.freeTotal, s.nodes.count, freeTotal, count)
	}
	for _, j := range s.jobs {
		var c task.TaskCounts
		running, incomplete, ready := 0, 0, 0
		for _, t := range j.order {
			switch t.state {
			case task.TaskActive:
				c.Active++
				if t.attempt != nil {
					return fmt.Errorf("active task %s/%s holds attempt #%d", j.spec.ID, t.spec.ID, t.attempt.a.ID)
				}
			case task.TaskPreparing, task.TaskRunning:
				c.Running++
				if t.attempt == nil || s.attempts.get(t.attempt.a.ID) != t.attempt {
					return fmt.Errorf("%s task %s/%s has no live attempt", t.state, j.spec.ID, t.spec.ID)
				}
				running++
			case task.TaskCompleted:
				c.Completed++
				if t.result() == task.ResultSuccess {
					c.Succeeded++
				} else {
					c.Failed++
				}
				if t.attempt != nil {
					return fmt.Errorf("completed task %s/%s holds attempt #%d", j.spec.ID, t.spec.ID, t.attempt.a.ID)
				}
			}
			if t.state != task.TaskCompleted {
				incomplete++
			}
			if max := t.spec.MaxRetries(&j.spec); max >= 0 && t.retryCount() > max {
				return fmt.Errorf("task %s/%s retried %d times, max %d", j.spec.ID, t.spec.ID, t.retryCount(), max)
			}
			if t.ready {
				ready++
			}
			if t.ready && (t.state != task.TaskActive || j.state != task.JobActive) {
				return fmt.Errorf("task %s/%s is ready but %s in a %s job", j.spec.ID, t.spec.ID, t.state, j.state)
			}
			if t.ready && s.heldForJobManager(t) {
				return fmt.Errorf("task %s/%s is ready before its job manager started", j.spec.ID, t.spec.ID)
			}
			if t.isJobManager() && t.attempt != nil && t.attempt.started {
				n := t.attempt.nodes
				if m := j.spec.JobManagerTask; m.Exclusive() && len(n) > 0 && n[0].rec.ID == t.attempt.a.Nodes[0] && len(n[0].attempts) > 1 {
					for _, o := range n[0].attempts {
						if o != t.attempt && o.task != nil && o.started {
							return fmt.Errorf("exclusive job manager of %s shares node %s with %s", j.spec.ID, n[0].rec.ID, o.task.spec.ID)
						}
					}
				}
				if m := j.spec.JobManagerTask; !m.AllowsLowPriority() && !t.attempt.a.Dedicated {
					return fmt.Errorf("job manager of %s runs on a low-priority node", j.spec.ID)
				}
			}
		}
		if c != j.counts {
			return fmt.Errorf("job %s counts %+v, tasks say %+v", j.spec.ID, j.counts, c)
		}
		if ready != j.readyN {
			return fmt.Errorf("job %s readyN=%d, %d tasks are ready", j.spec.ID, j.readyN, ready)
		}
		if running != j.running || incomplete != j.incomplete {
			return fmt.Errorf("job %s running=%d incomplete=%d, tasks say %d %d", j.spec.ID, j.running, j.incomplete, running, incomplete)
		}
		if j.state == task.JobCompleted && j.attempts > 0 {
			return fmt.Errorf("job %s is completed with %d attempts on nodes", j.spec.ID, j.attempts)
		}
		if (j.state == task.JobDisabled) && j.running > 0 {
			return fmt.Errorf("job %s is disabled with %d running tasks", j.spec.ID, j.running)
		}
		if max := j.spec.EffectiveMaxParallelTasks(); max > 0 && j.running > max && j.state == task.JobActive {
			// Only kills in flight may exceed; tasks are never placed beyond the cap.
			return fmt.Errorf("job %s runs %d tasks, maxParallelTasks %d", j.spec.ID, j.running, max)
		}
	}
	return nil
}

// checkRunIndex checks the running index (once built) against the
// attempts: every task attempt is in it, under its current estimated end,
// and nothing else is.
func checkRunIndex(s *Scheduler) error {
	if !s.runIndexed {
		return nil
	}
	tasks := 0
	for id, a := range s.attempts.all() {
		if a.task == nil {
			continue
		}
		tasks++
		if !a.runIndexed || a.runEnd != s.runEnd(a) {
			return fmt.Errorf("attempt #%d: indexed=%v end=%d, want end %d", id, a.runIndexed, a.runEnd, s.runEnd(a))
		}
	}
	var err error
	n := 0
	s.running.each(func(it *runItem) bool {
		n++
		if s.attempts.get(it.id) != it.a || it.end != it.a.runEnd {
			err = fmt.Errorf("running index holds attempt #%d (end %d), which is not running under that end", it.id, it.end)
			return false
		}
		return true
	})
	if err == nil && n != tasks {
		err = fmt.Errorf("running index holds %d attempts, %d task attempts run", n, tasks)
	}
	return err
}
