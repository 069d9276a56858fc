// Package bench holds reproducible benchmark scenarios: each measures one
// embatch path next to its baseline (the bare floor or a peer) in the same
// process, so that ratios, not machine-dependent absolute numbers, carry
// the claims. `go test -bench` runs them; nothing imports this package.
package bench

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/alitto/pond/v2"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/inprocess"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// noop is the task body both sides run: nothing.
func noop(context.Context, *inprocess.Task) error { return nil }

// NoopTasks returns n task specs that run the registered "noop" handler.
// Building them is not part of any measurement.
func NoopTasks(n int) []task.TaskSpec {
	tasks := make([]task.TaskSpec, n)
	for i := range tasks {
		tasks[i] = task.TaskSpec{ID: strconv.Itoa(i), CommandLine: "noop"}
	}
	return tasks
}

// newNoopBackend is an in-process backend with the "noop" handler.
func newNoopBackend(pool.Spec) (node.Backend, error) {
	b := inprocess.New()
	return b, b.Register("noop", noop)
}

// EngineNoop runs tasks (from NoopTasks) through a whole in-memory account
// — add as one collection, schedule, run on one in-process node with slots
// slots, complete — and returns the wall time from AddTasks until every
// task has completed.
func EngineNoop(ctx context.Context, tasks []task.TaskSpec, slots int) (time.Duration, error) {
	res, err := runAccount(ctx, "inprocess", newNoopBackend, tasks, slots, 0)
	return res.Elapsed, err
}

// PondNoop runs n no-op closures on a raw pond pool with the same
// concurrency and returns the wall time from the first submit until all
// finished: the floor EngineNoop is compared with.
func PondNoop(n, workers int) time.Duration {
	p := pond.NewPool(workers)
	defer p.StopAndWait()
	var wg sync.WaitGroup
	wg.Add(n)
	ctx := context.Background()
	start := time.Now()
	for range n {
		p.Submit(func() {
			_ = noop(ctx, nil)
			wg.Done()
		})
	}
	wg.Wait()
	return time.Since(start)
}
