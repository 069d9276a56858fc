package pool_test

// The random walks drive the core through the scenario driver
// (sim/scenario, in the core's time) with seeded random commands and check
// its internal invariants (invariants_test.go, through export_test.go)
// after every command.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/sim"
	"github.com/embatch/embatch/sim/scenario"
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
	for _, policy := range pool.PolicyNames() {
		for seed := range uint64(max(randomWalkSeeds/4, 1)) {
			t.Run(fmt.Sprintf("%s/%d", policy, seed), func(t *testing.T) { randomWalk(t, seed, "pool policy="+policy) })
		}
	}
}

// randomWalk runs one seeded random walk; poolLine creates the pool.
func randomWalk(t *testing.T, seed uint64, poolLine string) {
	w := &walker{tb: t, rng: rand.New(rand.NewPCG(seed, 7)), r: scenario.NewGoldenRunner()}
	w.do(poolLine, walkPools[seed%uint64(len(walkPools))])
	w.newJob(true)
	w.newJob(false)
	for step := range 300 {
		w.randomStep()
		if err := pool.CheckInvariants(w.core()); err != nil {
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
	r      *scenario.Runner
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
	_, err = w.r.Run(scenario.Directive{Pos: "walk", Cmd: cmd, Args: args, Input: input})
	out := w.r.Output()
	if err != nil {
		w.tb.Fatalf("%s: %v\nscript:\n%s", line, err, strings.Join(w.script, "\n"))
	}
	if strings.Contains(out, "BUG:") {
		w.tb.Fatalf("%s: %s\nscript:\n%s", line, out, strings.Join(w.script, "\n"))
	}
	return out
}

// core is the walk's scheduler, for reading records.
func (w *walker) core() *pool.Scheduler { return w.r.Driver().Core() }

func (w *walker) pick(list []string) string { return list[w.rng.IntN(len(list))] }

func (w *walker) randomStep() {
	r := w.rng
	// Replace jobs that ended.
	for i, id := range w.jobs {
		if j, err := w.core().Job(id); err != nil || j.State == task.JobCompleted || j.State == task.JobDeleting {
			w.jobs = slices.Delete(w.jobs, i, i+1)
			w.newJob(strings.HasPrefix(id, "j"))
			break
		}
	}
	jobs := w.jobs
	w.do(fmt.Sprintf("at t=%s", w.r.Now()+time.Duration(1+r.IntN(20))*time.Second), "")
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
		ids := w.r.Started()
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
		if allocated := w.r.Allocated(); len(allocated) > 0 {
			w.do("ready node="+w.pick(allocated), "")
		}
	case 10:
		nodes := w.core().Nodes()
		if len(nodes) == 0 {
			return
		}
		n := nodes[r.IntN(len(nodes))]
		switch n.State {
		case pool.NodeUnusable, pool.NodePreempted:
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
		nodes := w.core().Nodes()
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
		nodes := w.core().Nodes()
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

// TestRestoreRandomWalk extends the scheduler's random walk with restarts:
// every Ready's changes are persisted as the engine persists them, and at
// random moments the core is thrown away and restored from the store. It
// checks that the store always equals the core's records (no change goes
// unreported), that the restored core keeps its invariants and applies
// the restore rules (running tasks requeued once, everything else as it
// was), and that restoring is deterministic whatever order the records
// come in.
func TestRestoreRandomWalk(t *testing.T) {
	for seed := range uint64(randomWalkSeeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			w := &walker{tb: t, rng: rand.New(rand.NewPCG(seed, 11)), r: scenario.NewGoldenRunner()}
			m := pool.NewMemStore()
			w.r.OnChanges = m.Apply
			w.do("pool", walkPools[seed%uint64(len(walkPools))])
			w.newJob(true)
			w.newJob(false)
			restarts := 0
			for step := range 300 {
				w.randomStep()
				if err := pool.CheckInvariants(w.core()); err != nil {
					t.Fatalf("seed %d step %d: %v\nscript:\n%s", seed, step, err, strings.Join(w.script, "\n"))
				}
				restart := w.rng.IntN(20) == 0
				// Comparing the whole store is the slow part: every 10
				// steps and before each restart is enough to catch a
				// record that changed without a Change.
				if step%10 == 0 || restart {
					if err := m.Check(w.core()); err != nil {
						t.Fatalf("seed %d step %d: %v\nscript:\n%s", seed, step, err, strings.Join(w.script, "\n"))
					}
				}
				if restart {
					restarts++
					w.script = append(w.script, "# restart")
					restartWalk(t, w, m)
				}
			}
			if restarts == 0 {
				t.Fatalf("seed %d: no restart", seed)
			}
		})
	}
}

// restartWalk replaces the walk's core by one restored from m.
func restartWalk(t *testing.T, w *walker, m *pool.MemStore) {
	t.Helper()
	old := w.core()
	wantJobs := map[string]task.Job{}
	wantTasks := map[string]task.Task{}
	for _, j := range old.Jobs() {
		wantJobs[j.ID] = j
		_ = old.RangeTasks(j.ID, func(tk *task.Task) bool {
			wantTasks[j.ID+"/"+tk.ID] = *tk
			return true
		})
	}
	jobs, tasks := m.RestoreArgs(w.rng)
	s, err := pool.Restore(m.Pool(), jobs, tasks, pool.Config{Now: sim.Epoch.Add(w.r.Now()), ReuseAttempts: true})
	if err != nil {
		t.Fatalf("restore: %v\nscript:\n%s", err, strings.Join(w.script, "\n"))
	}
	// The same records in another order restore the same core.
	jobs2, tasks2 := m.RestoreArgs(w.rng)
	s2, err := pool.Restore(m.Pool(), jobs2, tasks2, pool.Config{Now: sim.Epoch.Add(w.r.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := readyTrace(s), readyTrace(s2); a != b {
		t.Fatalf("restore is not deterministic:\n%s\n---\n%s", a, b)
	}
	// The restore rules, record by record.
	for _, j := range s.Jobs() {
		was := wantJobs[j.ID]
		switch was.State {
		case task.JobDisabling:
			if j.State != task.JobDisabled {
				t.Errorf("job %s was disabling, restored %s", j.ID, j.State)
			}
		case task.JobTerminating:
			if j.State != task.JobCompleted {
				t.Errorf("job %s was terminating, restored %s", j.ID, j.State)
			}
		case task.JobActive, task.JobDisabled, task.JobCompleted:
			if j.State != was.State && !(j.State == task.JobCompleted && j.OnAllTasksComplete == task.OnAllTasksCompleteTerminateJob) {
				t.Errorf("job %s was %s, restored %s", j.ID, was.State, j.State)
			}
		}
		_ = s.RangeTasks(j.ID, func(tk *task.Task) bool {
			was := wantTasks[j.ID+"/"+tk.ID]
			switch was.State {
			case task.TaskPreparing, task.TaskRunning:
				if tk.State != task.TaskActive || tk.ExecutionInfo.RequeueCount != was.ExecutionInfo.RequeueCount+1 ||
					tk.ExecutionInfo.RetryCount != was.ExecutionInfo.RetryCount {
					t.Errorf("task %s/%s was %s (requeue %d), restored %s (requeue %d)", j.ID, tk.ID, was.State,
						was.ExecutionInfo.RequeueCount, tk.State, tk.ExecutionInfo.RequeueCount)
				}
			default:
				if d := cmp.Diff(was, *tk); d != "" {
					t.Errorf("task %s/%s changed in restore (-was +restored):\n%s", j.ID, tk.ID, d)
				}
			}
			return true
		})
	}
	for id, j := range wantJobs {
		if _, err := s.Job(id); err != nil && j.State != task.JobDeleting {
			t.Errorf("job %s (%s) lost in restore", id, j.State)
		}
	}
	// Continue the walk on the restored core: every node and attempt of
	// the old one is gone.
	if out := w.r.Restart(s); strings.Contains(out, "BUG:") {
		t.Fatal(out)
	}
	if err := pool.CheckInvariants(w.core()); err != nil {
		t.Fatalf("after restore: %v\nscript:\n%s", err, strings.Join(w.script, "\n"))
	}
	if err := m.Check(s); err != nil {
		t.Fatalf("after restore: %v", err)
	}
	for _, n := range s.Nodes() {
		if idx := nodeIndex(n.ID); idx <= pool.NodeSeq(old) {
			t.Errorf("restored pool reuses node id %s (old pool allocated up to tvm-%d)", n.ID, pool.NodeSeq(old))
		}
	}
}

func nodeIndex(id string) int {
	var n int
	fmt.Sscanf(id, "tvm-%d", &n)
	return n
}

// readyTrace renders a scheduler's pending Ready and records without
// consuming it.
func readyTrace(s *pool.Scheduler) string {
	var b strings.Builder
	rd := s.Ready()
	for _, c := range rd.Changes {
		b.WriteString(scenario.ChangeLine(c) + "\n")
	}
	for _, a := range rd.Actions {
		b.WriteString(a.String() + "\n")
	}
	for _, j := range s.Jobs() {
		fmt.Fprintf(&b, "%s\n", scenario.JobLine(j))
		_ = s.RangeTasks(j.ID, func(tk *task.Task) bool {
			fmt.Fprintf(&b, "  %s %s rq=%d\n", tk.ID, tk.State, tk.ExecutionInfo.RequeueCount)
			return true
		})
	}
	return b.String()
}
