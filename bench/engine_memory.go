package bench

import (
	"context"
	"runtime"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// settledLiveHeap returns liveHeap once the account's loop is done with
// what it was given: AddTasks returns once the core has the tasks, and the
// loop's round that publishes them runs after. It measures every 100 ms
// until two measurements agree within 0.1% (or 10 s have passed).
func settledLiveHeap() uint64 {
	last := liveHeap()
	for range 100 {
		time.Sleep(100 * time.Millisecond)
		h := liveHeap()
		if max(h, last)-min(h, last) <= last/1000 {
			return h
		}
		last = h
	}
	return last
}

// QueuedBytesPerTask adds n no-op tasks, as one collection, to an
// in-memory account whose only pool has no nodes, so that every task stays
// queued, and returns the live heap the account holds per queued task:
// the growth of the live heap from before the specs were built to after
// they were added and the caller's copy dropped. The engine keeps each
// spec, so its strings count too. With subscribed, an event subscription
// that keeps no event is open meanwhile, so that the account builds and
// publishes an event per change.
func QueuedBytesPerTask(ctx context.Context, n int, subscribed bool) (float64, error) {
	acct, err := engine.New(engine.WithBackend("inprocess", newNoopBackend))
	if err != nil {
		return 0, err
	}
	defer acct.Close()
	if err := acct.CreatePool(ctx, pool.Spec{ID: "queued", TargetDedicatedNodes: 0}); err != nil {
		return 0, err
	}
	const job = "queued"
	if err := acct.AddJob(ctx, task.JobSpec{ID: job, PoolInfo: task.PoolInformation{PoolID: "queued"}}); err != nil {
		return 0, err
	}
	// Let the pool's first rounds (creation, the job) settle.
	if err := acct.WaitPoolSteady(ctx, "queued"); err != nil {
		return 0, err
	}
	if subscribed {
		sub := acct.Subscribe(func(*engine.Event) bool { return false })
		defer sub.Close()
	}
	before := liveHeap()
	if err := acct.AddTasks(ctx, job, NoopTasks(n)); err != nil {
		return 0, err
	}
	after := settledLiveHeap()
	runtime.KeepAlive(acct)
	return (float64(after) - float64(before)) / float64(n), nil
}

// CoreQueuedBytesPerTask is QueuedBytesPerTask for a bare scheduling core
// (pool.Scheduler, no account around it): the part of the account's
// per-task memory that is the core's. Like the account's loop, it takes
// Ready and Advances once after the tasks were added.
func CoreQueuedBytesPerTask(n int) (float64, error) {
	core, err := pool.NewScheduler(pool.Spec{ID: "queued", TargetDedicatedNodes: 0}, pool.Config{Now: time.Unix(0, 0)})
	if err != nil {
		return 0, err
	}
	now := time.Unix(1, 0)
	if err := core.Step(now, pool.AddJob{Spec: task.JobSpec{ID: "queued", PoolInfo: task.PoolInformation{PoolID: "queued"}}}); err != nil {
		return 0, err
	}
	core.Advance(core.Ready())
	before := liveHeap()
	if err := core.Step(now, pool.AddTasks{JobID: "queued", Tasks: NoopTasks(n)}); err != nil {
		return 0, err
	}
	core.Advance(core.Ready())
	after := liveHeap()
	runtime.KeepAlive(core)
	return (float64(after) - float64(before)) / float64(n), nil
}
