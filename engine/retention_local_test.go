package engine_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/local"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// TestRetentionRemovesLocalTaskDirectory: once a completed task's
// retentionTime has passed, compaction removes its directory on the local
// node (Azure deletes the task directory; embatch also forgets the record).
func TestRetentionRemovesLocalTaskDirectory(t *testing.T) {
	ctx := ctxT(t)
	root := t.TempDir()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	acct, err := engine.New(engine.WithClock(clock), engine.WithTaskRetention(7*24*time.Hour),
		engine.WithBackend("local", func(pool.Spec) (node.Backend, error) { return local.New(root) }))
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}}); err != nil {
		t.Fatal(err)
	}
	hour := task.Duration(time.Hour)
	if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "t", CommandLine: "/bin/sh -c 'echo kept > out.txt'",
		Constraints: &task.TaskConstraints{RetentionTime: &hour}}); err != nil {
		t.Fatal(err)
	}
	tk, err := acct.WaitTask(ctx, "j", "t")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "nodes", tk.NodeInfo.NodeID, "workitems", "j", "job-1", "t")
	if _, err := os.Stat(filepath.Join(dir, "wd", "out.txt")); err != nil {
		t.Fatalf("task output before retention: %v", err)
	}
	mu.Lock()
	now = now.Add(59 * time.Minute)
	mu.Unlock()
	if err := acct.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.GetTask(ctx, "j", "t"); err != nil {
		t.Fatalf("task gone before its retention time: %v", err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if err := acct.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.GetTask(ctx, "j", "t"); !errors.Is(err, engine.ErrTaskNotFound) {
		t.Fatalf("GetTask after retention: %v, want TaskNotFound", err)
	}
	// The directory is removed off the pool's loop, with no event to wait
	// on; poll for it with a bounded deadline.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task directory %s still there 10 s after retention", dir)
		}
		<-tick.C
	}
}
