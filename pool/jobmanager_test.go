package pool

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/embatch/embatch/task"
)

// TestRestoreJobManager checks that a job manager survives a restart as what
// it was: after Restore it is requeued like any running task, it is again
// scheduled before its job's other tasks, it still takes a whole node
// (runExclusive), and its completion still terminates the job.
func TestRestoreJobManager(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := NewScheduler(Spec{ID: "p", TargetDedicatedNodes: 2, TaskSlotsPerNode: task.Ptr(2)}, Config{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	m := newMemStore()
	step := func(ev Event) []Action {
		t.Helper()
		if err := s.Step(s.Now(), ev); err != nil {
			t.Fatal(err)
		}
		rd := s.Ready()
		m.apply(s, rd)
		acts := slices.Clone(rd.Actions)
		s.Advance(rd)
		return acts
	}
	started := func(acts []Action) map[string]*Attempt {
		out := map[string]*Attempt{}
		for _, a := range acts {
			if a.Kind == ActStartAttempt {
				out[a.Attempt.TaskID] = a.Attempt
			}
		}
		return out
	}
	m.apply(s, s.Ready())
	s.Advance(s.Ready())
	step(NodeReady{Node: "tvm-1"})
	step(NodeReady{Node: "tvm-2"})
	jm := &task.JobManagerTask{ID: "jm", CommandLine: "manage"}
	if got := started(step(AddJob{Spec: task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}, JobManagerTask: jm}})); got["jm"] == nil || got["jm"].Slots != 2 {
		t.Fatalf("job manager not started on a whole node: %v", got)
	}
	step(AddTasks{JobID: "j", Tasks: []task.TaskSpec{{ID: "a", CommandLine: "x"}, {ID: "b", CommandLine: "x"}, {ID: "c", CommandLine: "x"}}})
	if err := m.check(s); err != nil {
		t.Fatal(err)
	}

	jobs, tasks := m.restoreArgs(rand.New(rand.NewPCG(1, 2)))
	s, err = Restore(m.pool, jobs, tasks, Config{Now: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	rd := s.Ready()
	m.apply(s, rd)
	s.Advance(rd)
	for _, id := range []string{"a", "b", "c"} {
		if r, err := s.Why("j", id); err != nil || r != ReasonJobManagerFirst {
			t.Errorf("Why(%s) = %q, %v; want %q", id, r, err, ReasonJobManagerFirst)
		}
	}
	got := started(step(NodeReady{Node: "tvm-3"}))
	if len(got) != 1 || got["jm"] == nil || got["jm"].Slots != 2 {
		t.Fatalf("after restore the first node runs %v; want only the job manager on 2 slots", got)
	}
	if got := started(step(NodeReady{Node: "tvm-4"})); len(got) != 2 || got["a"] == nil || got["b"] == nil {
		t.Fatalf("second node runs %v; want a and b", got)
	}
	acts := step(AttemptExited{ID: got["jm"].ID, Outcome: task.OutcomeExited})
	kills := 0
	for _, a := range acts {
		if a.Kind == ActKillAttempt {
			kills++
		}
	}
	j, err := s.DurableJob("j")
	if err != nil {
		t.Fatal(err)
	}
	if j.State != task.JobTerminating || j.EndReason != task.TerminateReasonJMComplete || kills != 2 {
		t.Fatalf("after the job manager completed: job %s reason %q, %d kills; want terminating, JMComplete, 2", j.State, j.EndReason, kills)
	}
	if err := m.check(s); err != nil {
		t.Fatal(err)
	}
}
