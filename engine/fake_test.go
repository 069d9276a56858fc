package engine_test

import (
	"testing"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/fake"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// TestNodeLostRequeuesOnAnotherNode: a task whose node is lost is requeued
// (requeueCount+1, not a retry) and finishes on a healthy node.
func TestNodeLostRequeuesOnAnotherNode(t *testing.T) {
	ctx := ctxT(t)
	fb := fake.New()
	acct, err := engine.New(engine.WithBackend("fake", func(pool.Spec) (node.Backend, error) { return fb, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 2}); err != nil {
		t.Fatal(err)
	}
	if err := acct.WaitPoolSteady(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "t", CommandLine: "work"}); err != nil {
		t.Fatal(err)
	}
	started, err := fb.WaitStarted(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	first := started[0]
	if err := fb.LoseNode(first.NodeID); err != nil {
		t.Fatal(err)
	}
	started, err = fb.WaitStarted(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	second := started[1]
	if second.NodeID == first.NodeID {
		t.Fatalf("requeued onto the lost node %s", first.NodeID)
	}
	if err := fb.Exit(second.ID, 0); err != nil {
		t.Fatal(err)
	}
	tk, err := acct.WaitTask(ctx, "j", "t")
	if err != nil {
		t.Fatal(err)
	}
	if tk.ExecutionInfo.Result != task.ResultSuccess || tk.ExecutionInfo.RequeueCount != 1 || tk.ExecutionInfo.RetryCount != 0 {
		t.Errorf("task = %+v; want success, requeueCount 1, retryCount 0", tk.ExecutionInfo)
	}
	n, err := acct.GetNode(ctx, "p", first.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	if n.State != pool.NodeUnusable {
		t.Errorf("lost node state = %v, want unusable", n.State)
	}
}
