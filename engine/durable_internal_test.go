package engine

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/embatch/embatch/engine/internal/store"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/inprocess"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// TestStoreFailureStopsAccount: when a sync fails, the call waiting for it
// gets an error matching ErrStoreFailed, so do later calls and waiters,
// nothing more runs, and a reopen finds what was durable before.
func TestStoreFailureStopsAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	var failing atomic.Bool
	var ran atomic.Int32
	open := func(opts ...Option) *Account {
		acct, err := New(append([]Option{WithDataDir(dir), WithBackend("inprocess", func(pool.Spec) (node.Backend, error) {
			b := inprocess.New()
			return b, b.Register("ok", func(context.Context, *inprocess.Task) error { ran.Add(1); return nil })
		})}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { acct.Close() })
		return acct
	}
	acct := open(withStoreOptions(store.Options{BeforeSync: func() error {
		if failing.Load() {
			return unix.EIO
		}
		return nil
	}}))
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "first", CommandLine: "ok"}); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.WaitTask(ctx, "j", "first"); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "second", CommandLine: "ok"})
	if !errors.Is(err, ErrStoreFailed) || !errors.Is(err, unix.EIO) {
		t.Fatalf("AddTask with a failing sync: %v, want ErrStoreFailed (EIO)", err)
	}
	t.Log(err)
	if _, err := acct.GetJob(ctx, "j"); !errors.Is(err, ErrStoreFailed) {
		t.Errorf("GetJob after the failure: %v", err)
	}
	if _, err := acct.WaitJob(ctx, "j"); !errors.Is(err, ErrStoreFailed) {
		t.Errorf("WaitJob after the failure: %v", err)
	}
	if err := acct.CreatePool(ctx, pool.Spec{ID: "q"}); !errors.Is(err, ErrStoreFailed) {
		t.Errorf("CreatePool after the failure: %v", err)
	}
	if n := ran.Load(); n != 1 {
		t.Errorf("%d tasks ran, want 1 (the second was never acknowledged)", n)
	}
	acct.Close()

	acct = open()
	tk, err := acct.GetTask(ctx, "j", "first")
	if err != nil || tk.State != task.TaskCompleted {
		t.Fatalf("first task after reopen: %v %v", tk.State, err)
	}
}

// TestReadsWaitForDurability: the owner loop steps its next round while
// the previous one's commit is in flight, so the core may hold changes
// that are not durable yet; a reader must not see them. Here a read of a
// task whose AddTasks is still syncing waits, and when that sync fails it
// gets ErrStoreFailed, never the task that a crash would have lost.
func TestReadsWaitForDurability(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var armed atomic.Bool
	syncing := make(chan struct{})
	release := make(chan error)
	waiting := make(chan struct{}, 16)
	acct, err := New(WithDataDir(t.TempDir()),
		WithBackend("inprocess", func(pool.Spec) (node.Backend, error) {
			b := inprocess.New()
			return b, b.Register("ok", func(context.Context, *inprocess.Task) error { return nil })
		}),
		withStoreOptions(store.Options{BeforeSync: func() error {
			if !armed.Load() {
				return nil
			}
			syncing <- struct{}{}
			return <-release
		}}),
		withDurableWaitHook(func() { waiting <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1}); err != nil {
		t.Fatal(err)
	}
	if err := acct.WaitPoolSteady(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}}); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	added := make(chan error, 1)
	go func() { added <- acct.AddTask(ctx, "j", task.TaskSpec{ID: "t", CommandLine: "ok"}) }()
	<-syncing // the round holding the new task is being synced
	type result struct {
		tk  task.Task
		err error
	}
	read := make(chan result, 1)
	go func() {
		tk, err := acct.GetTask(ctx, "j", "t")
		read <- result{tk, err}
	}()
	select {
	case <-waiting:
	case res := <-read:
		t.Fatalf("GetTask returned %+v, %v while the task's round was not durable", res.tk.State, res.err)
	}
	release <- unix.EIO
	if res := <-read; !errors.Is(res.err, ErrStoreFailed) {
		t.Errorf("GetTask after the failed sync: %v, %v; want ErrStoreFailed", res.tk.State, res.err)
	}
	if err := <-added; !errors.Is(err, ErrStoreFailed) {
		t.Errorf("AddTask with the failed sync: %v, want ErrStoreFailed", err)
	}
}

// TestSubscriptionFilterMayReadTheAccount: a filter that reads the account
// (here GetJob) must not stall a durable pool, whose reads wait for the
// round being published; the filter runs on the subscriber's goroutine.
func TestSubscriptionFilterMayReadTheAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var acct *Account
	acct, err := New(WithDataDir(t.TempDir()),
		WithBackend("inprocess", func(pool.Spec) (node.Backend, error) {
			b := inprocess.New()
			return b, b.Register("ok", func(context.Context, *inprocess.Task) error { return nil })
		}),
		// Slow syncs keep several rounds in flight.
		withStoreOptions(store.Options{BeforeSync: func() error { time.Sleep(2 * time.Millisecond); return nil }}))
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1, TaskSlotsPerNode: task.Ptr(4)}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}}); err != nil {
		t.Fatal(err)
	}
	sub := acct.Subscribe(func(e *Event) bool {
		if e.Kind != EventTaskChanged {
			return false
		}
		_, err := acct.GetJob(ctx, "j")
		return err == nil && e.TaskState == task.TaskCompleted
	})
	defer sub.Close()
	const n = 50
	for i := range n {
		if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: strconv.Itoa(i), CommandLine: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if _, err := sub.Next(ctx); err != nil {
			t.Fatalf("Next: %v (did the pool stall?)", err)
		}
	}
}
