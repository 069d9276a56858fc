package node

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/embatch/embatch/task"
)

func TestRunInstancesAllSucceed(t *testing.T) {
	var ran atomic.Int32
	failed, ok := RunInstances(context.Background(), []string{"a", "b", "c"}, func(ctx context.Context, n string) (Result, bool) {
		ran.Add(1)
		return Result{}, true
	})
	if !ok || failed != (Result{}) || ran.Load() != 3 {
		t.Errorf("RunInstances = %+v, %v after %d instances; want the zero Result, true after 3", failed, ok, ran.Load())
	}
}

// TestRunInstancesFirstFailureStopsTheRest: the instances that keep
// running until cancelled end because one failed, and the failed one's
// result is the attempt's.
func TestRunInstancesFirstFailureStopsTheRest(t *testing.T) {
	var causes atomic.Int32
	failed, ok := RunInstances(context.Background(), []string{"a", "b", "c"}, func(ctx context.Context, n string) (Result, bool) {
		if n == "b" {
			return Result{ExitCode: 5}, false
		}
		<-ctx.Done()
		if context.Cause(ctx).Error() == "another instance failed" {
			causes.Add(1)
		}
		return Result{Kind: task.OutcomeExited, ExitCode: -1}, false
	})
	if ok || failed.ExitCode != 5 {
		t.Errorf("RunInstances = %+v, %v; want node b's result, false", failed, ok)
	}
	if causes.Load() != 2 {
		t.Errorf("%d of 2 running instances were cancelled with cause \"another instance failed\"", causes.Load())
	}
}
