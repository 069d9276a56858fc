package pool

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/task"
)

// memStore is what a driver persists, kept the way the engine keeps it:
// each Change names a record, which is read from the core and stored.
type memStore struct {
	pool  DurablePool
	gone  bool
	jobs  map[string]DurableJob  // by folded job id
	tasks map[string]DurableTask // by folded job id + "/" + folded task id
}

func newMemStore() *memStore {
	return &memStore{jobs: map[string]DurableJob{}, tasks: map[string]DurableTask{}}
}

func taskKey(jobID, taskID string) string { return task.FoldID(jobID) + "/" + task.FoldID(taskID) }

// apply persists a Ready's changes, as engine.runner.persist does.
func (m *memStore) apply(s *Scheduler, rd Ready) {
	if s.Deleted() {
		m.gone = true
		clear(m.jobs)
		clear(m.tasks)
		return
	}
	for _, c := range rd.Changes {
		switch c.Kind {
		case ChangePool:
			m.pool = s.DurablePool()
		case ChangeJob:
			if j, err := s.DurableJob(c.JobID); err == nil {
				m.jobs[task.FoldID(c.JobID)] = j
			}
		case ChangeJobDeleted:
			delete(m.jobs, task.FoldID(c.JobID))
			prefix := task.FoldID(c.JobID) + "/"
			for k := range m.tasks {
				if strings.HasPrefix(k, prefix) {
					delete(m.tasks, k)
				}
			}
		case ChangeTask:
			if t, err := s.DurableTask(c.JobID, c.TaskID); err == nil {
				m.tasks[taskKey(c.JobID, c.TaskID)] = t
			}
		case ChangeTaskDeleted:
			delete(m.tasks, taskKey(c.JobID, c.TaskID))
		}
	}
}

// restoreArgs returns the stored records in map order shuffled by rng:
// Restore must not depend on the order it is given.
func (m *memStore) restoreArgs(rng *rand.Rand) ([]DurableJob, []DurableTask) {
	var jobs []DurableJob
	for _, j := range m.jobs {
		jobs = append(jobs, j)
	}
	var tasks []DurableTask
	for _, t := range m.tasks {
		tasks = append(tasks, t)
	}
	rng.Shuffle(len(jobs), func(i, k int) { jobs[i], jobs[k] = jobs[k], jobs[i] })
	rng.Shuffle(len(tasks), func(i, k int) { tasks[i], tasks[k] = tasks[k], tasks[i] })
	return jobs, tasks
}

// check compares the store with the core's records: every record the core
// has changed since it was stored must have been named by a Change.
func (m *memStore) check(s *Scheduler) error {
	p := s.DurablePool()
	type poolKeep struct {
		Spec      Spec
		Created   time.Time
		State     string
		NodeSeq   int
		ResizeErr []ResizeError
	}
	keep := func(p DurablePool) poolKeep {
		return poolKeep{p.Spec, p.CreationTime, p.State, p.NodeSeq, p.ResizeErrors}
	}
	if d := cmp.Diff(keep(p), keep(m.pool)); d != "" {
		return fmt.Errorf("stored pool differs (-core +store):\n%s", d)
	}
	n := 0
	var bad error
	for _, j := range s.Jobs() {
		dj, _ := s.DurableJob(j.ID)
		if sj := m.jobs[task.FoldID(j.ID)]; !reflect.DeepEqual(dj, sj) {
			return fmt.Errorf("stored job %s differs (-core +store):\n%s", j.ID, cmp.Diff(dj, sj))
		}
		err := s.RangeTasks(j.ID, func(t *task.Task) bool {
			n++
			dt, _ := s.DurableTask(j.ID, t.ID)
			if st := m.tasks[taskKey(j.ID, t.ID)]; !reflect.DeepEqual(dt, st) {
				bad = fmt.Errorf("stored task %s/%s differs (-core +store):\n%s", j.ID, t.ID, cmp.Diff(dt, st))
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		if bad != nil {
			return bad
		}
	}
	if len(s.Jobs()) != len(m.jobs) || n != len(m.tasks) {
		return fmt.Errorf("store has %d jobs and %d tasks, core %d and %d", len(m.jobs), len(m.tasks), len(s.Jobs()), n)
	}
	return nil
}

// TestRestoreRules checks each rule of Restore on a hand-made pool.
func TestRestoreRules(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := NewScheduler(Spec{ID: "p", TargetDedicatedNodes: 1, TaskSlotsPerNode: task.Ptr(4)}, Config{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	m := newMemStore()
	flush := func() Ready {
		rd := s.Ready()
		m.apply(s, rd)
		out := Ready{Changes: slices.Clone(rd.Changes), Actions: slices.Clone(rd.Actions)}
		s.Advance(rd)
		return out
	}
	step := func(ev Event) Ready {
		t.Helper()
		if err := s.Step(t0, ev); err != nil {
			t.Fatal(err)
		}
		return flush()
	}
	step(NodeReady{Node: "tvm-1"})
	step(AddJob{Spec: task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}, UsesTaskDependencies: true, OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob}})
	step(AddJob{Spec: task.JobSpec{ID: "k", PoolInfo: task.PoolInformation{PoolID: "p"}, UsesTaskDependencies: true}})
	step(AddJob{Spec: task.JobSpec{ID: "done", PoolInfo: task.PoolInformation{PoolID: "p"}, OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob}})
	dep := func(ids ...string) *task.TaskDependencies { return &task.TaskDependencies{TaskIDs: ids} }
	rd := step(AddTasks{JobID: "j", Tasks: []task.TaskSpec{
		{ID: "a", CommandLine: "x"}, {ID: "b", CommandLine: "x"},
		{ID: "c", CommandLine: "x", DependsOn: dep("a")}, // a succeeds: c may run
	}})
	started := map[string]uint64{}
	for _, a := range rd.Actions {
		if a.Kind == ActStartAttempt {
			started[a.Attempt.TaskID] = a.Attempt.ID
		}
	}
	step(AttemptExited{ID: started["a"], Outcome: task.OutcomeExited})
	// k: f fails, g depends on f (blocked), h waits in the queue.
	step(AddTasks{JobID: "k", Tasks: []task.TaskSpec{
		{ID: "f", CommandLine: "x"}, {ID: "g", CommandLine: "x", DependsOn: dep("f")}, {ID: "h", CommandLine: "x"},
	}})
	for _, at := range s.attempts.all() {
		if at.a.TaskID == "f" {
			step(AttemptExited{ID: at.a.ID, Outcome: task.OutcomeExited, ExitCode: 2})
			break
		}
	}
	// "done": its only task completes while the account is down... that
	// cannot happen; instead its task was the last one and the job was
	// terminating when the account stopped.
	step(AddTasks{JobID: "done", Tasks: []task.TaskSpec{{ID: "z", CommandLine: "x"}}})

	before := map[string]task.Task{}
	for _, j := range s.Jobs() {
		_ = s.RangeTasks(j.ID, func(tk *task.Task) bool { before[j.ID+"/"+tk.ID] = *tk; return true })
	}
	t1 := t0.Add(time.Hour)
	jobs, tasks := m.restoreArgs(rand.New(rand.NewPCG(1, 2)))
	r, err := Restore(m.pool, jobs, tasks, Config{Now: t1})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, j := range r.Jobs() {
		got[j.ID] = j.State.String()
		_ = r.RangeTasks(j.ID, func(tk *task.Task) bool {
			got[j.ID+"/"+tk.ID] = fmt.Sprintf("%s rq=%d", tk.State, tk.ExecutionInfo.RequeueCount)
			return true
		})
	}
	for id, tk := range before {
		if tk.State == task.TaskRunning || tk.State == task.TaskPreparing {
			if got[id] != "active rq=1" {
				t.Errorf("%s was running; restored %s, want active rq=1", id, got[id])
			}
		} else if want := fmt.Sprintf("%s rq=0", tk.State); got[id] != want {
			t.Errorf("%s restored %s, want %s", id, got[id], want)
		}
	}
	why := func(job, id string) Reason {
		reason, err := r.Why(job, id)
		if err != nil {
			t.Fatal(err)
		}
		return reason
	}
	if w := why("k", "g"); w != ReasonDependencyBlocked {
		t.Errorf("g (depends on failed f): %q, want blocked", w)
	}
	if before["j/c"].State == task.TaskActive && why("j", "c") == ReasonDependencyUnmet {
		t.Errorf("c (depends on succeeded a) still waits for it")
	}
	rd = r.Ready()
	var allocs []string
	for _, a := range rd.Actions {
		if a.Kind == ActAllocateNode {
			allocs = append(allocs, a.Node)
		}
	}
	if !slices.Equal(allocs, []string{"tvm-2"}) {
		t.Errorf("allocations after restore = %v, want [tvm-2]", allocs)
	}
	if before["k/h"].State != task.TaskRunning {
		t.Errorf("h was %s before the restart, want running (test setup)", before["k/h"].State)
	}
	if tc, _ := r.TaskCounts("k"); tc.TaskCounts != (task.TaskCounts{Active: 2, Completed: 1, Failed: 1}) {
		t.Errorf("k counts %+v", tc.TaskCounts)
	}

	// A terminatejob job whose tasks all completed, restored from records
	// that still say active (its completion was not durable), completes.
	dj := m.jobs["done"]
	dt := m.tasks[taskKey("done", "z")]
	dt.State, dt.ExecutionInfo.Result = task.TaskCompleted, task.ResultSuccess
	r2, err := Restore(m.pool, []DurableJob{dj}, []DurableTask{dt}, Config{Now: t1})
	if err != nil {
		t.Fatal(err)
	}
	if j, _ := r2.Job("done"); j.State != task.JobCompleted || j.ExecutionInfo.TerminationReason != task.TerminateReasonAllTasksComplete {
		t.Errorf("done: %s %q, want completed AllTasksComplete", j.State, j.ExecutionInfo.TerminationReason)
	}

	// Inconsistent records are refused.
	orphan := dt
	orphan.JobID = "nope"
	if _, err := Restore(m.pool, nil, []DurableTask{orphan}, Config{Now: t1}); err == nil {
		t.Error("a task of an unknown job was accepted")
	}
	if _, err := Restore(m.pool, []DurableJob{dj, dj}, nil, Config{Now: t1}); err == nil {
		t.Error("a duplicate job was accepted")
	}
}

// TestCompactTasks: completed tasks leave after their retention time,
// except those an incomplete task depends on.
func TestCompactTasks(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := NewScheduler(Spec{ID: "p", TargetDedicatedNodes: 1}, Config{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	m := newMemStore()
	step := func(at time.Time, ev Event) Ready {
		t.Helper()
		if err := s.Step(at, ev); err != nil {
			t.Fatal(err)
		}
		rd := s.Ready()
		m.apply(s, rd)
		out := Ready{Changes: slices.Clone(rd.Changes), Actions: slices.Clone(rd.Actions)}
		s.Advance(rd)
		return out
	}
	step(t0, NodeReady{Node: "tvm-1"})
	step(t0, AddJob{Spec: task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}, UsesTaskDependencies: true}})
	step(t0, AddTasks{JobID: "j", Tasks: []task.TaskSpec{
		{ID: "1", CommandLine: "x"}, {ID: "2", CommandLine: "x"},
		{ID: "3", CommandLine: "x", DependsOn: &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 2, End: 2}}}},
	}})
	// Run 1 and 2 (one slot: one at a time); 2 fails, so 3 is blocked.
	for _, code := range []int{0, 1} {
		for id := range s.attempts.all() {
			step(t0, AttemptExited{ID: id, Outcome: task.OutcomeExited, ExitCode: code})
			break
		}
	}
	rd := step(t0.Add(48*time.Hour), CompactTasks{Default: 24 * time.Hour})
	var deleted []string
	for _, c := range rd.Changes {
		if c.Kind == ChangeTaskDeleted {
			deleted = append(deleted, c.TaskID+"@"+c.NodeID)
		}
	}
	if !slices.Equal(deleted, []string{"1@tvm-1"}) {
		t.Errorf("compacted %v, want [1@tvm-1] (2 blocks 3, which is active)", deleted)
	}
	if _, err := s.Task("j", "1"); err == nil {
		t.Error("task 1 still there")
	}
	if tc, _ := s.TaskCounts("j"); tc.TaskCounts != (task.TaskCounts{Active: 1, Completed: 1, Failed: 1}) {
		t.Errorf("counts %+v", tc.TaskCounts)
	}
	if err := m.check(s); err != nil {
		t.Error(err)
	}
	// Zero default keeps everything.
	step(t0.Add(96*time.Hour), TerminateTask{JobID: "j", TaskID: "3"})
	rd = step(t0.Add(96*time.Hour), CompactTasks{})
	for _, c := range rd.Changes {
		if c.Kind == ChangeTaskDeleted {
			t.Errorf("compacted %s with no default retention", c.TaskID)
		}
	}
}
