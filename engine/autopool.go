package engine

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// Auto pools (poolInfo.autoPoolSpecification). A job's auto pool is created
// by AddJob; a job schedule's, with poolLifetimeOption jobschedule, by the
// schedule when it adds its first job, and its jobs share it.
//
// Azure deletes an auto pool when its lifetime ends (the job or the
// schedule completes) unless keepAlive is set. embatch keeps a job's records
// inside its pool, so deleting the pool at that moment would also delete
// the completed job and its tasks, which in Azure outlive the pool. So when
// the lifetime ends the pool is resized to zero nodes (autoscaling off): its
// nodes, and their cost, go at once, as in Azure; the empty pool itself is
// deleted when its job (or schedule) is deleted. With keepAlive the pool is
// left alone, as in Azure.

// Pool lifetime options of an autoPoolSpecification; empty means job.
const (
	poolLifetimeJob         = "job"
	poolLifetimeJobSchedule = "jobschedule"
)

// autoPoolID is the id of the auto pool of owner (a job or job schedule
// id): the prefix, if any, and "_", then owner, cut to 64 characters.
func autoPoolID(prefix, owner string) string {
	id := owner
	if prefix != "" {
		id = prefix + "_" + owner
	}
	if len(id) > task.MaxIDLength {
		id = id[:task.MaxIDLength]
	}
	return id
}

// autoPoolSpec decodes ap.pool as the spec of pool id and validates it.
// Errors name fields under poolInfo.autoPoolSpecification.
func autoPoolSpec(ap *task.AutoPoolSpecification, id string) (pool.Spec, error) {
	var ps pool.Spec
	dec := json.NewDecoder(strings.NewReader(string(ap.Pool)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ps); err != nil {
		return ps, task.Invalid("poolInfo.autoPoolSpecification.pool", string(ap.Pool), "%v", err)
	}
	ps.ID = id
	if err := ps.Validate(); err != nil {
		return ps, task.WithFieldPrefix("poolInfo.autoPoolSpecification.pool", err)
	}
	return ps, nil
}

// createAutoPool creates pool id from ap.pool. Errors name fields under
// poolInfo.autoPoolSpecification.
func (a *Account) createAutoPool(ctx context.Context, ap *task.AutoPoolSpecification, id string) error {
	ps, err := autoPoolSpec(ap, id)
	if err != nil {
		return err
	}
	if err := a.CreatePool(ctx, ps); err != nil {
		return task.WithFieldPrefix("poolInfo.autoPoolSpecification.pool", err)
	}
	return nil
}

// jobAutoPool reports whether spec asks for an auto pool whose lifetime is
// the job and that is not kept alive: one the engine shrinks when the job
// completes and deletes when the job is deleted.
func jobAutoPool(spec *task.JobSpec) bool {
	ap := spec.PoolInfo.AutoPoolSpecification
	return ap != nil && !ap.KeepAlive && ap.PoolLifetimeOption != poolLifetimeJobSchedule
}

// watchAutoPool ends the lifetime of pool r, the auto pool of job jobID:
// it shrinks r to zero nodes once the job has completed and deletes r once
// the job is gone. It returns at once; the watch ends with the account.
func (a *Account) watchAutoPool(r *runner, jobID string) {
	go func() {
		ctx := context.Background()
		err := r.waitFor(ctx, func(c *pool.Scheduler) (bool, error) {
			j, err := c.Job(jobID)
			return err != nil || j.State == task.JobCompleted, nil
		})
		if err != nil {
			return // the account closed or failed, or the pool went
		}
		a.endAutoPoolLifetime(ctx, r)
		err = r.waitFor(ctx, func(c *pool.Scheduler) (bool, error) {
			_, err := c.Job(jobID)
			return err != nil, nil
		})
		if err == nil {
			_ = r.step(pool.DeletePool{})
		}
	}()
}

// endAutoPoolLifetime shrinks auto pool r to zero nodes, turning its
// autoscaling off and waiting for a resize in progress to end first.
func (a *Account) endAutoPoolLifetime(ctx context.Context, r *runner) {
	_ = r.step(pool.DisableAutoScale{})
	err := r.waitFor(ctx, func(c *pool.Scheduler) (bool, error) {
		p := c.Pool()
		return p.AllocationState == pool.AllocationSteady || p.State == "deleting", nil
	})
	if err == nil {
		_ = r.step(pool.Resize{})
	}
}

// watchAutoPools re-arms the auto pool watches of a restored pool's jobs.
func (a *Account) watchAutoPools(r *runner) {
	var ids []string
	_ = r.read(func(c *pool.Scheduler) error {
		for _, j := range c.Jobs() {
			if jobAutoPool(&j.JobSpec) {
				ids = append(ids, j.ID)
			}
		}
		return nil
	})
	for _, id := range ids {
		a.watchAutoPool(r, id)
	}
}

// scheduleJobSpec returns the spec of a job that schedule s adds. With
// poolLifetimeOption jobschedule the job runs on the schedule's auto pool,
// created for its first job (or again if it was deleted meanwhile) and
// shared by its later jobs. Called from s's loop only.
func (s *scheduleRunner) scheduleJobSpec(spec task.JobSpec) (task.JobSpec, error) {
	ap := spec.PoolInfo.AutoPoolSpecification
	if ap == nil || ap.PoolLifetimeOption != poolLifetimeJobSchedule {
		return spec, nil
	}
	id := autoPoolID(ap.AutoPoolIDPrefix, s.id)
	if _, err := s.acct.poolRunner(id); err != nil || s.autoPool == "" {
		if err := s.acct.createAutoPool(s.ctx, ap, id); err != nil {
			return spec, err
		}
	}
	s.autoPool, s.autoPoolKeep = id, ap.KeepAlive
	spec.PoolInfo = task.PoolInformation{PoolID: id}
	return spec, nil
}

// endScheduleAutoPool ends the lifetime of s's auto pool (see the top of
// this file): shrunk when the schedule completes, deleted when it is
// deleted. Called from s's loop after each round.
func (s *scheduleRunner) endScheduleAutoPool(completed, deleted bool) {
	if s.autoPool == "" || s.autoPoolKeep {
		return
	}
	r, err := s.acct.poolRunner(s.autoPool)
	if err != nil {
		return
	}
	switch {
	case deleted:
		_ = r.step(pool.DeletePool{})
	case completed && !s.autoPoolEnded:
		s.autoPoolEnded = true
		s.watchers.Add(1)
		go func() {
			defer s.watchers.Done()
			s.acct.endAutoPoolLifetime(s.ctx, r)
		}()
	}
}
