package pool

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/embatch/embatch/task"
)

// randomWalkSeeds is how many seeds TestSchedulerRandomWalk tries. Raise it
// locally to hunt for bugs; every seed is cheap.
var randomWalkSeeds = 40

// TestSchedulerRandomWalk drives the core through the scenario driver with
// seeded random commands (node loss and preemption, resizes with every
// deallocation option, job disable/enable/terminate/delete, retries,
// timeouts, dependencies, multi-instance tasks, preparation tasks) and
// checks the core's invariants after every command. A failure prints the
// seed and the script that led to it.
func TestSchedulerRandomWalk(t *testing.T) {
	for seed := range uint64(randomWalkSeeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomWalk(t, seed, "pool") })
	}
}

// TestPolicyRandomWalk takes every scheduling policy on the same random
// walks (fewer seeds each).
func TestPolicyRandomWalk(t *testing.T) {
	for _, policy := range PolicyNames() {
		for seed := range uint64(max(randomWalkSeeds/4, 1)) {
			t.Run(fmt.Sprintf("%s/%d", policy, seed), func(t *testing.T) { randomWalk(t, seed, "pool policy="+policy) })
		}
	}
}

// randomWalk runs one seeded random walk; poolLine creates the pool.
func randomWalk(t *testing.T, seed uint64, poolLine string) {
	w := &walker{tb: t, rng: rand.New(rand.NewPCG(seed, 7)), sc: newScenario()}
	w.do(poolLine, walkPools[seed%uint64(len(walkPools))])
	w.newJob(true)
	w.newJob(false)
	for step := range 300 {
		w.randomStep()
		if err := checkInvariants(w.sc); err != nil {
			t.Fatalf("seed %d step %d: %v\nscript:\n%s", seed, step, err, strings.Join(w.script, "\n"))
		}
	}
}

// walkPools are the pool specs random walks start from.
var walkPools = []string{
	`{"id":"p","targetDedicatedNodes":3,"targetLowPriorityNodes":1,"taskSlotsPerNode":2,"resizeTimeout":"PT5M","startTask":{"commandLine":"s","maxTaskRetryCount":1}}`,
	`{"id":"p","targetDedicatedNodes":2,"taskSlotsPerNode":3,"taskSchedulingPolicy":{"nodeFillType":"pack"}}`,
	`{"id":"p","targetDedicatedNodes":1,"targetLowPriorityNodes":2,"taskSlotsPerNode":2,"startTask":{"commandLine":"s","waitForSuccess":false}}`,
	`{"id":"p","targetDedicatedNodes":4,"taskSlotsPerNode":2}`,
}

type walker struct {
	tb     testing.TB
	rng    *rand.Rand
	sc     *scenario
	script []string
	ids    int
	jobs   []string // jobs in use; those starting with "j" use dependencies
	jobSeq int
}

// newJob adds a job of one of two kinds: with task dependencies, retries
// and onAllTasksComplete, or with priority, maxParallelTasks, exit job
// actions and preparation and release tasks.
func (w *walker) newJob(deps bool) {
	w.jobSeq++
	if deps {
		id := fmt.Sprintf("j%d", w.jobSeq)
		w.jobs = append(w.jobs, id)
		w.do("job", `{"id":"`+id+`","usesTaskDependencies":true,"constraints":{"maxTaskRetryCount":1},"onAllTasksComplete":"`+w.pick([]string{"noaction", "terminatejob"})+`"}`)
		return
	}
	id := fmt.Sprintf("k%d", w.jobSeq)
	w.jobs = append(w.jobs, id)
	jm := ""
	if w.rng.IntN(2) == 0 {
		// A job manager task with random flags (see jobmanager.go).
		jm = `,"jobManagerTask":{"id":"jm","commandLine":"m","runExclusive":` + w.pick([]string{"true", "false"}) +
			`,"killJobOnCompletion":` + w.pick([]string{"true", "false"}) + `,"allowLowPriorityNode":` + w.pick([]string{"true", "false"}) + `}`
	}
	w.do("job", `{"id":"`+id+`","priority":10,"maxParallelTasks":2,"onTaskFailure":"performexitoptionsjobaction","jobPreparationTask":{"commandLine":"p"},"jobReleaseTask":{"commandLine":"r"}`+jm+`}`)
}

func (w *walker) do(line, input string) string {
	w.tb.Helper()
	cmd, args, err := datadriven.ParseLine(line)
	if err != nil {
		w.tb.Fatal(err)
	}
	w.script = append(w.script, line+"\n"+input)
	out, err := w.sc.run(cmd, args, input)
	if err != nil {
		w.tb.Fatalf("%s: %v\nscript:\n%s", line, err, strings.Join(w.script, "\n"))
	}
	if strings.Contains(out, "BUG:") {
		w.tb.Fatalf("%s: %s\nscript:\n%s", line, out, strings.Join(w.script, "\n"))
	}
	return out
}

func (w *walker) pick(list []string) string { return list[w.rng.IntN(len(list))] }

func (w *walker) randomStep() {
	r := w.rng
	// Replace jobs that ended.
	for i, id := range w.jobs {
		if j, err := w.sc.s.Job(id); err != nil || j.State == task.JobCompleted || j.State == task.JobDeleting {
			w.jobs = slices.Delete(w.jobs, i, i+1)
			w.newJob(strings.HasPrefix(id, "j"))
			break
		}
	}
	jobs := w.jobs
	w.do(fmt.Sprintf("at t=%s", w.sc.now.Sub(scenarioEpoch)+time.Duration(1+r.IntN(20))*time.Second), "")
	switch r.IntN(20) {
	case 0, 1, 2, 3:
		// Only j uses task dependencies.
		job := w.pick(jobs)
		var b strings.Builder
		for range 1 + r.IntN(3) {
			w.ids++
			fmt.Fprintf(&b, `{"id":"%d"`, w.ids)
			switch r.IntN(6) {
			case 0:
				if strings.HasPrefix(job, "j") && w.ids > 1 {
					fmt.Fprintf(&b, `,"dependsOn":{"taskIdRanges":[{"start":%d,"end":%d}]}`, max(1, w.ids-3), w.ids-1)
				}
			case 1:
				b.WriteString(`,"requiredSlots":2`)
			case 2:
				b.WriteString(`,"multiInstanceSettings":{"numberOfInstances":2,"coordinationCommandLine":"c"}`)
			case 3:
				b.WriteString(`,"constraints":{"maxWallClockTime":"PT1M"}`)
			}
			b.WriteString("}\n")
		}
		w.do("tasks job="+job, b.String())
	case 4, 5, 6, 7, 8:
		// Report an exit of a started attempt.
		ids := w.sc.startedIDs()
		if len(ids) == 0 {
			return
		}
		id := ids[r.IntN(len(ids))]
		code := 0
		if r.IntN(3) == 0 {
			code = 1 + r.IntN(3)
		}
		outcome := "exited"
		if r.IntN(10) == 0 {
			outcome = "preprocessing"
		}
		w.do(fmt.Sprintf("exit attempt=%d code=%d outcome=%s", id, code, outcome), "")
	case 9:
		if len(w.sc.allocated) > 0 {
			w.do("ready node="+w.pick(w.sc.allocated), "")
		}
	case 10:
		nodes := w.sc.s.Nodes()
		if len(nodes) == 0 {
			return
		}
		n := nodes[r.IntN(len(nodes))]
		switch n.State {
		case NodeUnusable, NodePreempted:
			w.do("ready node="+n.ID, "")
		default:
			if r.IntN(2) == 0 {
				w.do("fail node="+n.ID+" preempted", "")
			} else {
				w.do("fail node="+n.ID, "")
			}
		}
	case 11:
		opt := w.pick([]string{"requeue", "terminate", "taskcompletion", "retaineddata"})
		w.do(fmt.Sprintf("resize dedicated=%d lowpriority=%d option=%s", r.IntN(5), r.IntN(3), opt), "")
	case 12:
		if r.IntN(2) == 0 {
			w.do("stop-resize", "")
		} else {
			w.do("tick", "")
		}
	case 13:
		nodes := w.sc.s.Nodes()
		if len(nodes) == 0 {
			return
		}
		n := nodes[r.IntN(len(nodes))]
		if r.IntN(2) == 0 {
			w.do("enable-node node="+n.ID, "")
		} else {
			w.do("disable-node node="+n.ID+" option="+w.pick([]string{"requeue", "terminate", "taskcompletion"}), "")
		}
	case 14:
		job := w.pick(jobs)
		switch r.IntN(4) {
		case 0:
			w.do("disable-job job="+job+" option="+w.pick([]string{"requeue", "terminate", "wait"}), "")
		case 1, 2:
			w.do("enable-job job="+job, "")
		case 3:
			if w.ids > 0 {
				w.do(fmt.Sprintf("terminate-task job=%s task=%d", job, 1+r.IntN(w.ids)), "")
			}
		}
	case 15:
		nodes := w.sc.s.Nodes()
		if len(nodes) > 0 {
			n := nodes[r.IntN(len(nodes))]
			w.do("remove-nodes nodes="+n.ID+" option="+w.pick([]string{"requeue", "terminate", "taskcompletion"}), "")
		}
	case 16:
		w.do("tick", "")
	case 17:
		if r.IntN(10) == 0 {
			job := w.pick(jobs)
			if r.IntN(2) == 0 {
				w.do("terminate-job job="+job, "")
			} else {
				w.do("delete-job job="+job, "")
			}
		}
	default:
		// Exit everything that runs, as a fast-forward.
		w.do("exit-all", "")
	}
}

// checkInvariants checks the core's internal bookkeeping against its
// records.
func checkInvariants(sc *scenario) error {
	s := sc.s
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
