package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/embatch/embatch/engine/internal/store"
	"github.com/embatch/embatch/engine/jobschedule"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// JobScheduleSpec is what a user submits to create a job schedule; see
// package jobschedule for its fields and rules.
type JobScheduleSpec = jobschedule.Spec

// JobSchedule is a job schedule's record: its spec, state and execution
// info (nextRunTime, recentJob, endTime).
type JobSchedule = jobschedule.JobSchedule

// Sentinels of job schedule errors, for errors.Is.
var (
	ErrJobScheduleExists           = task.ErrJobScheduleExists
	ErrJobScheduleNotFound         = task.ErrJobScheduleNotFound
	ErrJobScheduleCompleted        = task.ErrJobScheduleCompleted
	ErrJobScheduleBeingTerminated  = task.ErrJobScheduleBeingTerminated
	ErrJobScheduleBeingDeleted     = task.ErrJobScheduleBeingDeleted
	ErrJobScheduleWithSameIDExists = task.ErrJobScheduleWithSameIDExists
	ErrJobWithSameIDExists         = task.ErrJobWithSameIDExists
)

// AddJobSchedule creates a job schedule. Its jobs are added with AddJob
// (ids "<scheduleId>-job-<n>", see jobschedule.JobID) when they are due,
// in the account's clock (WithClock). As for AddJob, the pool that the
// jobSpecification names must exist (now; if it is deleted later, the
// occurrences that find it gone are skipped and executionInfo's
// schedulingError says why). A job and a job schedule cannot share an id.
//
// Schedule-created jobs get their tasks from jobSpecification.jobManagerTask,
// as in Azure, or from the embedder: watch for EventJobScheduleChanged, read
// recentJob with GetJobSchedule and add tasks to the job. An
// autoPoolSpecification with poolLifetimeOption jobschedule gives the
// schedule one auto pool (id "<prefix>_<scheduleId>") that its jobs share;
// with job, each job gets its own (see autopool.go).
func (a *Account) AddJobSchedule(ctx context.Context, spec JobScheduleSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	if id := spec.JobSpecification.PoolInfo.PoolID; id != "" {
		if _, err := a.poolRunner(id); err != nil {
			return task.WithFieldPrefix("jobSpecification.poolInfo", err)
		}
	}
	if ap := spec.JobSpecification.PoolInfo.AutoPoolSpecification; ap != nil {
		if _, err := autoPoolSpec(ap, autoPoolID(ap.AutoPoolIDPrefix, spec.ID)); err != nil {
			return task.WithFieldPrefix("jobSpecification", err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.usable(); err != nil {
		return err
	}
	key := task.FoldID(spec.ID)
	if a.jobPools[key] != nil {
		return task.Errorf(task.CodeJobWithSameIDExists, "id", spec.ID, "a job with this id exists; a job and a job schedule cannot share an id")
	}
	if a.schedules[key] != nil {
		return task.Errorf(task.CodeJobScheduleExists, "id", spec.ID, "a job schedule with this id already exists")
	}
	m, err := jobschedule.New(spec, a.opts.clock())
	if err != nil {
		return err
	}
	var written []byte
	if a.store != nil {
		if written, err = a.persistSchedule(m, nil); err != nil {
			return err
		}
	}
	if a.schedules == nil {
		a.schedules = map[string]*scheduleRunner{}
	}
	s := newScheduleRunner(a, m)
	s.written = written
	s.start()
	a.schedules[key] = s
	return nil
}

// persistSchedule makes m's durable form durable (DESIGN §4: all account
// state is in the store) unless it is the same as written, the form last
// written, and returns the form now written. A deleted schedule's record
// is deleted (and the empty, non-nil form returned). An error stops the
// account (ErrStoreFailed).
func (a *Account) persistSchedule(m *jobschedule.Machine, written []byte) ([]byte, error) {
	var b store.Batch
	d := m.Durable()
	if m.Deleted() {
		if written != nil && len(written) == 0 {
			return written, nil // already deleted
		}
		written = []byte{}
		b.DeleteSchedule(d.ID)
	} else {
		now, err := json.Marshal(d)
		if err != nil {
			return written, err
		}
		if bytes.Equal(now, written) {
			return written, nil
		}
		written = now
		b.PutSchedule(d.ID, now)
	}
	if err := a.store.Commit(&b); err != nil {
		a.failed.set(err)
		return nil, err
	}
	return written, nil
}

// restoreSchedules rebuilds the job schedules of a reopened durable
// account, after its pools (and so its jobs) are restored. The pools' loops
// already run, and a schedule's loop may add a job at once (an occurrence
// that fell due while the account was down), so the account's maps are
// read and written under a.mu, and the loops start only once every
// schedule is in place.
func (a *Account) restoreSchedules(records []jobschedule.Durable) error {
	now := a.opts.clock()
	type restored struct {
		s     *scheduleRunner
		watch string // the active job, to watch again
	}
	var all []restored
	a.mu.Lock()
	exists := func(id string) bool { return a.jobPools[task.FoldID(id)] != nil }
	for _, d := range records {
		m, err := jobschedule.Restore(d, now, exists)
		if err != nil {
			a.mu.Unlock()
			return fmt.Errorf("engine: restoring job schedule %q: %w", d.ID, err)
		}
		s := newScheduleRunner(a, m)
		s.written, _ = json.Marshal(d)
		if ap := d.JobSpecification.PoolInfo.AutoPoolSpecification; ap != nil && ap.PoolLifetimeOption == poolLifetimeJobSchedule {
			if id := autoPoolID(ap.AutoPoolIDPrefix, d.ID); a.pools[task.FoldID(id)] != nil {
				s.autoPool, s.autoPoolKeep = id, ap.KeepAlive
			}
		}
		rs := restored{s: s}
		// The active job's end is reported again by a new watcher (one
		// still being added is watched once its add succeeds).
		if id := m.ActiveJob(); id != "" && id != d.Adding && exists(id) {
			rs.watch = id
		}
		if a.schedules == nil {
			a.schedules = map[string]*scheduleRunner{}
		}
		a.schedules[task.FoldID(d.ID)] = s
		all = append(all, rs)
	}
	a.mu.Unlock()
	for _, rs := range all {
		rs.s.start()
		if rs.watch != "" {
			rs.s.watch(rs.watch)
		}
	}
	return nil
}

// GetJobSchedule returns a job schedule's record.
func (a *Account) GetJobSchedule(ctx context.Context, id string) (JobSchedule, error) {
	s, err := a.scheduleRunner(id)
	if err != nil {
		return JobSchedule{}, err
	}
	return s.record(), nil
}

// ListJobSchedules returns every job schedule's record, ordered by id.
func (a *Account) ListJobSchedules(ctx context.Context) ([]JobSchedule, error) {
	a.mu.RLock()
	if err := a.usable(); err != nil {
		a.mu.RUnlock()
		return nil, err
	}
	runners := make([]*scheduleRunner, 0, len(a.schedules))
	for _, s := range a.schedules {
		runners = append(runners, s)
	}
	a.mu.RUnlock()
	out := make([]JobSchedule, 0, len(runners))
	for _, s := range runners {
		out = append(out, s.record())
	}
	slices.SortFunc(out, func(x, y JobSchedule) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// DisableJobSchedule stops the schedule creating jobs; its active job, if
// any, continues. Occurrences due while it is disabled are skipped.
func (a *Account) DisableJobSchedule(ctx context.Context, id string) error {
	return a.stepSchedule(id, jobschedule.Disable{})
}

// EnableJobSchedule lets a disabled schedule create jobs again, from its
// next occurrence.
func (a *Account) EnableJobSchedule(ctx context.Context, id string) error {
	return a.stepSchedule(id, jobschedule.Enable{})
}

// TerminateJobSchedule ends a schedule: it creates no more jobs, its active
// job is terminated (terminateReason "TerminateJobSchedule"), and it
// completes when that job has. It returns at once; WaitJobSchedule waits
// for the end.
func (a *Account) TerminateJobSchedule(ctx context.Context, id string) error {
	return a.stepSchedule(id, jobschedule.Terminate{})
}

// DeleteJobSchedule deletes a schedule and all its jobs (completed ones
// too). It returns once they are gone, like DeleteJob.
func (a *Account) DeleteJobSchedule(ctx context.Context, id string) error {
	s, err := a.scheduleRunner(id)
	if err != nil {
		return err
	}
	if err := s.step(jobschedule.Delete{}); err != nil {
		return err
	}
	select {
	case <-s.gone:
		return nil
	case <-s.done:
		return s.stopped()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitJobSchedule waits until the schedule has completed and returns its
// record.
func (a *Account) WaitJobSchedule(ctx context.Context, id string) (JobSchedule, error) {
	s, err := a.scheduleRunner(id)
	if err != nil {
		return JobSchedule{}, err
	}
	for {
		s.mu.Lock()
		rec, ch := s.m.JobSchedule(), s.changed
		s.mu.Unlock()
		if rec.State == jobschedule.StateCompleted {
			return rec, nil
		}
		select {
		case <-ch:
		case <-s.done:
			if err := s.stopped(); err != nil {
				return JobSchedule{}, err
			}
			return JobSchedule{}, task.Errorf(task.CodeJobScheduleNotFound, "jobScheduleId", id, "the job schedule was deleted")
		case <-ctx.Done():
			return JobSchedule{}, ctx.Err()
		}
	}
}

func (a *Account) scheduleRunner(id string) (*scheduleRunner, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.usable(); err != nil {
		return nil, err
	}
	s := a.schedules[task.FoldID(id)]
	if s == nil {
		return nil, task.Errorf(task.CodeJobScheduleNotFound, "jobScheduleId", id, "no such job schedule")
	}
	return s, nil
}

func (a *Account) stepSchedule(id string, ev jobschedule.Event) error {
	s, err := a.scheduleRunner(id)
	if err != nil {
		return err
	}
	return s.step(ev)
}

// jobScheduleIDTaken returns JobScheduleWithSameIdExists if a job schedule
// has the id, for AddJob. a.mu must be held.
func (a *Account) jobScheduleIDTaken(id string) error {
	if a.schedules[task.FoldID(id)] != nil {
		return task.Errorf(task.CodeJobScheduleWithSameIDExists, "id", id, "a job schedule has this id; a job and a job schedule cannot share an id")
	}
	return nil
}

// closeSchedules stops every schedule's loop, for Close (after a.closed is
// set, so that no schedule is added meanwhile).
func (a *Account) closeSchedules() {
	a.mu.Lock()
	runners := make([]*scheduleRunner, 0, len(a.schedules))
	for _, s := range a.schedules {
		runners = append(runners, s)
	}
	a.mu.Unlock()
	for _, s := range runners {
		s.close()
	}
}

// scheduleDeleted forgets a schedule whose jobs are all gone.
func (a *Account) scheduleDeleted(s *scheduleRunner) {
	a.mu.Lock()
	if key := task.FoldID(s.id); a.schedules[key] == s {
		delete(a.schedules, key)
	}
	a.mu.Unlock()
	close(s.gone)
}

// scheduleRunner owns one job schedule's Machine, like runner owns a pool's
// core: API calls step it under mu and kick the loop; reports about its
// jobs are posted to the inbox. The loop steps the inbox and due ticks,
// performs the Machine's actions through the Account's job API, and sets a
// timer at the Machine's NextDeadline.
type scheduleRunner struct {
	acct *Account
	id   string

	mu      sync.Mutex
	m       *jobschedule.Machine
	changed chan struct{} // closed and replaced after each round with changes

	inboxMu sync.Mutex
	inbox   []jobschedule.Event

	kick chan struct{}
	stop chan struct{}
	done chan struct{} // closed when the loop has returned
	gone chan struct{} // closed when the schedule is deleted

	// ctx is cancelled when the loop stops; it bounds the job calls and
	// the goroutines that watch jobs (counted by watchers).
	ctx      context.Context
	cancel   context.CancelFunc
	watchers sync.WaitGroup

	// autoPool is the id of the schedule's auto pool (poolLifetimeOption
	// jobschedule) once created, autoPoolKeep its keepAlive, and
	// autoPoolEnded whether its lifetime has ended; see autopool.go. Used
	// by the loop only.
	autoPool      string
	autoPoolKeep  bool
	autoPoolEnded bool

	// written is the durable form last written (durable mode), guarded by
	// mu.
	written []byte
}

// newScheduleRunner returns the runner of m, not yet started (see start).
func newScheduleRunner(a *Account, m *jobschedule.Machine) *scheduleRunner {
	ctx, cancel := context.WithCancel(context.Background())
	s := &scheduleRunner{
		acct:    a,
		id:      m.JobSchedule().ID,
		m:       m,
		changed: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		gone:    make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
	}
	return s
}

// start starts the runner's loop; set up its fields before.
func (s *scheduleRunner) start() {
	go s.loop()
	s.poke()
}

func (s *scheduleRunner) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// post queues a report about one of the schedule's jobs.
func (s *scheduleRunner) post(ev jobschedule.Event) {
	s.inboxMu.Lock()
	s.inbox = append(s.inbox, ev)
	s.inboxMu.Unlock()
	s.poke()
}

// step applies a user's request and returns its error; the loop performs
// the resulting actions.
func (s *scheduleRunner) step(ev jobschedule.Event) error {
	s.mu.Lock()
	err := s.m.Step(s.acct.opts.clock(), ev)
	if perr := s.persist(); perr != nil && err == nil {
		err = perr
	}
	s.mu.Unlock()
	s.poke()
	return err
}

// persist writes the Machine's durable form if it changed (durable mode;
// s.mu held), so that a change is durable before it is answered or acted
// on.
func (s *scheduleRunner) persist() error {
	if s.acct.store == nil {
		return nil
	}
	w, err := s.acct.persistSchedule(s.m, s.written)
	if err != nil {
		return err
	}
	s.written = w
	return nil
}

// stopped says why the loop has returned: nil if the schedule was deleted,
// ErrAccountClosed if the account was closed. Call it once done is closed.
func (s *scheduleRunner) stopped() error {
	select {
	case <-s.gone:
		return nil
	default:
		return ErrAccountClosed
	}
}

func (s *scheduleRunner) record() JobSchedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.JobSchedule()
}

func (s *scheduleRunner) loop() {
	defer close(s.done)
	defer s.cancel()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-s.kick:
		case <-timer.C:
		case <-s.stop:
			return
		}
		if s.round(timer) {
			return
		}
	}
}

// round steps pending reports and a due tick, then performs the actions
// outside the lock. It reports whether the schedule is gone.
func (s *scheduleRunner) round(timer *time.Timer) bool {
	s.inboxMu.Lock()
	evs := s.inbox
	s.inbox = nil
	s.inboxMu.Unlock()

	s.mu.Lock()
	now := s.acct.opts.clock()
	for _, ev := range evs {
		_ = s.m.Step(now, ev) // reports are never rejected
	}
	if d := s.m.NextDeadline(); !d.IsZero() && !d.After(now) {
		_ = s.m.Step(now, jobschedule.Tick{})
	}
	rd := s.m.Ready()
	if err := s.persist(); err != nil {
		// The account has stopped: nothing more happens.
		s.mu.Unlock()
		return false
	}
	actions := slices.Clone(rd.Actions)
	changed := rd.Changed
	s.m.Advance(rd)
	state, deleted := s.m.State(), s.m.Deleted()
	if changed {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	timer.Stop()
	if d := s.m.NextDeadline(); !d.IsZero() {
		timer.Reset(max(d.Sub(now), time.Millisecond))
	}
	s.mu.Unlock()

	// Publish after the actions, so that a subscriber told of a new
	// recentJob finds the job.
	for _, act := range actions {
		s.perform(act)
	}
	s.endScheduleAutoPool(state == jobschedule.StateCompleted, deleted)
	if changed && !deleted && s.acct.subs.active() {
		s.acct.subs.publish([]Event{{Kind: EventJobScheduleChanged, Time: now, JobScheduleID: s.id, JobScheduleState: state}})
	}
	if deleted {
		s.acct.scheduleDeleted(s)
		if s.acct.subs.active() {
			s.acct.subs.publish([]Event{{Kind: EventJobScheduleDeleted, Time: now, JobScheduleID: s.id}})
		}
	}
	return deleted
}

// perform carries out one of the Machine's actions with the Account's job
// API and posts the outcome back.
func (s *scheduleRunner) perform(act jobschedule.Action) {
	switch act.Kind {
	case jobschedule.ActAddJob:
		spec, err := s.scheduleJobSpec(act.Job)
		if err == nil {
			err = s.acct.AddJob(s.ctx, spec)
		}
		s.post(jobschedule.JobAdded{JobID: act.JobID, Err: err})
		if err == nil {
			s.watch(act.JobID)
		}
	case jobschedule.ActTerminateJob:
		err := s.acct.TerminateJob(s.ctx, act.JobID, act.Reason)
		if errors.Is(err, ErrJobNotFound) {
			s.post(jobschedule.JobFinished{JobID: act.JobID, Deleted: true})
		}
	case jobschedule.ActDeleteJob:
		// DeleteJob waits for the job's running tasks to be killed: do
		// not hold up the loop.
		s.watchers.Add(1)
		go func() {
			defer s.watchers.Done()
			err := s.acct.DeleteJob(s.ctx, act.JobID)
			if err == nil || errors.Is(err, ErrJobNotFound) || errors.Is(err, ErrAccountClosed) && s.ctx.Err() == nil {
				s.post(jobschedule.JobFinished{JobID: act.JobID, Deleted: true})
			}
		}()
	}
}

// watch reports JobFinished once job id has completed or is gone.
func (s *scheduleRunner) watch(id string) {
	s.watchers.Add(1)
	go func() {
		defer s.watchers.Done()
		r, err := s.acct.jobRunner(id)
		if err != nil {
			if errors.Is(err, ErrJobNotFound) {
				s.post(jobschedule.JobFinished{JobID: id, Deleted: true})
			}
			return
		}
		deleted := false
		err = r.waitFor(s.ctx, func(c *pool.Scheduler) (bool, error) {
			j, err := c.Job(id)
			if err != nil {
				deleted = true // gone from its pool
				return true, nil
			}
			return j.State == task.JobCompleted, nil
		})
		switch {
		case err == nil:
		case errors.Is(err, ErrAccountClosed) && s.ctx.Err() == nil:
			// The pool's runner stopped while the account is open: the
			// pool, and the job with it, was deleted.
			deleted = true
		default:
			return // the schedule's loop stopped, or the account failed
		}
		s.post(jobschedule.JobFinished{JobID: id, Deleted: deleted})
	}()
}

// close stops the loop and waits for it and the job watchers.
func (s *scheduleRunner) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.cancel()
	<-s.done
	s.watchers.Wait()
}
