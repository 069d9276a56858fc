package engine

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/embatch/embatch/engine/internal/store"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// runner owns one pool's scheduling core. API calls step the core under mu
// and kick the loop; backend callbacks post events to the inbox. The loop
// drains the inbox, asks the core for Ready, performs the actions and
// publishes changes, so many events share one scheduling pass.
type runner struct {
	acct    *Account
	id      string
	backend node.Backend
	// slotsPerNode is the pool's taskSlotsPerNode, fixed at creation.
	slotsPerNode int

	mu      sync.Mutex
	core    *pool.Scheduler
	changed chan struct{} // closed and replaced after each round with changes

	inboxMu sync.Mutex
	inbox   []pool.Event
	// reqs are user events waiting for the loop (durable mode only).
	reqs []*stepReq

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	// owned by the loop goroutine
	tel     *poolTelemetry
	cancels map[uint64]context.CancelFunc
	ctx     context.Context
	cancel  context.CancelFunc
	actions []pool.Action
	events  []Event
	spare   []pool.Event

	// store is the account's store; nil in memory mode.
	store *store.Store
	// owned by the loop goroutine, like the fields above
	spareReqs   []*stepReq
	removeDirs  []pool.Change
	batch       store.Batch
	seen        map[changeKey]struct{}
	lastCompact time.Time
	// mayCompact: the pool has (had) completed tasks, so the retention
	// sweep has work; an idle pool does not wake up for it.
	mayCompact bool
	// gone is set once the pool's deletion is durable: the loop does
	// nothing more.
	gone bool
}

// stepReq is a user event for the loop to apply (durable mode): the loop
// steps it in its next round and answers once the round is durable. A nil
// event only waits for the round.
type stepReq struct {
	ev   pool.Event
	err  error
	done chan error
}

func newRunner(a *Account, core *pool.Scheduler, b node.Backend) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	spec := core.Pool().Spec
	r := &runner{
		acct:         a,
		id:           spec.ID,
		slotsPerNode: spec.Slots(),
		backend:      b,
		core:         core,
		changed:      make(chan struct{}),
		kick:         make(chan struct{}, 1),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
		cancels:      make(map[uint64]context.CancelFunc),
		tel:          a.tel.forPool(spec.ID),
		ctx:          ctx,
		cancel:       cancel,
		store:        a.store,
		lastCompact:  a.opts.clock(),
	}
	for _, j := range core.Jobs() {
		if tc, err := core.TaskCounts(j.ID); err == nil && tc.TaskCounts.Completed > 0 {
			r.mayCompact = true
			break
		}
	}
	if w, ok := b.(node.NodeWatcher); ok {
		w.WatchNodes(r.nodeEvent)
	}
	go r.loop()
	r.poke()
	return r
}

// poke wakes the loop without blocking.
func (r *runner) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// post queues an event from a backend callback.
func (r *runner) post(ev pool.Event) {
	r.inboxMu.Lock()
	r.inbox = append(r.inbox, ev)
	r.inboxMu.Unlock()
	r.poke()
}

// step applies a user's event and returns its error. In memory mode it
// steps the core at once; in durable mode the loop steps it in its next
// round, and step returns once that round is durable (a nil event then
// only waits for the round).
func (r *runner) step(ev pool.Event) error {
	if r.store != nil {
		return r.stepDurable(ev)
	}
	r.mu.Lock()
	err := r.core.Step(r.acct.opts.clock(), ev)
	r.mu.Unlock()
	r.poke()
	return err
}

func (r *runner) stepDurable(ev pool.Event) error {
	q := &stepReq{ev: ev, done: make(chan error, 1)}
	r.inboxMu.Lock()
	r.reqs = append(r.reqs, q)
	r.inboxMu.Unlock()
	r.poke()
	select {
	case err := <-q.done:
		return err
	case <-r.done:
		select {
		case err := <-q.done:
			return err
		default:
			return ErrAccountClosed
		}
	}
}

// read runs f with the core locked.
func (r *runner) read(f func(c *pool.Scheduler) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f(r.core)
}

// waitFor blocks until cond (checked with the core locked) is true.
func (r *runner) waitFor(ctx context.Context, cond func(c *pool.Scheduler) (bool, error)) error {
	for {
		r.mu.Lock()
		ok, err := cond(r.core)
		ch := r.changed
		r.mu.Unlock()
		if err != nil || ok {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.done:
			return ErrAccountClosed
		case <-r.acct.failed.ch:
			return r.acct.failed.get()
		}
	}
}

func (r *runner) loop() {
	defer close(r.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-r.kick:
		case <-timer.C:
		case <-r.stop:
			r.shutdown()
			return
		}
		r.round(timer)
	}
}

// round handles everything pending: inbox events, user events (durable
// mode), due timers, the retention sweep, the core's Ready. In durable
// mode the round's changes are durable before the lock is released, and
// actions are performed, callers answered and events published only then,
// outside the lock: nobody learns of a change that is not durable.
func (r *runner) round(timer *time.Timer) {
	r.inboxMu.Lock()
	evs, reqs := r.inbox, r.reqs
	r.inbox, r.reqs = r.spare[:0], r.spareReqs[:0]
	r.inboxMu.Unlock()
	defer func() {
		clear(evs)
		r.spare = evs
		clear(reqs)
		r.spareReqs = reqs
	}()

	r.mu.Lock()
	if err := r.acct.failed.get(); err != nil || r.gone {
		// A stopped account, or a deleted pool, does nothing more.
		r.mu.Unlock()
		if err == nil {
			err = task.Errorf(task.CodePoolNotFound, "poolId", r.id, "the pool was deleted")
		}
		answer(reqs, err)
		return
	}
	now := r.acct.opts.clock()
	for _, ev := range evs {
		_ = r.core.Step(now, ev) // backend reports are never rejected
		if e, ok := ev.(pool.AttemptExited); ok {
			if cancel := r.cancels[e.ID]; cancel != nil {
				cancel()
				delete(r.cancels, e.ID)
			}
			r.tel.exited(now, e)
		}
	}
	for _, q := range reqs {
		if q.ev != nil {
			q.err = r.core.Step(now, q.ev)
		}
	}
	if ret := r.acct.opts.retention; ret > 0 && r.mayCompact && now.Sub(r.lastCompact) >= compactEvery {
		_ = r.core.Step(now, pool.CompactTasks{Default: ret})
		r.lastCompact = now
	}
	if d := r.core.NextDeadline(); !d.IsZero() && !d.After(now) {
		_ = r.core.Step(now, pool.Tick{})
	}
	rd := r.core.Ready()
	deleted := r.core.Deleted()
	if r.store != nil {
		if err := r.persist(rd.Changes, deleted); err != nil {
			r.acct.failed.set(err)
			r.core.Advance(rd)
			r.mu.Unlock()
			answer(reqs, err)
			return
		}
		r.gone = deleted
	}
	r.tel.changes(r, now, rd.Changes)
	r.actions = append(r.actions[:0], rd.Actions...)
	subscribed := r.acct.subs.active()
	r.events = r.events[:0]
	r.removeDirs = r.removeDirs[:0]
	for _, c := range rd.Changes {
		if subscribed {
			r.events = append(r.events, eventOf(r.id, now, c))
		}
		switch {
		case c.Kind == pool.ChangeTask && c.TaskState == task.TaskCompleted:
			r.mayCompact = true
		case c.Kind == pool.ChangeTaskDeleted && c.NodeID != "":
			r.removeDirs = append(r.removeDirs, c)
		}
	}
	hadChanges := len(rd.Changes) > 0
	r.core.Advance(rd)
	if hadChanges {
		close(r.changed)
		r.changed = make(chan struct{})
	}
	// Wake up for the next deadline, and for the next retention sweep
	// while there may be something to compact.
	var next time.Duration
	if r.acct.opts.retention > 0 && r.mayCompact {
		next = compactEvery
	}
	if d := r.core.NextDeadline(); !d.IsZero() {
		next = max(d.Sub(now), time.Millisecond)
		if r.acct.opts.retention > 0 && r.mayCompact {
			next = min(next, compactEvery)
		}
	}
	if next > 0 {
		timer.Reset(next)
	}
	r.mu.Unlock()
	r.tel.round(now, r.acct.opts.clock())

	answer(reqs, nil)
	for i := range r.actions {
		r.perform(now, &r.actions[i])
	}
	clear(r.actions)
	r.removeTaskDirs()
	if subscribed {
		r.acct.subs.publish(r.events)
	}
	if deleted {
		r.acct.poolDeleted(r)
	}
}

// answer replies to user events: each gets its own step error, or else
// err.
func answer(reqs []*stepReq, err error) {
	for _, q := range reqs {
		if q.err == nil {
			q.err = err
		}
		q.done <- q.err
	}
}

// removeTaskDirs deletes the directories of compacted tasks, if the
// backend can.
func (r *runner) removeTaskDirs() {
	if len(r.removeDirs) == 0 {
		return
	}
	rm, ok := r.backend.(node.TaskDirRemover)
	if !ok {
		return
	}
	list := slices.Clone(r.removeDirs)
	go func() {
		for _, c := range list {
			_ = rm.RemoveTaskDir(r.ctx, c.NodeID, c.JobID, c.TaskID)
		}
	}()
}

func (r *runner) perform(now time.Time, a *pool.Action) {
	switch a.Kind {
	case pool.ActAllocateNode:
		info := node.NodeInfo{PoolID: r.id, NodeID: a.Node, Slots: r.slotsPerNode, Dedicated: a.Dedicated}
		go func() {
			if err := r.backend.AddNode(r.ctx, info); err != nil {
				r.post(pool.NodeFailed{Node: info.NodeID, Reason: err.Error()})
				return
			}
			r.post(pool.NodeReady{Node: info.NodeID})
		}()
	case pool.ActReleaseNode:
		id := a.Node
		go func() { _ = r.backend.RemoveNode(context.WithoutCancel(r.ctx), id) }()
	case pool.ActStartAttempt:
		na := r.nodeAttempt(a.Attempt)
		r.tel.started(now, a.Attempt, na)
		ctx, cancel := context.WithCancel(r.ctx)
		r.cancels[na.ID] = cancel
		id := na.ID
		nodeID := na.NodeID
		r.backend.Start(ctx, na, func(res node.Result) {
			if fi := res.FailureInfo; fi != nil && fi.Category == task.ServerError && fi.Code == task.FailureNodeLost {
				r.post(pool.NodeFailed{Node: nodeID, Reason: fi.Message})
			}
			r.post(pool.AttemptExited{ID: id, Outcome: res.Kind, ExitCode: res.ExitCode, Failure: res.FailureInfo, TaskRootDirectory: res.TaskRootDirectory})
		})
	case pool.ActKillAttempt:
		r.tel.killed(now, a.Attempt.ID, a.Reason)
		if cancel := r.cancels[a.Attempt.ID]; cancel != nil {
			cancel()
		}
	}
}

// nodeAttempt translates the core's decision into what a backend runs.
func (r *runner) nodeAttempt(pa *pool.Attempt) *node.Attempt {
	na := &node.Attempt{
		ID:        pa.ID,
		PoolID:    r.id,
		JobID:     pa.JobID,
		TaskID:    pa.TaskID,
		NodeID:    pa.Nodes[0],
		Dedicated: pa.Dedicated,
		Retry:     pa.Retry,
	}
	if len(pa.Nodes) > 1 {
		na.Nodes = pa.Nodes
	}
	if pa.Job != nil {
		na.JobHasPreparation = pa.Job.JobPreparationTask != nil
	}
	switch pa.Kind {
	case pool.AttemptTask:
		t := pa.Task
		na.Kind = node.KindTask
		na.CommandLine = t.CommandLine
		na.Env = mergeEnv(pa.Job.CommonEnvironmentSettings, t.EnvironmentSettings)
		na.ResourceFiles = t.ResourceFiles
		na.OutputFiles = t.OutputFiles
		if m := t.MultiInstanceSettings; m != nil {
			na.CoordinationCommandLine = m.CoordinationCommandLine
			na.CommonResourceFiles = m.CommonResourceFiles
		}
	case pool.AttemptStartTask:
		st := pa.StartTask
		na.Kind = node.KindStartTask
		na.CommandLine = st.CommandLine
		na.Env = st.EnvironmentSettings
		na.ResourceFiles = st.ResourceFiles
	case pool.AttemptJobPreparation:
		pt := pa.Job.JobPreparationTask
		na.Kind = node.KindJobPreparation
		na.CommandLine = pt.CommandLine
		na.Env = mergeEnv(pa.Job.CommonEnvironmentSettings, pt.EnvironmentSettings)
		na.ResourceFiles = pt.ResourceFiles
	case pool.AttemptJobRelease:
		rt := pa.Job.JobReleaseTask
		na.Kind = node.KindJobRelease
		na.CommandLine = rt.CommandLine
		na.Env = mergeEnv(pa.Job.CommonEnvironmentSettings, rt.EnvironmentSettings)
		na.ResourceFiles = rt.ResourceFiles
	}
	return na
}

// mergeEnv returns the job's common settings overridden by the task's own.
func mergeEnv(common, own []task.EnvironmentSetting) []task.EnvironmentSetting {
	if len(common) == 0 {
		return own
	}
	if len(own) == 0 {
		return common
	}
	out := make([]task.EnvironmentSetting, 0, len(common)+len(own))
	for _, c := range common {
		overridden := false
		for _, o := range own {
			if o.Name == c.Name {
				overridden = true
				break
			}
		}
		if !overridden {
			out = append(out, c)
		}
	}
	return append(out, own...)
}

// shutdown kills everything still running and releases the backend.
func (r *runner) shutdown() {
	r.cancel()
	r.tel.shutdown(r.acct.opts.clock())
	if c, ok := r.backend.(node.Closer); ok {
		_ = c.Close()
	}
}

// close stops the loop and waits for it.
func (r *runner) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// nodeEvent turns a backend's health report into a core event.
func (r *runner) nodeEvent(e node.NodeEvent) {
	switch e.Health {
	case node.NodeLost:
		r.post(pool.NodeFailed{Node: e.NodeID, Reason: e.Reason})
	case node.NodePreempted:
		r.post(pool.NodeFailed{Node: e.NodeID, Preempted: true, Reason: e.Reason})
	case node.NodeBack:
		r.post(pool.NodeReady{Node: e.NodeID})
	}
}
