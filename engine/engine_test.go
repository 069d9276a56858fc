package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/inprocess"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
	"github.com/google/go-cmp/cmp"
)

// newAccount returns an account whose pools run in-process handlers.
func newAccount(t *testing.T, handlers map[string]inprocess.Handler) *engine.Account {
	t.Helper()
	acct, err := engine.New(engine.WithBackend("inprocess", func(pool.Spec) (node.Backend, error) {
		b := inprocess.New()
		for name, h := range handlers {
			if err := b.Register(name, h); err != nil {
				return nil, err
			}
		}
		return b, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acct.Close() })
	return acct
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRunJobToCompletion(t *testing.T) {
	ctx := ctxT(t)
	acct := newAccount(t, map[string]inprocess.Handler{
		"ok": func(ctx context.Context, tk *inprocess.Task) error {
			fmt.Fprintln(tk.Stdout, "hello", tk.Args)
			return nil
		},
		"fail": func(ctx context.Context, tk *inprocess.Task) error { return inprocess.Exit(3) },
	})
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 2, TaskSlotsPerNode: task.Ptr(2)}); err != nil {
		t.Fatal(err)
	}
	job := task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}, UsesTaskDependencies: true,
		OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob}
	if err := acct.AddJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	var tasks []task.TaskSpec
	for i := range 20 {
		tasks = append(tasks, task.TaskSpec{ID: fmt.Sprint(i), CommandLine: fmt.Sprintf("ok %d", i)})
	}
	tasks = append(tasks,
		task.TaskSpec{ID: "bad", CommandLine: "fail", Constraints: &task.TaskConstraints{MaxTaskRetryCount: task.Ptr(2)}},
		task.TaskSpec{ID: "merge", CommandLine: "ok merge", DependsOn: &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 0, End: 19}}}},
	)
	if err := acct.AddTasks(ctx, "j", tasks); err != nil {
		t.Fatal(err)
	}
	j, err := acct.WaitJob(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if j.State != task.JobCompleted || j.ExecutionInfo.TerminationReason != task.TerminateReasonAllTasksComplete {
		t.Fatalf("job = %v %q, want completed AllTasksComplete", j.State, j.ExecutionInfo.TerminationReason)
	}
	counts, err := acct.TaskCounts(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	want := task.TaskCounts{Completed: 22, Succeeded: 21, Failed: 1}
	if diff := cmp.Diff(want, counts.TaskCounts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	bad, err := acct.GetTask(ctx, "j", "BAD")
	if err != nil {
		t.Fatal(err)
	}
	if bad.ExecutionInfo.RetryCount != 2 || *bad.ExecutionInfo.ExitCode != 3 || bad.ExecutionInfo.Result != task.ResultFailure {
		t.Errorf("bad task = %+v", bad.ExecutionInfo)
	}
	out, err := acct.ReadTaskFile(ctx, "j", "merge", "stdout.txt")
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "hello [merge]\n" {
		t.Errorf("stdout = %q", out)
	}
}

func TestAddTasksAllOrNothing(t *testing.T) {
	ctx := ctxT(t)
	acct := newAccount(t, nil)
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 0}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}}); err != nil {
		t.Fatal(err)
	}
	err := acct.AddTasks(ctx, "j", []task.TaskSpec{{ID: "a", CommandLine: "x"}, {ID: "A", CommandLine: "x"}})
	if !errors.Is(err, engine.ErrTaskExists) {
		t.Fatalf("err = %v, want TaskExists", err)
	}
	var te *engine.Error
	if !errors.As(err, &te) || te.Field != "tasks[1].id" || te.Value != "A" {
		t.Errorf("error = %#v, want field tasks[1].id value A", te)
	}
	ts, err := acct.ListTasks(ctx, "j", engine.TaskFilter{})
	if err != nil || len(ts) != 0 {
		t.Fatalf("tasks after rejected add = %d, %v; want none", len(ts), err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "k", PoolInfo: task.PoolInformation{PoolID: "nope"}}); !errors.Is(err, engine.ErrPoolNotFound) {
		t.Errorf("AddJob to missing pool: %v", err)
	}
}
