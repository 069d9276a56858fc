package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// AccountResult is what runAccount measured.
type AccountResult struct {
	// Elapsed is the wall time from the first AddTasks until every task
	// completed.
	Elapsed time.Duration
	// Store is the account's store counters over the measured part (zero
	// in memory mode).
	Store engine.StoreStats
}

// DurableResult is what EngineNoopOpts measured.
type DurableResult = AccountResult

// addAdders is how many collections runAccount adds at once, as Azure's
// guide to submitting many tasks advises (learn.microsoft.com/azure/batch/
// large-number-tasks: add collections of 100 in parallel). A durable
// AddTasks returns only once its collection is durable, so one caller
// adding collections one after another waits a sync per collection, while
// concurrent callers share syncs (group commit).
const addAdders = 8

// addConcurrently adds tasks to job in collections of batch tasks, with up
// to addAdders collections in flight, and returns the first error.
func addConcurrently(ctx context.Context, acct *engine.Account, job string, tasks []task.TaskSpec, batch int) error {
	next := make(chan []task.TaskSpec)
	errs := make(chan error, addAdders)
	var wg sync.WaitGroup
	for range addAdders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				if err := acct.AddTasks(ctx, job, c); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for from := 0; from < len(tasks); from += batch {
		select {
		case next <- tasks[from:min(from+batch, len(tasks))]:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// runAccount runs tasks through a whole account made with opts: one pool
// "bench" of one node with slots slots on the backend newBackend makes
// (registered as backend), one job, the tasks added in collections of at
// most batch tasks, addAdders at a time (all at once when batch < 1). It
// returns the wall time from the first AddTasks until every task has
// completed, with the store's counters over that time, and fails unless
// every task succeeded.
func runAccount(ctx context.Context, backend string, newBackend func(pool.Spec) (node.Backend, error), tasks []task.TaskSpec, slots, batch int, opts ...engine.Option) (AccountResult, error) {
	opts = append([]engine.Option{engine.WithBackend(backend, newBackend)}, opts...)
	acct, err := engine.New(opts...)
	if err != nil {
		return AccountResult{}, err
	}
	defer acct.Close()
	if err := acct.CreatePool(ctx, pool.Spec{ID: "bench", TargetDedicatedNodes: 1, TaskSlotsPerNode: task.Ptr(slots)}); err != nil {
		return AccountResult{}, err
	}
	if err := acct.WaitPoolSteady(ctx, "bench"); err != nil {
		return AccountResult{}, err
	}
	const job = "bench"
	if err := acct.AddJob(ctx, task.JobSpec{ID: job, PoolInfo: task.PoolInformation{PoolID: "bench"}}); err != nil {
		return AccountResult{}, err
	}
	if batch < 1 {
		batch = max(1, len(tasks))
	}
	before := acct.StoreStats()
	start := time.Now()
	if err := addConcurrently(ctx, acct, job, tasks, batch); err != nil {
		return AccountResult{}, err
	}
	if _, err := acct.WaitJob(ctx, job); err != nil {
		return AccountResult{}, err
	}
	res := AccountResult{Elapsed: time.Since(start)}
	after := acct.StoreStats()
	res.Store = engine.StoreStats{Commits: after.Commits - before.Commits, Syncs: after.Syncs - before.Syncs, Records: after.Records - before.Records}
	tc, err := acct.TaskCounts(ctx, job)
	if err != nil {
		return AccountResult{}, err
	}
	if tc.TaskCounts.Succeeded != len(tasks) {
		return AccountResult{}, fmt.Errorf("bench: %d of %d tasks succeeded", tc.TaskCounts.Succeeded, len(tasks))
	}
	return res, nil
}
