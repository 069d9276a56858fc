package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/embatch/embatch/engine/internal/store"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// Account is an in-process Batch account: pools, their nodes, jobs and
// tasks. It is safe for concurrent use. Close it to stop every pool.
type Account struct {
	opts options
	subs hub
	tel  *telemetry

	// store keeps the account durable; nil in memory mode. failed
	// records the store error that stopped the account.
	store  *store.Store
	failed *failure

	mu       sync.RWMutex
	pools    map[string]*runner // by folded pool id
	jobPools map[string]*runner // by folded job id
	closed   bool
	// schedules are the job schedules, by folded id (schedules.go).
	schedules map[string]*scheduleRunner
}

// New returns an account. In memory mode it has no pools; with
// WithDataDir it has what the directory holds (see WithDataDir), and New
// fails with ErrDataDirInUse if another process has the directory open.
// Register at least one backend with WithBackend before creating pools
// (and every backend the restored pools use).
func New(opts ...Option) (*Account, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	a := &Account{opts: o, pools: map[string]*runner{}, jobPools: map[string]*runner{}, failed: newFailure()}
	if a.tel, err = newTelemetry(&a.opts, a); err != nil {
		return nil, fmt.Errorf("engine: telemetry: %w", err)
	}
	if o.dataDir != "" {
		if err := a.openStore(); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

// Close stops every pool, killing running tasks, and ends subscriptions.
// Calls after Close return ErrAccountClosed.
func (a *Account) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	runners := make([]*runner, 0, len(a.pools))
	for _, r := range a.pools {
		runners = append(runners, r)
	}
	a.mu.Unlock()
	a.closeSchedules() // first, so that they add no jobs meanwhile
	for _, r := range runners {
		r.close()
	}
	a.subs.closeAll()
	_ = a.tel.registration.Unregister()
	if a.store != nil {
		return a.store.Close()
	}
	return nil
}

// usable returns the error every call gets once the account is closed or
// stopped by a store failure. a.mu must be held.
func (a *Account) usable() error {
	if a.closed {
		return ErrAccountClosed
	}
	return a.failed.get()
}

func (a *Account) poolRunner(id string) (*runner, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.usable(); err != nil {
		return nil, err
	}
	r := a.pools[task.FoldID(id)]
	if r == nil {
		return nil, task.Errorf(task.CodePoolNotFound, "poolId", id, "no such pool")
	}
	return r, nil
}

func (a *Account) jobRunner(id string) (*runner, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.usable(); err != nil {
		return nil, err
	}
	r := a.jobPools[task.FoldID(id)]
	if r == nil {
		return nil, task.Errorf(task.CodeJobNotFound, "jobId", id, "no such job")
	}
	return r, nil
}

// ---- pools ----

// CreatePool creates a pool and starts bringing its target nodes up. In
// durable mode it returns once the pool is durable.
func (a *Account) CreatePool(ctx context.Context, spec pool.Spec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	typ := spec.BackendType()
	if typ == "" {
		typ = a.opts.defaultBackend
	}
	factory := a.opts.backends[typ]
	if factory == nil {
		if typ == "" {
			return task.Errorf(task.CodeInvalidPropertyValue, "backend.type", "", "no backend is registered with the account (engine.WithBackend)")
		}
		return task.Invalid("backend.type", typ, "no backend of this type is registered with the account")
	}
	r, err := a.addPool(spec, typ, factory)
	if err != nil || a.store == nil {
		return err
	}
	// The pool's first round writes it.
	return r.step(nil)
}

// addPool makes a pool's core, backend and runner.
func (a *Account) addPool(spec pool.Spec, typ string, factory BackendFactory) (*runner, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.usable(); err != nil {
		return nil, err
	}
	key := task.FoldID(spec.ID)
	if a.pools[key] != nil {
		return nil, task.Errorf(task.CodePoolExists, "id", spec.ID, "a pool with this id already exists")
	}
	cfg := pool.Config{Now: a.opts.clock()}
	if a.opts.policy != nil {
		cfg.Policy = a.opts.policy(spec)
	}
	core, err := pool.NewScheduler(spec, cfg)
	if err != nil {
		return nil, err
	}
	b, err := factory(spec)
	if err != nil {
		return nil, task.WithFieldPrefix("backend", &task.Error{Code: task.CodeInvalidPropertyValue, Value: typ, Message: err.Error()})
	}
	r := newRunner(a, core, b)
	a.pools[key] = r
	return r, nil
}

// GetPool returns a pool's record.
func (a *Account) GetPool(ctx context.Context, id string) (pool.Pool, error) {
	r, err := a.poolRunner(id)
	if err != nil {
		return pool.Pool{}, err
	}
	var p pool.Pool
	err = r.read(func(c *pool.Scheduler) error { p = c.Pool(); return nil })
	return p, err
}

// ListPools returns every pool's record, ordered by id.
func (a *Account) ListPools(ctx context.Context) ([]pool.Pool, error) {
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		return nil, ErrAccountClosed
	}
	runners := make([]*runner, 0, len(a.pools))
	for _, r := range a.pools {
		runners = append(runners, r)
	}
	a.mu.RUnlock()
	out := make([]pool.Pool, 0, len(runners))
	for _, r := range runners {
		_ = r.read(func(c *pool.Scheduler) error { out = append(out, c.Pool()); return nil })
	}
	slices.SortFunc(out, func(x, y pool.Pool) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// ResizePool sets new target node counts (see pool.Resize).
func (a *Account) ResizePool(ctx context.Context, id string, rs pool.Resize) error {
	r, err := a.poolRunner(id)
	if err != nil {
		return err
	}
	return r.step(rs)
}

// StopResizePool stops a resize in progress.
func (a *Account) StopResizePool(ctx context.Context, id string) error {
	r, err := a.poolRunner(id)
	if err != nil {
		return err
	}
	return r.step(pool.StopResize{})
}

// DeletePool releases the pool's nodes (running tasks are requeued) and
// removes the pool, and with it the jobs bound to it, once every node has
// left. Unlike Azure, jobs live inside their pool in embatch.
func (a *Account) DeletePool(ctx context.Context, id string) error {
	r, err := a.poolRunner(id)
	if err != nil {
		return err
	}
	return r.step(pool.DeletePool{})
}

// poolDeleted forgets a pool whose nodes have all left.
func (a *Account) poolDeleted(r *runner) {
	a.mu.Lock()
	if a.pools[task.FoldID(r.id)] == r {
		delete(a.pools, task.FoldID(r.id))
	}
	for k, jr := range a.jobPools {
		if jr == r {
			delete(a.jobPools, k)
		}
	}
	a.mu.Unlock()
	go r.close()
}

// WaitPoolSteady waits until the pool's allocation state is steady and none
// of its nodes is still starting.
func (a *Account) WaitPoolSteady(ctx context.Context, id string) error {
	r, err := a.poolRunner(id)
	if err != nil {
		return err
	}
	return r.waitFor(ctx, func(c *pool.Scheduler) (bool, error) {
		if c.Pool().AllocationState != pool.AllocationSteady {
			return false, nil
		}
		for _, n := range c.Nodes() {
			switch n.State {
			case pool.NodeCreating, pool.NodeStarting, pool.NodeWaitingForStartTask:
				return false, nil
			}
		}
		return true, nil
	})
}

// ListNodes returns the pool's nodes in creation order.
func (a *Account) ListNodes(ctx context.Context, poolID string) ([]pool.Node, error) {
	r, err := a.poolRunner(poolID)
	if err != nil {
		return nil, err
	}
	var out []pool.Node
	err = r.read(func(c *pool.Scheduler) error { out = c.Nodes(); return nil })
	return out, err
}

// GetNode returns one node.
func (a *Account) GetNode(ctx context.Context, poolID, nodeID string) (pool.Node, error) {
	r, err := a.poolRunner(poolID)
	if err != nil {
		return pool.Node{}, err
	}
	var n pool.Node
	err = r.read(func(c *pool.Scheduler) error { n, err = c.Node(nodeID); return err })
	return n, err
}

// RemoveNodes removes named nodes from a pool, lowering its targets.
func (a *Account) RemoveNodes(ctx context.Context, poolID string, nodeIDs []string, opt pool.DeallocationOption) error {
	r, err := a.poolRunner(poolID)
	if err != nil {
		return err
	}
	return r.step(pool.RemoveNodes{Nodes: nodeIDs, DeallocationOption: opt})
}

// DisableNodeScheduling stops new tasks on a node; opt says what happens to
// running ones (requeue by default).
func (a *Account) DisableNodeScheduling(ctx context.Context, poolID, nodeID string, opt pool.DeallocationOption) error {
	r, err := a.poolRunner(poolID)
	if err != nil {
		return err
	}
	return r.step(pool.SetNodeScheduling{Node: nodeID, Option: opt})
}

// EnableNodeScheduling lets a node take tasks again.
func (a *Account) EnableNodeScheduling(ctx context.Context, poolID, nodeID string) error {
	r, err := a.poolRunner(poolID)
	if err != nil {
		return err
	}
	return r.step(pool.SetNodeScheduling{Node: nodeID, Enabled: true})
}

// ---- jobs ----

// AddJob adds a job to the pool its poolInfo names. With an
// autoPoolSpecification, a pool is created for the job first (its id is the
// prefix, if any, "_" and the job id, cut to 64 characters; the job's
// executionInfo.poolId names it) and its lifetime is the job's (see
// autopool.go); poolLifetimeOption jobschedule is only for job schedules.
// Unlike Azure, the pool must exist: a job for an unknown pool is rejected.
func (a *Account) AddJob(ctx context.Context, spec task.JobSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	a.mu.Lock()
	if err := a.usable(); err != nil {
		a.mu.Unlock()
		return err
	}
	if a.jobPools[task.FoldID(spec.ID)] != nil {
		a.mu.Unlock()
		return task.Errorf(task.CodeJobExists, "id", spec.ID, "a job with this id already exists")
	}
	if err := a.jobScheduleIDTaken(spec.ID); err != nil {
		a.mu.Unlock()
		return err
	}
	a.mu.Unlock()
	poolID := spec.PoolInfo.PoolID
	if ap := spec.PoolInfo.AutoPoolSpecification; ap != nil {
		if ap.PoolLifetimeOption == poolLifetimeJobSchedule {
			return task.Invalid("poolInfo.autoPoolSpecification.poolLifetimeOption", ap.PoolLifetimeOption, "only a job schedule's jobSpecification may use jobschedule")
		}
		poolID = autoPoolID(ap.AutoPoolIDPrefix, spec.ID)
		if err := a.createAutoPool(ctx, ap, poolID); err != nil {
			return err
		}
	}
	r, err := a.poolRunner(poolID)
	if err != nil {
		return task.WithFieldPrefix("poolInfo", err)
	}
	// The id is taken before the step, which (in durable mode) waits for
	// the job to be durable without holding the account lock.
	a.mu.Lock()
	key := task.FoldID(spec.ID)
	if a.jobPools[key] != nil {
		a.mu.Unlock()
		return task.Errorf(task.CodeJobExists, "id", spec.ID, "a job with this id already exists")
	}
	if err := a.jobScheduleIDTaken(spec.ID); err != nil {
		a.mu.Unlock()
		return err
	}
	a.jobPools[key] = r
	a.mu.Unlock()
	if err := r.step(pool.AddJob{Spec: spec}); err != nil {
		a.mu.Lock()
		if a.jobPools[key] == r {
			delete(a.jobPools, key)
		}
		a.mu.Unlock()
		if spec.PoolInfo.AutoPoolSpecification != nil {
			_ = r.step(pool.DeletePool{}) // no half-added job
		}
		return err
	}
	if jobAutoPool(&spec) {
		a.watchAutoPool(r, spec.ID)
	}
	return nil
}

// GetJob returns a job's record.
func (a *Account) GetJob(ctx context.Context, id string) (task.Job, error) {
	r, err := a.jobRunner(id)
	if err != nil {
		return task.Job{}, err
	}
	var j task.Job
	err = r.read(func(c *pool.Scheduler) error { j, err = c.Job(id); return err })
	return j, err
}

// ListJobs returns every job's record, ordered by pool then arrival.
func (a *Account) ListJobs(ctx context.Context) ([]task.Job, error) {
	pools, err := a.ListPools(ctx)
	if err != nil {
		return nil, err
	}
	var out []task.Job
	for _, p := range pools {
		r, err := a.poolRunner(p.ID)
		if err != nil {
			continue
		}
		_ = r.read(func(c *pool.Scheduler) error { out = append(out, c.Jobs()...); return nil })
	}
	return out, nil
}

// TerminateJob ends a job: running tasks are killed and its release tasks
// run. reason defaults to "UserTerminate".
func (a *Account) TerminateJob(ctx context.Context, id, reason string) error {
	r, err := a.jobRunner(id)
	if err != nil {
		return err
	}
	return r.step(pool.TerminateJob{JobID: id, Reason: reason})
}

// DisableJob stops scheduling a job's tasks; opt says what happens to the
// running ones (requeue by default).
func (a *Account) DisableJob(ctx context.Context, id string, opt pool.DisableJobOption) error {
	r, err := a.jobRunner(id)
	if err != nil {
		return err
	}
	return r.step(pool.DisableJob{JobID: id, Option: opt})
}

// EnableJob resumes a disabled job.
func (a *Account) EnableJob(ctx context.Context, id string) error {
	r, err := a.jobRunner(id)
	if err != nil {
		return err
	}
	return r.step(pool.EnableJob{JobID: id})
}

// DeleteJob kills the job's running tasks and forgets the job and its tasks.
// It returns once the job is gone.
func (a *Account) DeleteJob(ctx context.Context, id string) error {
	r, err := a.jobRunner(id)
	if err != nil {
		return err
	}
	if err := r.step(pool.DeleteJob{JobID: id}); err != nil {
		return err
	}
	err = r.waitFor(ctx, func(c *pool.Scheduler) (bool, error) {
		_, err := c.Job(id)
		return errors.Is(err, task.ErrJobNotFound), nil
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	if a.jobPools[task.FoldID(id)] == r {
		delete(a.jobPools, task.FoldID(id))
	}
	a.mu.Unlock()
	return nil
}

// WaitJob waits until the job has completed or can make no further progress
// on its own (nothing runs and no task is ready: the remaining active tasks
// wait on failed dependencies, or the job is disabled), and returns its
// record.
func (a *Account) WaitJob(ctx context.Context, id string) (task.Job, error) {
	r, err := a.jobRunner(id)
	if err != nil {
		return task.Job{}, err
	}
	var j task.Job
	err = r.waitFor(ctx, func(c *pool.Scheduler) (bool, error) {
		ok, err := c.Settled(id)
		if ok {
			j, err = c.Job(id)
		}
		return ok, err
	})
	return j, err
}

// ---- tasks ----

// AddTask adds one task to a job.
func (a *Account) AddTask(ctx context.Context, jobID string, t task.TaskSpec) error {
	return a.AddTasks(ctx, jobID, []task.TaskSpec{t})
}

// AddTasks adds a collection of tasks of any size, all or nothing: if one
// is invalid the error names it (as tasks[i].field) and none is added.
func (a *Account) AddTasks(ctx context.Context, jobID string, tasks []task.TaskSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := a.jobRunner(jobID)
	if err != nil {
		return err
	}
	return r.step(pool.AddTasks{JobID: jobID, Tasks: tasks})
}

// GetTask returns a task's record.
func (a *Account) GetTask(ctx context.Context, jobID, taskID string) (task.Task, error) {
	r, err := a.jobRunner(jobID)
	if err != nil {
		return task.Task{}, err
	}
	var t task.Task
	err = r.read(func(c *pool.Scheduler) error { t, err = c.Task(jobID, taskID); return err })
	return t, err
}

// TaskFilter selects tasks in ListTasks. The zero filter selects all.
type TaskFilter struct {
	// State, when valid, selects tasks in that state.
	State task.TaskState
	// Match, when set, selects tasks for which it returns true.
	Match func(*task.Task) bool
}

func (f TaskFilter) keep(t *task.Task) bool {
	if f.State != task.TaskStateInvalid && t.State != f.State {
		return false
	}
	return f.Match == nil || f.Match(t)
}

// taskPageSize is how many task records Tasks copies per lock.
const taskPageSize = 512

// Tasks iterates over a job's tasks in arrival order, a page at a time, so
// that a large job is never copied whole. Tasks added during the iteration
// may be visited. An error (job not found, account closed) is yielded once.
func (a *Account) Tasks(ctx context.Context, jobID string, f TaskFilter) iter.Seq2[task.Task, error] {
	return func(yield func(task.Task, error) bool) {
		r, err := a.jobRunner(jobID)
		if err != nil {
			yield(task.Task{}, err)
			return
		}
		var page []task.Task
		for from := 0; ; from += taskPageSize {
			if err := ctx.Err(); err != nil {
				yield(task.Task{}, err)
				return
			}
			page = page[:0]
			err := r.read(func(c *pool.Scheduler) error {
				var err error
				page, err = c.TaskPage(jobID, from, taskPageSize, page)
				return err
			})
			if err != nil {
				yield(task.Task{}, err)
				return
			}
			for i := range page {
				if f.keep(&page[i]) && !yield(page[i], nil) {
					return
				}
			}
			if len(page) < taskPageSize {
				return
			}
		}
	}
}

// ListTasks returns the job's tasks that pass f, in arrival order.
func (a *Account) ListTasks(ctx context.Context, jobID string, f TaskFilter) ([]task.Task, error) {
	var out []task.Task
	for t, err := range a.Tasks(ctx, jobID, f) {
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// TaskCounts returns a job's task and slot counts by state.
func (a *Account) TaskCounts(ctx context.Context, jobID string) (task.JobTaskCounts, error) {
	r, err := a.jobRunner(jobID)
	if err != nil {
		return task.JobTaskCounts{}, err
	}
	var tc task.JobTaskCounts
	err = r.read(func(c *pool.Scheduler) error { tc, err = c.TaskCounts(jobID); return err })
	return tc, err
}

// TerminateTask ends a task: a running attempt is killed and the task
// completes as failed.
func (a *Account) TerminateTask(ctx context.Context, jobID, taskID string) error {
	r, err := a.jobRunner(jobID)
	if err != nil {
		return err
	}
	return r.step(pool.TerminateTask{JobID: jobID, TaskID: taskID})
}

// WaitTask waits until a task has completed and returns its record.
func (a *Account) WaitTask(ctx context.Context, jobID, taskID string) (task.Task, error) {
	r, err := a.jobRunner(jobID)
	if err != nil {
		return task.Task{}, err
	}
	var t task.Task
	err = r.waitFor(ctx, func(c *pool.Scheduler) (bool, error) {
		var err error
		t, err = c.Task(jobID, taskID)
		return err == nil && t.State == task.TaskCompleted, err
	})
	return t, err
}

// WhyNotRunning says why an active task is not running (for people and
// logs), or "" if it is running or done.
func (a *Account) WhyNotRunning(ctx context.Context, jobID, taskID string) (pool.Reason, error) {
	r, err := a.jobRunner(jobID)
	if err != nil {
		return "", err
	}
	var why pool.Reason
	err = r.read(func(c *pool.Scheduler) error { why, err = c.Why(jobID, taskID); return err })
	return why, err
}

// Subscribe returns a subscription to every state change in the account
// from now on; filter, if not nil, selects the events Next returns. The
// filter runs in Next, on the subscriber's goroutine, so it may call the
// account; events it drops are still queued until Next reaches them.
func (a *Account) Subscribe(filter func(*Event) bool) *Subscription {
	s := &Subscription{hub: &a.subs, filter: filter, notify: make(chan struct{}, 1)}
	a.subs.add(s)
	return s
}

// ---- files ----

// ListTaskFiles lists a task's files (stdout.txt, stderr.txt, wd/...) on
// the node where it last ran, if the pool's backend can read files.
func (a *Account) ListTaskFiles(ctx context.Context, jobID, taskID string, recursive bool) ([]node.FileInfo, error) {
	fr, nodeID, err := a.taskFiles(ctx, jobID, taskID)
	if err != nil {
		return nil, err
	}
	return fr.ListTaskFiles(ctx, nodeID, jobID, taskID, recursive)
}

// ReadTaskFile reads one of a task's files by its name relative to the task
// directory; names that escape it are rejected.
func (a *Account) ReadTaskFile(ctx context.Context, jobID, taskID, name string) ([]byte, error) {
	fr, nodeID, err := a.taskFiles(ctx, jobID, taskID)
	if err != nil {
		return nil, err
	}
	return fr.ReadTaskFile(ctx, nodeID, jobID, taskID, name)
}

func (a *Account) taskFiles(ctx context.Context, jobID, taskID string) (node.FileReader, string, error) {
	r, err := a.jobRunner(jobID)
	if err != nil {
		return nil, "", err
	}
	t, err := a.GetTask(ctx, jobID, taskID)
	if err != nil {
		return nil, "", err
	}
	if t.NodeInfo == nil {
		return nil, "", task.Errorf(task.CodeOperationInvalidForState, "taskId", taskID, "the task has not run on a node yet")
	}
	fr, ok := r.backend.(node.FileReader)
	if !ok {
		return nil, "", task.Errorf(task.CodeOperationInvalidForState, "poolId", r.id, "the pool's backend cannot read task files")
	}
	return fr, t.NodeInfo.NodeID, nil
}
