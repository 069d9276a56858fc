package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/engine/jobschedule"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/inprocess"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// openDurable opens a durable account in dir whose pools run handlers.
func openDurable(t *testing.T, dir string, handlers map[string]inprocess.Handler, opts ...engine.Option) *engine.Account {
	t.Helper()
	acct, err := engine.New(append([]engine.Option{
		engine.WithDataDir(dir),
		engine.WithBackend("inprocess", func(pool.Spec) (node.Backend, error) {
			b := inprocess.New()
			for name, h := range handlers {
				if err := b.Register(name, h); err != nil {
					return nil, err
				}
			}
			return b, nil
		}),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acct.Close() })
	return acct
}

func okHandler(context.Context, *inprocess.Task) error { return nil }

// TestDurableReopen: a finished job, its tasks and their results are all
// there after a reopen, and nothing runs again.
func TestDurableReopen(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	var mu sync.Mutex
	runs := map[string]int{}
	count := func(_ context.Context, tk *inprocess.Task) error {
		mu.Lock()
		runs[tk.Attempt.TaskID]++
		mu.Unlock()
		if tk.Args[0] == "3" {
			return inprocess.Exit(3)
		}
		return nil
	}
	handlers := map[string]inprocess.Handler{"count": count}
	acct := openDurable(t, dir, handlers)
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 2, TaskSlotsPerNode: task.Ptr(2)}); err != nil {
		t.Fatal(err)
	}
	job := task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}, UsesTaskDependencies: true,
		OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob}
	if err := acct.AddJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	var tasks []task.TaskSpec
	for i := range 10 {
		tasks = append(tasks, task.TaskSpec{ID: fmt.Sprint(i), CommandLine: fmt.Sprintf("count %d", i)})
	}
	tasks = append(tasks, task.TaskSpec{ID: "last", CommandLine: "count last",
		DependsOn: &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 0, End: 2}}}})
	if err := acct.AddTasks(ctx, "j", tasks); err != nil {
		t.Fatal(err)
	}
	before, err := acct.WaitJob(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	beforeTasks, err := acct.ListTasks(ctx, "j", engine.TaskFilter{})
	if err != nil {
		t.Fatal(err)
	}
	beforeCounts, _ := acct.TaskCounts(ctx, "j")
	if err := acct.Close(); err != nil {
		t.Fatal(err)
	}

	acct = openDurable(t, dir, handlers)
	after, err := acct.GetJob(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("job after reopen (-before +after):\n%s", diff)
	}
	afterTasks, err := acct.ListTasks(ctx, "j", engine.TaskFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(beforeTasks, afterTasks); diff != "" {
		t.Errorf("tasks after reopen (-before +after):\n%s", diff)
	}
	afterCounts, _ := acct.TaskCounts(ctx, "j")
	if diff := cmp.Diff(beforeCounts, afterCounts); diff != "" {
		t.Errorf("counts after reopen (-before +after):\n%s", diff)
	}
	if err := acct.WaitPoolSteady(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	nodes, err := acct.ListNodes(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].ID != "tvm-3" || nodes[1].ID != "tvm-4" {
		t.Errorf("nodes after reopen = %v; want new nodes tvm-3, tvm-4", nodes)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range runs {
		if n != 1 {
			t.Errorf("task %s ran %d times", id, n)
		}
	}
	if len(runs) != 11 {
		t.Errorf("%d tasks ran, want 11", len(runs))
	}
}

// TestDurableRequeueOnReopen: tasks running when the account went away are
// active again after a reopen, with requeueCount 1, and then complete.
func TestDurableRequeueOnReopen(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	started := make(chan struct{}, 4)
	acct := openDurable(t, dir, map[string]inprocess.Handler{"work": func(ctx context.Context, _ *inprocess.Task) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}})
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1, TaskSlotsPerNode: task.Ptr(2)}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}, OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddTasks(ctx, "j", []task.TaskSpec{{ID: "a", CommandLine: "work"}, {ID: "b", CommandLine: "work"}, {ID: "c", CommandLine: "work"}}); err != nil {
		t.Fatal(err)
	}
	<-started
	<-started
	// Close kills the running attempts; their exits are never recorded,
	// as after a crash.
	acct.Close()

	acct = openDurable(t, dir, map[string]inprocess.Handler{"work": okHandler})
	j, err := acct.WaitJob(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if j.State != task.JobCompleted {
		t.Fatalf("job state %v, want completed", j.State)
	}
	requeued := 0
	for _, id := range []string{"a", "b", "c"} {
		tk, err := acct.GetTask(ctx, "j", id)
		if err != nil {
			t.Fatal(err)
		}
		if tk.ExecutionInfo.Result != task.ResultSuccess || tk.ExecutionInfo.RetryCount != 0 {
			t.Errorf("task %s: %+v", id, tk.ExecutionInfo)
		}
		requeued += tk.ExecutionInfo.RequeueCount
	}
	if requeued != 2 {
		t.Errorf("requeueCount sum = %d, want 2 (the two tasks that were running)", requeued)
	}
}

// TestDurableInUse: a second account on the same directory is refused with
// a clear error.
func TestDurableInUse(t *testing.T) {
	dir := t.TempDir()
	openDurable(t, dir, nil)
	_, err := engine.New(engine.WithDataDir(dir))
	if !errors.Is(err, engine.ErrDataDirInUse) {
		t.Fatalf("second open: %v, want ErrDataDirInUse", err)
	}
	t.Log(err)
}

// TestDurableRetention: completed tasks are compacted after their
// retention time (injected clock), from the account and from the store;
// a task with its own retentionTime keeps it.
func TestDurableRetention(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	opts := []engine.Option{engine.WithClock(clock), engine.WithTaskRetention(24 * time.Hour)}
	acct := openDurable(t, dir, map[string]inprocess.Handler{"ok": okHandler}, opts...)
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}}); err != nil {
		t.Fatal(err)
	}
	week := task.Duration(7 * 24 * time.Hour)
	if err := acct.AddTasks(ctx, "j", []task.TaskSpec{
		{ID: "a", CommandLine: "ok"}, {ID: "b", CommandLine: "ok"},
		{ID: "keep", CommandLine: "ok", Constraints: &task.TaskConstraints{RetentionTime: &week}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.WaitJob(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	advance(23 * time.Hour)
	if err := acct.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if n := taskIDs(t, acct, "j"); len(n) != 3 {
		t.Fatalf("after 23h: tasks %v, want all 3", n)
	}
	advance(2 * time.Hour)
	if err := acct.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := taskIDs(t, acct, "j"); !cmp.Equal(got, []string{"keep"}) {
		t.Fatalf("after 25h: tasks %v, want [keep]", got)
	}
	if _, err := acct.GetTask(ctx, "j", "a"); !errors.Is(err, engine.ErrTaskNotFound) {
		t.Errorf("GetTask of a compacted task: %v, want TaskNotFound", err)
	}
	tc, _ := acct.TaskCounts(ctx, "j")
	if tc.TaskCounts != (task.TaskCounts{Completed: 1, Succeeded: 1}) {
		t.Errorf("counts after compaction: %+v", tc.TaskCounts)
	}
	acct.Close()

	acct = openDurable(t, dir, map[string]inprocess.Handler{"ok": okHandler}, opts...)
	if got := taskIDs(t, acct, "j"); !cmp.Equal(got, []string{"keep"}) {
		t.Fatalf("after reopen: tasks %v, want [keep]", got)
	}
	advance(7 * 24 * time.Hour)
	if err := acct.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := taskIDs(t, acct, "j"); len(got) != 0 {
		t.Fatalf("after 8 days: tasks %v, want none", got)
	}
}

func taskIDs(t *testing.T, acct *engine.Account, job string) []string {
	t.Helper()
	ts, err := acct.ListTasks(context.Background(), job, engine.TaskFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tk := range ts {
		ids = append(ids, tk.ID)
	}
	return ids
}

// TestJobSchedulesSurviveRestart: a durable account keeps its job
// schedules (DESIGN §4: all account state is in the store). After a
// reopen the schedule is there unchanged, its active job is still watched
// (terminating the schedule completes it once that job ends), its state
// changes are durable, and a deleted schedule stays deleted.
func TestJobSchedulesSurviveRestart(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	acct := openDurable(t, dir, nil)
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1}); err != nil {
		t.Fatal(err)
	}
	sub := acct.Subscribe(func(e *engine.Event) bool { return e.Kind == engine.EventJobScheduleChanged })
	spec := engine.JobScheduleSpec{ID: "nightly", JobSpecification: jobschedule.JobSpecification{PoolInfo: task.PoolInformation{PoolID: "p"}}}
	spec.Schedule.RecurrenceInterval = task.Ptr(task.Duration(24 * time.Hour))
	if err := acct.AddJobSchedule(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var before engine.JobSchedule
	for before.ExecutionInfo.RecentJob == nil {
		if _, err := sub.Next(ctx); err != nil {
			t.Fatal(err)
		}
		var err error
		if before, err = acct.GetJobSchedule(ctx, "nightly"); err != nil {
			t.Fatal(err)
		}
	}
	sub.Close()
	acct.Close()

	acct = openDurable(t, dir, nil)
	after, err := acct.GetJobSchedule(ctx, "nightly")
	if err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("job schedule after reopen (-before +after):\n%s", diff)
	}
	if err := acct.TerminateJobSchedule(ctx, "nightly"); err != nil {
		t.Fatal(err)
	}
	done, err := acct.WaitJobSchedule(ctx, "nightly")
	if err != nil || done.State != jobschedule.StateCompleted {
		t.Fatalf("WaitJobSchedule after reopen: %v, %v", done.State, err)
	}
	job, err := acct.GetJob(ctx, "nightly-job-1")
	if err != nil || job.State != task.JobCompleted || job.ExecutionInfo.TerminationReason != jobschedule.TerminateReason {
		t.Errorf("the schedule's job: %v %q %v; want completed by %s", job.State, job.ExecutionInfo.TerminationReason, err, jobschedule.TerminateReason)
	}
	acct.Close()

	acct = openDurable(t, dir, nil)
	if js, err := acct.GetJobSchedule(ctx, "nightly"); err != nil || js.State != jobschedule.StateCompleted {
		t.Errorf("after a second reopen: %v, %v; want completed", js.State, err)
	}
	if err := acct.DeleteJobSchedule(ctx, "nightly"); err != nil {
		t.Fatal(err)
	}
	acct.Close()

	acct = openDurable(t, dir, nil)
	if _, err := acct.GetJobSchedule(ctx, "nightly"); !errors.Is(err, engine.ErrJobScheduleNotFound) {
		t.Errorf("deleted schedule after reopen: %v, want ErrJobScheduleNotFound", err)
	}
	if _, err := acct.GetJob(ctx, "nightly-job-1"); !errors.Is(err, engine.ErrJobNotFound) {
		t.Errorf("the deleted schedule's job after reopen: %v, want ErrJobNotFound", err)
	}
}

// TestSchedulesDueAtReopen: schedules whose first occurrence fell due
// while the account was closed add their jobs as soon as it reopens, while
// the rest are still being restored (run under -race: the restore and the
// schedules' loops share the account's maps).
func TestSchedulesDueAtReopen(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	var later atomic.Bool
	base := time.Now()
	clock := func() time.Time {
		if later.Load() {
			return time.Now().Add(2 * time.Hour)
		}
		return time.Now()
	}
	acct := openDurable(t, dir, nil, engine.WithClock(clock))
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1}); err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		spec := engine.JobScheduleSpec{ID: fmt.Sprintf("s%03d", i), JobSpecification: jobschedule.JobSpecification{PoolInfo: task.PoolInformation{PoolID: "p"}}}
		spec.Schedule.DoNotRunUntil = base.Add(time.Hour)
		if err := acct.AddJobSchedule(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	acct.Close()
	later.Store(true)
	acct = openDurable(t, dir, nil, engine.WithClock(clock))
	// Each schedule adds its job from its own loop; wait (bounded) until
	// all have.
	for i := range n {
		id := fmt.Sprintf("s%03d", i)
		for try := 0; ; try++ {
			js, err := acct.GetJobSchedule(ctx, id)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			if rj := js.ExecutionInfo.RecentJob; rj != nil {
				if _, err := acct.GetJob(ctx, rj.ID); err != nil {
					t.Errorf("%s's job %s: %v", id, rj.ID, err)
				}
				break
			}
			if try == 3000 {
				t.Fatalf("%s: no job 30 s after reopen", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
