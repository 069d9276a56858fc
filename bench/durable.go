package bench

import (
	"context"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/task"
)

// EngineNoopOpts runs tasks (from NoopTasks) through a whole account made
// with opts (add WithDataDir for a durable one) — added in collections of
// at most batch tasks (Azure's addCollection takes 100), scheduled, run on
// one in-process node with slots slots, completed — and returns the wall
// time from the first AddTasks until every task has completed, with the
// store's counters over that time.
func EngineNoopOpts(ctx context.Context, tasks []task.TaskSpec, slots, batch int, opts ...engine.Option) (DurableResult, error) {
	return runAccount(ctx, "inprocess", newNoopBackend, tasks, slots, batch, opts...)
}
