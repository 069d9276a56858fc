package engine

import (
	"context"
	"time"

	"github.com/embatch/embatch/pool"
)

// EnableAutoScale turns autoscaling on for a pool, or changes its formula
// or evaluation interval (0 keeps the current one; the default is 15
// minutes, and any positive interval is allowed). The formula is evaluated
// at once.
func (a *Account) EnableAutoScale(ctx context.Context, poolID, formula string, interval time.Duration) error {
	r, err := a.poolRunner(poolID)
	if err != nil {
		return err
	}
	return r.step(pool.EnableAutoScale{Formula: formula, Interval: interval})
}

// DisableAutoScale turns autoscaling off; the pool keeps its current targets.
func (a *Account) DisableAutoScale(ctx context.Context, poolID string) error {
	r, err := a.poolRunner(poolID)
	if err != nil {
		return err
	}
	return r.step(pool.DisableAutoScale{})
}

// EvaluateAutoScale evaluates formula against the pool as it is now and
// returns what it would set, changing nothing (Azure's evaluate-autoscale).
// Unlike Azure, the pool need not have autoscaling enabled.
func (a *Account) EvaluateAutoScale(ctx context.Context, poolID, formula string) (pool.AutoScaleRun, error) {
	r, err := a.poolRunner(poolID)
	if err != nil {
		return pool.AutoScaleRun{}, err
	}
	var run pool.AutoScaleRun
	err = r.read(func(c *pool.Scheduler) error {
		var err error
		run, err = c.EvaluateAutoScale(formula)
		return err
	})
	return run, err
}

// EvaluateAutoScaleNow evaluates the pool's formula now and applies it, on
// top of its regular schedule (an embatch extension).
func (a *Account) EvaluateAutoScaleNow(ctx context.Context, poolID string) error {
	r, err := a.poolRunner(poolID)
	if err != nil {
		return err
	}
	return r.step(pool.EvaluateAutoScaleNow{})
}
