package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/embatch/embatch/engine/internal/store"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// Durability (DESIGN §4). With WithDataDir the account keeps its state in
// a Badger store in that directory:
//
//   - every call that changes the account (CreatePool, AddJob, AddTasks,
//     TerminateJob, ...) returns only once its change is durable;
//   - in durable mode every change to a pool's core happens in its owner
//     loop's round; the round hands the records its changes name (read
//     from the core) to the store, and the loop performs the round's
//     actions, answers its callers and publishes its events only once
//     they are durable: a task result is durable before anyone is told
//     about it, and a task's running state is durable before it starts;
//   - the loop is pipelined: while a round's commit is in flight it steps
//     the next ones (up to maxInFlight) and finishes them in order; readers
//     wait until the state they read is durable (runner.waitDurable);
//   - the store's single writer commits the rounds of all pools together,
//     with one sync per group (group commit);
//   - New reopens the directory and restores every pool (pool.Restore):
//     tasks that were running are requeued with requeueCount+1.
//
// A failed write or sync, or a full disk, stops the account: the call that
// hit it and every later call return an error matching ErrStoreFailed,
// nothing more runs, and what was durable before stays durable. Close the
// account and open the directory again to go on.
//
// Without WithDataDir the account lives in memory and none of this costs
// anything: records are never encoded.

// Errors of a durable account; match with errors.Is.
var (
	// ErrDataDirInUse: another process has the data directory open.
	ErrDataDirInUse = store.ErrInUse
	// ErrNewerFormat: the data directory was written by a newer embatch.
	ErrNewerFormat = store.ErrNewerFormat
	// ErrStoreFailed: a write or sync failed or the disk is full; the
	// account has stopped.
	ErrStoreFailed = store.ErrFailed
)

// WithDataDir keeps the account durable in dir (created if missing), and
// restores what dir holds. Without it the account lives in memory.
func WithDataDir(dir string) Option {
	return optionFunc(func(o *options) { o.dataDir = dir })
}

// WithTaskRetention sets how long completed tasks are kept (from their end)
// when their own constraints.retentionTime is unset: default 7 days, as
// Azure. Afterwards their records are compacted: they leave the job, the
// store and its task counts, and their directories are deleted if the
// backend can (node.TaskDirRemover). Zero or negative keeps them forever.
// Pools sweep once a minute; see Account.Compact.
func WithTaskRetention(d time.Duration) Option {
	return optionFunc(func(o *options) { o.retention = d })
}

// withStoreOptions tunes the store; tests use it to inject faults.
func withStoreOptions(so store.Options) Option {
	return optionFunc(func(o *options) { o.storeOpts = so })
}

// withDurableWaitHook makes readers call f when they start waiting for a
// round to be durable; tests use it.
func withDurableWaitHook(f func()) Option {
	return optionFunc(func(o *options) { o.onDurableWait = f })
}

// compactEvery is how often each pool sweeps expired completed tasks.
const compactEvery = time.Minute

// failure records the store error that stopped the account.
type failure struct {
	once sync.Once
	ch   chan struct{} // closed when err is set
	err  error
}

func newFailure() *failure { return &failure{ch: make(chan struct{})} }

// set records err (the first one wins).
func (f *failure) set(err error) {
	f.once.Do(func() {
		f.err = err
		close(f.ch)
	})
}

// get returns the recorded error, or nil.
func (f *failure) get() error {
	select {
	case <-f.ch:
		return f.err
	default:
		return nil
	}
}

// openStore opens the data directory and restores its pools.
func (a *Account) openStore() error {
	st, err := store.Open(a.opts.dataDir, a.opts.storeOpts)
	if err != nil {
		return err
	}
	a.store = st
	state, err := st.Load()
	if err != nil {
		return err
	}
	// Nodes do not survive a restart: their records go, and each
	// restored pool allocates new nodes.
	var gone store.Batch
	for _, ps := range state.Pools {
		for _, n := range ps.Nodes {
			gone.DeleteNode(ps.Pool.ID, n.ID)
		}
	}
	if err := st.Commit(&gone); err != nil {
		return err
	}
	var restored []*runner
	for _, ps := range state.Pools {
		r, err := a.restorePool(ps)
		if err != nil {
			for _, r := range restored {
				r.close()
			}
			return err
		}
		restored = append(restored, r)
	}
	// The first round of each pool persists what the restore changed
	// (requeued tasks, completed jobs, new nodes).
	for _, r := range restored {
		if err := r.step(nil); err != nil {
			return err
		}
		a.watchAutoPools(r)
	}
	return a.restoreSchedules(state.Schedules)
}

// restorePool rebuilds one pool's runner from its records.
func (a *Account) restorePool(ps *store.PoolState) (*runner, error) {
	spec := ps.Pool.Spec
	typ := spec.BackendType()
	if typ == "" {
		typ = a.opts.defaultBackend
	}
	factory := a.opts.backends[typ]
	if factory == nil {
		return nil, fmt.Errorf("engine: restoring pool %q: its backend %q is not registered with the account (engine.WithBackend)", spec.ID, typ)
	}
	cfg := pool.Config{Now: a.opts.clock()}
	if a.opts.policy != nil {
		cfg.Policy = a.opts.policy(spec)
	}
	core, err := pool.Restore(ps.Pool, ps.Jobs, ps.Tasks, cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: restoring pool %q: %w", spec.ID, err)
	}
	b, err := factory(spec)
	if err != nil {
		return nil, fmt.Errorf("engine: restoring pool %q: backend: %w", spec.ID, err)
	}
	r := newRunner(a, core, b)
	// The restored runners' loops already run and may take a.mu.
	a.mu.Lock()
	a.pools[task.FoldID(spec.ID)] = r
	for _, j := range core.Jobs() {
		a.jobPools[task.FoldID(j.ID)] = r
	}
	a.mu.Unlock()
	return r, nil
}

// changeKey identifies a record among a round's changes.
type changeKey struct {
	kind     pool.ChangeKind
	job, sub string
}

// encode puts into b the records named by a round's changes, read from
// the core (the last state is what counts, so each record is written
// once). deleted says the pool is gone: then the pool, its nodes and its
// jobs are deleted instead.
func (r *runner) encode(b *store.Batch, changes []pool.Change, deleted bool) error {
	if deleted {
		var jobs []string
		for _, j := range r.core.Jobs() {
			jobs = append(jobs, j.ID)
		}
		b.DeletePool(r.id, jobs)
		return nil
	}
	if r.seen == nil {
		r.seen = make(map[changeKey]struct{})
	}
	clear(r.seen)
	for _, c := range changes {
		k := changeKey{kind: c.Kind, job: c.JobID, sub: c.TaskID}
		if c.Kind == pool.ChangeNode || c.Kind == pool.ChangeNodeRemoved {
			k.sub = c.NodeID
		}
		if _, dup := r.seen[k]; dup {
			continue
		}
		r.seen[k] = struct{}{}
		var err error
		switch c.Kind {
		case pool.ChangePool:
			err = b.PutPool(r.core.DurablePool())
		case pool.ChangeNode:
			// A node removed later in the round is deleted below.
			if n, nerr := r.core.Node(c.NodeID); nerr == nil {
				err = b.PutNode(r.id, n)
			}
		case pool.ChangeNodeRemoved:
			b.DeleteNode(r.id, c.NodeID)
		case pool.ChangeJob:
			if j, jerr := r.core.DurableJob(c.JobID); jerr == nil {
				err = b.PutJob(j)
			}
		case pool.ChangeJobDeleted:
			b.DeleteJob(c.JobID)
		case pool.ChangeTask:
			if t, terr := r.core.DurableTask(c.JobID, c.TaskID); terr == nil {
				err = b.PutTask(t)
			}
		case pool.ChangeTaskDeleted:
			b.DeleteTask(c.JobID, c.TaskID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Compact compacts completed tasks whose retention time has passed (see
// WithTaskRetention) in every pool now, rather than at the pools' next
// sweep, and returns once that is durable.
func (a *Account) Compact(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		return ErrAccountClosed
	}
	runners := make([]*runner, 0, len(a.pools))
	for _, r := range a.pools {
		runners = append(runners, r)
	}
	a.mu.RUnlock()
	if a.opts.retention <= 0 {
		return nil
	}
	var errs []error
	for _, r := range runners {
		if err := r.step(pool.CompactTasks{Default: a.opts.retention}); err != nil && !errors.Is(err, ErrAccountClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StoreStats are a durable account's store counters.
type StoreStats struct {
	// Commits is the number of pool rounds (and other writes) made
	// durable.
	Commits uint64
	// Syncs is the number of syncs; group commit makes it at most
	// Commits.
	Syncs uint64
	// Records is the number of records written or deleted.
	Records uint64
}

// StoreStats returns the store's counters; zero in memory mode.
func (a *Account) StoreStats() StoreStats {
	if a.store == nil {
		return StoreStats{}
	}
	s := a.store.Stats()
	return StoreStats{Commits: s.Commits, Syncs: s.Syncs, Records: s.Records}
}
