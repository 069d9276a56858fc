package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node/inprocess"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
	"github.com/google/go-cmp/cmp"
)

// block waits until its task is cancelled.
func block(ctx context.Context, _ *inprocess.Task) error {
	<-ctx.Done()
	return ctx.Err()
}

func setup(t *testing.T, handlers map[string]inprocess.Handler, spec pool.Spec, job task.JobSpec) (*engine.Account, context.Context) {
	t.Helper()
	ctx := ctxT(t)
	acct := newAccount(t, handlers)
	if err := acct.CreatePool(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := acct.WaitPoolSteady(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	job.PoolInfo = task.PoolInformation{PoolID: spec.ID}
	if err := acct.AddJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	return acct, ctx
}

func waitState(t *testing.T, ctx context.Context, acct *engine.Account, job, id string, want task.TaskState) {
	t.Helper()
	sub := acct.Subscribe(func(e *engine.Event) bool { return e.Kind == engine.EventTaskChanged && e.TaskID == id })
	defer sub.Close()
	if tk, err := acct.GetTask(ctx, job, id); err == nil && tk.State == want {
		return
	}
	for {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s to be %v: %v", id, want, err)
		}
		if e.TaskState == want {
			return
		}
	}
}

func TestTaskWallClockTimeout(t *testing.T) {
	acct, ctx := setup(t, map[string]inprocess.Handler{"block": block},
		pool.Spec{ID: "p", TargetDedicatedNodes: 1}, task.JobSpec{ID: "j", Constraints: &task.JobConstraints{MaxTaskRetryCount: 3}})
	limit := task.Duration(50 * time.Millisecond)
	if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "t", CommandLine: "block", Constraints: &task.TaskConstraints{MaxWallClockTime: &limit}}); err != nil {
		t.Fatal(err)
	}
	tk, err := acct.WaitTask(ctx, "j", "t")
	if err != nil {
		t.Fatal(err)
	}
	fi := tk.ExecutionInfo.FailureInfo
	if tk.ExecutionInfo.Result != task.ResultFailure || fi == nil || fi.Code != task.FailureMaxWallClockTime {
		t.Fatalf("task = %+v, want failure MaxWallClockTimeExpiry", tk.ExecutionInfo)
	}
	if tk.ExecutionInfo.RetryCount != 0 {
		t.Errorf("retryCount = %d; a timed-out task is not retried", tk.ExecutionInfo.RetryCount)
	}
	if d := tk.ExecutionInfo.EndTime.Sub(tk.ExecutionInfo.StartTime); d < limit.D() {
		t.Errorf("ran %v, less than the limit %v", d, limit.D())
	}
}

func TestTerminateRunningTask(t *testing.T) {
	acct, ctx := setup(t, map[string]inprocess.Handler{"block": block},
		pool.Spec{ID: "p", TargetDedicatedNodes: 1}, task.JobSpec{ID: "j"})
	if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "t", CommandLine: "block"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, acct, "j", "t", task.TaskRunning)
	if err := acct.TerminateTask(ctx, "j", "t"); err != nil {
		t.Fatal(err)
	}
	tk, err := acct.WaitTask(ctx, "j", "t")
	if err != nil {
		t.Fatal(err)
	}
	if fi := tk.ExecutionInfo.FailureInfo; fi == nil || fi.Code != task.FailureTaskTerminated {
		t.Fatalf("failureInfo = %+v, want TaskEnded", fi)
	}
}

func TestDisableJobRequeuesAndEnableResumes(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	runs := 0
	acct, ctx := setup(t, map[string]inprocess.Handler{
		"once": func(ctx context.Context, _ *inprocess.Task) error {
			runs++ // one slot: attempts never overlap
			if runs == 1 {
				started <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}
			<-release
			return nil
		},
	}, pool.Spec{ID: "p", TargetDedicatedNodes: 1}, task.JobSpec{ID: "j"})
	if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "t", CommandLine: "once"}); err != nil {
		t.Fatal(err)
	}
	<-started // the handler runs: disabling now interrupts it
	if err := acct.DisableJob(ctx, "j", pool.DisableRequeue); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.WaitJob(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	j, _ := acct.GetJob(ctx, "j")
	tk, _ := acct.GetTask(ctx, "j", "t")
	if j.State != task.JobDisabled || tk.State != task.TaskActive || tk.ExecutionInfo.RequeueCount != 1 || tk.ExecutionInfo.RetryCount != 0 {
		t.Fatalf("after disable: job %v task %v requeue %d retry %d; want disabled, active, 1, 0",
			j.State, tk.State, tk.ExecutionInfo.RequeueCount, tk.ExecutionInfo.RetryCount)
	}
	if why, _ := acct.WhyNotRunning(ctx, "j", "t"); why != pool.ReasonJobDisabled {
		t.Errorf("why = %q", why)
	}
	if err := acct.EnableJob(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	close(release)
	tk, err := acct.WaitTask(ctx, "j", "t")
	if err != nil || tk.ExecutionInfo.Result != task.ResultSuccess {
		t.Fatalf("after enable: %+v, %v", tk.ExecutionInfo, err)
	}
}

func TestSubscriptionSeesTaskLifecycle(t *testing.T) {
	acct, ctx := setup(t, map[string]inprocess.Handler{"ok": func(context.Context, *inprocess.Task) error { return nil }},
		pool.Spec{ID: "p", TargetDedicatedNodes: 1}, task.JobSpec{ID: "j"})
	sub := acct.Subscribe(func(e *engine.Event) bool { return e.Kind == engine.EventTaskChanged })
	defer sub.Close()
	if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "t", CommandLine: "ok"}); err != nil {
		t.Fatal(err)
	}
	var got []task.TaskState
	for len(got) == 0 || got[len(got)-1] != task.TaskCompleted {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.TaskState)
	}
	want := []task.TaskState{task.TaskActive, task.TaskRunning, task.TaskCompleted}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	ctx := ctxT(t)
	acct := newAccount(t, nil)
	cases := []struct {
		name  string
		call  func() error
		field string
		want  error
	}{
		{"bad pool id", func() error { return acct.CreatePool(ctx, pool.Spec{ID: "a b"}) }, "id", engine.ErrInvalidPropertyValue},
		{"negative nodes", func() error { return acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: -1}) }, "targetDedicatedNodes", engine.ErrInvalidPropertyValue},
		{"unknown fill", func() error {
			return acct.CreatePool(ctx, pool.Spec{ID: "p", TaskSchedulingPolicy: &pool.TaskSchedulingPolicy{NodeFillType: "diagonal"}})
		}, "taskSchedulingPolicy.nodeFillType", engine.ErrInvalidPropertyValue},
		{"unknown backend", func() error {
			return acct.CreatePool(ctx, pool.Spec{ID: "p", Backend: &pool.BackendSpec{Type: "cloud"}})
		}, "backend.type", engine.ErrInvalidPropertyValue},
		{"job on missing pool", func() error {
			return acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "none"}})
		}, "poolInfo.poolId", engine.ErrPoolNotFound},
		{"tasks for missing job", func() error { return acct.AddTask(ctx, "none", task.TaskSpec{ID: "t", CommandLine: "x"}) }, "jobId", engine.ErrJobNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var e *engine.Error
			if !errors.As(err, &e) || e.Field != c.field {
				t.Errorf("field = %q, want %q (%v)", e.Field, c.field, err)
			}
		})
	}
	pools, err := acct.ListPools(ctx)
	if err != nil || len(pools) != 0 {
		t.Errorf("pools after rejected calls: %v, %v", pools, err)
	}
}
