package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/inprocess"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// sleepAccount returns an account (closed at the end of the bubble) whose
// pools each get their own inprocess backend, with a "sleep D" handler
// that runs for D of the bubble's virtual time. Call it inside the bubble.
func sleepAccount(t *testing.T) *engine.Account {
	t.Helper()
	acct, err := engine.New(engine.WithBackend("test", func(pool.Spec) (node.Backend, error) {
		b := inprocess.New()
		return b, b.Register("sleep", sleeper)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acct.Close() })
	return acct
}

// TestJobManagerTask: the job manager runs first, alone on its node
// (runExclusive), and when it completes the job is terminated with reason
// JMComplete, killing the tasks still running.
func TestJobManagerTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := bubbleCtx(t)
		acct := sleepAccount(t)
		if err := acct.CreatePool(ctx, pool.Spec{ID: "two", TargetDedicatedNodes: 2, TaskSlotsPerNode: task.Ptr(2)}); err != nil {
			t.Fatal(err)
		}
		if err := acct.WaitPoolSteady(ctx, "two"); err != nil {
			t.Fatal(err)
		}
		spec := task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "two"},
			JobManagerTask: &task.JobManagerTask{ID: "jm", CommandLine: "sleep 1m"}}
		if err := acct.AddJob(ctx, spec); err != nil {
			t.Fatal(err)
		}
		err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "JM", CommandLine: "sleep 1s"})
		if !errors.Is(err, engine.ErrTaskExists) {
			t.Fatalf("adding a task with the job manager's id: %v; want TaskExists", err)
		}
		for _, id := range []string{"a", "b", "c"} {
			if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: id, CommandLine: "sleep 1h"}); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		jm, err := acct.GetTask(ctx, "j", "jm")
		if err != nil {
			t.Fatal(err)
		}
		if jm.State != task.TaskRunning {
			t.Fatalf("job manager is %s; want running", jm.State)
		}
		for _, n := range must(acct.ListNodes(ctx, "two")) {
			if n.ID == jm.NodeInfo.NodeID && n.RunningTasksCount != 1 {
				t.Errorf("job manager's node runs %d tasks; want it alone", n.RunningTasksCount)
			}
		}
		j, err := acct.WaitJob(ctx, "j")
		if err != nil {
			t.Fatal(err)
		}
		if j.State != task.JobCompleted || j.ExecutionInfo.TerminationReason != task.TerminateReasonJMComplete {
			t.Fatalf("job %s reason %q; want completed, JMComplete", j.State, j.ExecutionInfo.TerminationReason)
		}
		for _, id := range []string{"a", "b"} {
			tk := must(acct.GetTask(ctx, "j", id))
			if tk.State != task.TaskCompleted || tk.ExecutionInfo.FailureInfo == nil {
				t.Errorf("task %s: %s %+v; want completed with failureInfo (killed)", id, tk.State, tk.ExecutionInfo)
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// autoPoolInfo is a poolInfo asking for an auto pool of one node.
func autoPoolInfo(lifetime string, keepAlive bool) task.PoolInformation {
	return task.PoolInformation{AutoPoolSpecification: &task.AutoPoolSpecification{
		AutoPoolIDPrefix: "auto", PoolLifetimeOption: lifetime, KeepAlive: keepAlive,
		Pool: json.RawMessage(`{"targetDedicatedNodes":1,"taskSlotsPerNode":2}`),
	}}
}

// poolNodes is the pool's target and current dedicated nodes, or -1s when
// the pool is gone.
func poolNodes(t *testing.T, acct *engine.Account, id string) [2]int {
	t.Helper()
	p, err := acct.GetPool(bubbleCtx(t), id)
	if errors.Is(err, engine.ErrPoolNotFound) {
		return [2]int{-1, -1}
	}
	if err != nil {
		t.Fatal(err)
	}
	return [2]int{p.Spec.TargetDedicatedNodes, p.CurrentDedicatedNodes}
}

// TestAutoPoolJobLifetime: a job's auto pool is created with the job; when
// the job completes its nodes go (unless keepAlive) and when the job is
// deleted the pool goes too.
func TestAutoPoolJobLifetime(t *testing.T) {
	for _, keep := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			ctx := bubbleCtx(t)
			acct := sleepAccount(t)
			spec := task.JobSpec{ID: "j", PoolInfo: autoPoolInfo("job", keep), OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob,
				JobManagerTask: &task.JobManagerTask{ID: "jm", CommandLine: "sleep 1m"}}
			if err := acct.AddJob(ctx, spec); err != nil {
				t.Fatal(err)
			}
			j := must(acct.GetJob(ctx, "j"))
			if j.ExecutionInfo.PoolID != "auto_j" || j.PoolInfo.AutoPoolSpecification == nil {
				t.Fatalf("job poolInfo %+v executionInfo.poolId %q; want the auto pool spec and auto_j", j.PoolInfo, j.ExecutionInfo.PoolID)
			}
			if _, err := acct.WaitJob(ctx, "j"); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			want := [2]int{0, 0}
			if keep {
				want = [2]int{1, 1}
			}
			if got := poolNodes(t, acct, "auto_j"); got != want {
				t.Errorf("keepAlive=%v: after the job completed pool target/current = %v; want %v", keep, got, want)
			}
			if err := acct.DeleteJob(ctx, "j"); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if keep {
				want = [2]int{1, 1}
			} else {
				want = [2]int{-1, -1}
			}
			if got := poolNodes(t, acct, "auto_j"); got != want {
				t.Errorf("keepAlive=%v: after the job was deleted pool = %v; want %v", keep, got, want)
			}
		})
	}
}

// TestAutoPoolBadInput: bad auto pool specs are rejected naming the field,
// and leave no pool behind.
func TestAutoPoolBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := bubbleCtx(t)
		acct := sleepAccount(t)
		bad := autoPoolInfo("jobschedule", false)
		err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: bad})
		var te *task.Error
		if !errors.As(err, &te) || te.Field != "poolInfo.autoPoolSpecification.poolLifetimeOption" {
			t.Errorf("jobschedule lifetime on a job: %v; want an error naming poolLifetimeOption", err)
		}
		bad = autoPoolInfo("job", false)
		bad.AutoPoolSpecification.Pool = json.RawMessage(`{"targetDedicatedNodes":-1}`)
		if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: bad}); !errors.As(err, &te) || te.Field != "poolInfo.autoPoolSpecification.pool.targetDedicatedNodes" {
			t.Errorf("bad pool: %v; want an error naming the pool's field", err)
		}
		// The job manager does not fit the auto pool's nodes: no job, no pool.
		bad = autoPoolInfo("job", false)
		err = acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: bad, JobManagerTask: &task.JobManagerTask{ID: "jm", CommandLine: "x", RequiredSlots: task.Ptr(3)}})
		if !errors.As(err, &te) || te.Field != "jobManagerTask.requiredSlots" {
			t.Errorf("job manager too big: %v; want an error naming jobManagerTask.requiredSlots", err)
		}
		synctest.Wait()
		if got := poolNodes(t, acct, "auto_j"); got != [2]int{-1, -1} {
			t.Errorf("a rejected job left its auto pool: %v", got)
		}
		s := every("s", time.Minute)
		s.JobSpecification.PoolInfo = autoPoolInfo("jobschedule", false)
		s.JobSpecification.PoolInfo.AutoPoolSpecification.Pool = json.RawMessage(`{"nodes":1}`)
		if err := acct.AddJobSchedule(ctx, s); !errors.As(err, &te) || te.Field != "jobSpecification.poolInfo.autoPoolSpecification.pool" {
			t.Errorf("schedule with a bad pool: %v; want an error naming the pool", err)
		}
	})
}

// TestAutoPoolJobScheduleLifetime: with poolLifetimeOption jobschedule the
// schedule's jobs share one auto pool, which loses its nodes when the
// schedule completes and goes when the schedule is deleted; with job each
// job gets its own. The jobs' tasks come from their job manager.
func TestAutoPoolJobScheduleLifetime(t *testing.T) {
	for _, lifetime := range []string{"jobschedule", "job"} {
		synctest.Test(t, func(t *testing.T) {
			ctx := bubbleCtx(t)
			acct := sleepAccount(t)
			s := every("s", time.Minute)
			s.JobSpecification.PoolInfo = autoPoolInfo(lifetime, false)
			s.JobSpecification.JobManagerTask = &task.JobManagerTask{ID: "jm", CommandLine: "sleep 10s"}
			if err := acct.AddJobSchedule(ctx, s); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2*time.Minute + 30*time.Second)
			synctest.Wait()
			var pools []string
			for _, j := range must(acct.ListJobs(ctx)) {
				if j.State != task.JobCompleted || j.ExecutionInfo.TerminationReason != task.TerminateReasonJMComplete {
					t.Errorf("job %s: %s %q; want completed by its job manager", j.ID, j.State, j.ExecutionInfo.TerminationReason)
				}
				pools = append(pools, j.ExecutionInfo.PoolID)
			}
			slices.Sort(pools)
			want := []string{"auto_s", "auto_s", "auto_s"}
			if lifetime == "job" {
				want = []string{"auto_s-job-1", "auto_s-job-2", "auto_s-job-3"}
			}
			if !slices.Equal(pools, want) {
				t.Fatalf("%s: jobs ran on %v; want %v", lifetime, pools, want)
			}
			if err := acct.TerminateJobSchedule(ctx, "s"); err != nil {
				t.Fatal(err)
			}
			if _, err := acct.WaitJobSchedule(ctx, "s"); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			for _, id := range want {
				if got := poolNodes(t, acct, id); got != [2]int{0, 0} {
					t.Errorf("%s: after the schedule completed pool %s = %v; want no nodes", lifetime, id, got)
				}
			}
			if err := acct.DeleteJobSchedule(ctx, "s"); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			for _, id := range want {
				if got := poolNodes(t, acct, id); got != [2]int{-1, -1} {
					t.Errorf("%s: after the schedule was deleted pool %s = %v; want gone", lifetime, id, got)
				}
			}
		})
	}
}

// TestDurableJobManagerAutoPool: a job manager and an auto pool survive a
// restart. The job manager, still running when the account closed, is
// requeued and again runs alone on its node before the job's task; its
// completion still ends the job (JMComplete), and the reopened account
// still ends the auto pool's lifetime with the job.
func TestDurableJobManagerAutoPool(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	block := func(ctx context.Context, _ *inprocess.Task) error { <-ctx.Done(); return ctx.Err() }
	acct := openDurable(t, dir, map[string]inprocess.Handler{"manage": block, "ok": okHandler})
	spec := task.JobSpec{ID: "j", PoolInfo: autoPoolInfo("job", false),
		JobManagerTask: &task.JobManagerTask{ID: "jm", CommandLine: "manage"}}
	if err := acct.AddJob(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "t", CommandLine: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := acct.Close(); err != nil {
		t.Fatal(err)
	}

	acct = openDurable(t, dir, map[string]inprocess.Handler{"manage": okHandler, "ok": okHandler})
	sub := acct.Subscribe(func(e *engine.Event) bool { return e.PoolID == "auto_j" })
	defer sub.Close()
	j, err := acct.WaitJob(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if j.ExecutionInfo.TerminationReason != task.TerminateReasonJMComplete || j.JobManagerTask == nil || !j.JobManagerTask.KillsJob() {
		t.Fatalf("job after reopen: %s %q manager %+v; want completed by its job manager", j.State, j.ExecutionInfo.TerminationReason, j.JobManagerTask)
	}
	// The exclusive job manager held the pool's only node until it ended
	// the job, so t never ran.
	if tk := must(acct.GetTask(ctx, "j", "t")); tk.State != task.TaskActive {
		t.Errorf("task t is %s; want active (never run)", tk.State)
	}
	for {
		p, err := acct.GetPool(ctx, "auto_j")
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.TargetDedicatedNodes == 0 && p.CurrentDedicatedNodes == 0 {
			break
		}
		if _, err := sub.Next(ctx); err != nil {
			t.Fatalf("waiting for the auto pool to shrink: %v (pool %+v)", err, p)
		}
	}
}
