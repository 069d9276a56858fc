package node

import (
	"context"
	"errors"
	"sync"
)

// RunInstances runs instance for each of a multi-instance task's nodes at
// once, each in its own goroutine, and waits for all of them. instance
// reports ok false when its node failed the attempt, with the attempt's
// result. The first such failure cancels the context the other instances
// run under (cause "another instance failed"), so that they stop, and is
// returned as failed; ok is true, and failed the zero Result, when every
// instance succeeded.
func RunInstances[N any](ctx context.Context, nodes []N, instance func(ctx context.Context, n N) (Result, bool)) (failed Result, ok bool) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu    sync.Mutex
		first *Result // the first instance to fail
		wg    sync.WaitGroup
	)
	for _, n := range nodes {
		wg.Go(func() {
			r, ok := instance(ctx, n)
			if ok {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if first == nil {
				first = &r
				cancel(errors.New("another instance failed"))
			}
		})
	}
	wg.Wait()
	if first == nil {
		return Result{}, true
	}
	return *first, false
}
