package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/inprocess"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// DurableResult is what EngineNoopOpts measured.
type DurableResult struct {
	// Elapsed is the wall time from the first AddTasks until every task
	// completed.
	Elapsed time.Duration
	// Store is the account's store counters over the measured part (zero
	// in memory mode).
	Store engine.StoreStats
}

// EngineNoopOpts runs tasks (from NoopTasks) through a whole account made
// with opts (add WithDataDir for a durable one) — added in collections of
// at most batch tasks (Azure's addCollection takes 100), scheduled, run on
// one in-process node with slots slots, completed — and returns the wall
// time from the first AddTasks until every task has completed, with the
// store's counters over that time.
func EngineNoopOpts(ctx context.Context, tasks []task.TaskSpec, slots, batch int, opts ...engine.Option) (DurableResult, error) {
	opts = append([]engine.Option{engine.WithBackend("inprocess", func(pool.Spec) (node.Backend, error) {
		b := inprocess.New()
		return b, b.Register("noop", noop)
	})}, opts...)
	acct, err := engine.New(opts...)
	if err != nil {
		return DurableResult{}, err
	}
	defer acct.Close()
	if err := acct.CreatePool(ctx, pool.Spec{ID: "bench", TargetDedicatedNodes: 1, TaskSlotsPerNode: task.Ptr(slots)}); err != nil {
		return DurableResult{}, err
	}
	if err := acct.WaitPoolSteady(ctx, "bench"); err != nil {
		return DurableResult{}, err
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "noop", PoolInfo: task.PoolInformation{PoolID: "bench"}}); err != nil {
		return DurableResult{}, err
	}
	before := acct.StoreStats()
	start := time.Now()
	for from := 0; from < len(tasks); from += batch {
		if err := acct.AddTasks(ctx, "noop", tasks[from:min(from+batch, len(tasks))]); err != nil {
			return DurableResult{}, err
		}
	}
	if _, err := acct.WaitJob(ctx, "noop"); err != nil {
		return DurableResult{}, err
	}
	res := DurableResult{Elapsed: time.Since(start)}
	after := acct.StoreStats()
	res.Store = engine.StoreStats{Commits: after.Commits - before.Commits, Syncs: after.Syncs - before.Syncs, Records: after.Records - before.Records}
	tc, err := acct.TaskCounts(ctx, "noop")
	if err != nil {
		return DurableResult{}, err
	}
	if tc.TaskCounts.Succeeded != len(tasks) {
		return DurableResult{}, fmt.Errorf("bench: %d of %d tasks succeeded", tc.TaskCounts.Succeeded, len(tasks))
	}
	return res, nil
}
