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
	// appliedSeq counts the rounds (durable mode) whose records went to
	// the store, durableSeq those that are durable; durableCh is closed
	// and replaced whenever durableSeq grows. Guarded by mu.
	appliedSeq, durableSeq uint64
	durableCh              chan struct{}

	inboxMu sync.Mutex
	inbox   []pool.Event
	// reqs are user events waiting for the loop (durable mode only).
	reqs []*stepReq

	kick     chan struct{}
	stop     chan struct{} // closed once (stopOnce) to stop the loop
	stopOnce sync.Once
	done     chan struct{}

	// owned by the loop goroutine
	tel     *poolTelemetry
	cancels map[uint64]context.CancelFunc
	ctx     context.Context
	cancel  context.CancelFunc
	spare   []pool.Event

	// store is the account's store; nil in memory mode.
	store *store.Store
	// commits receives the store's answers for the rounds in flight, in
	// order (durable mode).
	commits chan error
	// owned by the loop goroutine, like the fields above
	inflight     []*pendingRound
	sparePending []*pendingRound
	spareBatches []*store.Batch
	seen         map[changeKey]struct{}
	lastCompact  time.Time
	// mayCompact: the pool has (had) completed tasks, so the retention
	// sweep has work; an idle pool does not wake up for it.
	mayCompact bool
	// gone is set once a round deleted the pool: the loop does nothing
	// more.
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
		durableCh:    make(chan struct{}),
		commits:      make(chan error, maxInFlight),
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

// read runs f with the core locked. In durable mode it returns only once
// the state f saw is durable, so that nobody reads what a crash could
// undo.
func (r *runner) read(f func(c *pool.Scheduler) error) error {
	r.mu.Lock()
	err := f(r.core)
	seq := r.appliedSeq
	r.mu.Unlock()
	if derr := r.waitDurable(seq); derr != nil {
		return derr
	}
	return err
}

// peek runs f with the core locked, without waiting for durability: for
// telemetry only (gauges of the state as it is), never for answers.
func (r *runner) peek(f func(c *pool.Scheduler)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.core)
}

// waitFor blocks until cond (checked with the core locked) is true, and,
// in durable mode, the state it saw is durable.
func (r *runner) waitFor(ctx context.Context, cond func(c *pool.Scheduler) (bool, error)) error {
	for {
		r.mu.Lock()
		ok, err := cond(r.core)
		ch, seq := r.changed, r.appliedSeq
		r.mu.Unlock()
		if err != nil || ok {
			if derr := r.waitDurable(seq); derr != nil {
				return derr
			}
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

// waitDurable returns once the rounds up to seq (counted by appliedSeq)
// are durable; at once in memory mode. A round takes about one sync.
func (r *runner) waitDurable(seq uint64) error {
	if r.store == nil {
		return nil
	}
	for {
		// A stopped account answers with its error, whatever the reader
		// saw: a round that failed to commit never became durable.
		if err := r.acct.failed.get(); err != nil {
			return err
		}
		r.mu.Lock()
		ok, ch := r.durableSeq >= seq, r.durableCh
		r.mu.Unlock()
		if ok {
			return nil
		}
		if h := r.acct.opts.onDurableWait; h != nil {
			h()
		}
		select {
		case <-ch:
		case <-r.acct.failed.ch:
			return r.acct.failed.get()
		case <-r.done:
			// The loop finishes every round in flight before it stops.
			r.mu.Lock()
			ok = r.durableSeq >= seq
			r.mu.Unlock()
			if ok {
				return nil
			}
			return ErrAccountClosed
		}
	}
}

// maxInFlight bounds the rounds of a durable pool waiting for their
// commits; beyond it the loop waits for the oldest before it starts
// another round.
const maxInFlight = 8

// pendingRound is what a round leaves to do once its changes are durable:
// answer callers, perform actions, publish events. In memory mode it is
// finished at once; in durable mode when its commit (and every earlier
// round's) is durable, so that nobody learns of a change a crash could
// undo, and a task's running state is durable before it starts.
type pendingRound struct {
	now  time.Time
	reqs []*stepReq
	// err answers reqs that have no error of their own (the pool was
	// deleted, the account stopped).
	err        error
	actions    []pool.Action
	events     []Event
	removeDirs []pool.Change
	// jobChanges and exited are for telemetry: the round's job changes
	// and the attempt exits it stepped.
	jobChanges []jobChange
	exited     []pool.AttemptExited
	// deleted: the round deleted the pool.
	deleted bool
	// batch holds the round's records, being committed; nil when the
	// round wrote nothing.
	batch *store.Batch
	// seq is the round's number among rounds that wrote (appliedSeq).
	seq uint64
	// submitted is when the batch went to the store (for telemetry).
	submitted time.Time
}

// loop is the pool's owner goroutine. In durable mode it pipelines:
// while one round's commit is in flight it already steps the next, up to
// maxInFlight rounds, and finishes them in order as their commits land.
func (r *runner) loop() {
	defer close(r.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	due := false // a round is wanted
	for {
		if due && len(r.inflight) < maxInFlight {
			due = false
			r.round(timer)
		}
		var commits chan error
		if len(r.inflight) > 0 {
			commits = r.commits
		}
		select {
		case <-r.kick:
			due = true
		case <-timer.C:
			due = true
		case err := <-commits:
			r.finishCommitted(err, true)
		case <-r.stop:
			for len(r.inflight) > 0 {
				r.finishCommitted(<-r.commits, false)
			}
			r.shutdown()
			return
		}
	}
}

// finishCommitted finishes the oldest round in flight, whose commit
// returned err, and the rounds after it that wrote nothing. perform is
// false when the pool is stopping: the rounds' callers are answered and
// events published, but nothing new is started.
func (r *runner) finishCommitted(err error, perform bool) {
	// The oldest round in flight always has a batch: rounds without one
	// are finished as soon as nothing before them is in flight (queue,
	// and the loop below).
	p := r.inflight[0]
	r.inflight = r.inflight[1:]
	r.tel.committed(time.Since(p.submitted), p.batch.Len())
	r.finish(p, err, perform)
	for len(r.inflight) > 0 && r.inflight[0].batch == nil {
		p := r.inflight[0]
		r.inflight = r.inflight[1:]
		r.finish(p, nil, perform)
	}
}

// round handles everything pending: inbox events, user events (durable
// mode), due timers, the retention sweep, the core's Ready. It steps the
// core under the lock; in durable mode it hands the round's records to
// the store and leaves the rest (answers, actions, events) to finish once
// they are durable.
func (r *runner) round(timer *time.Timer) {
	r.inboxMu.Lock()
	evs, reqs := r.inbox, r.reqs
	r.inbox, r.reqs = r.spare[:0], nil
	r.inboxMu.Unlock()
	defer func() {
		clear(evs)
		r.spare = evs
	}()
	p := r.newPending(reqs)

	r.mu.Lock()
	if err := r.acct.failed.get(); err != nil || r.gone {
		// A stopped account, or a deleted pool, does nothing more.
		r.mu.Unlock()
		if err == nil {
			err = task.Errorf(task.CodePoolNotFound, "poolId", r.id, "the pool was deleted")
		}
		p.err = err
		r.queue(p)
		return
	}
	now := r.acct.opts.clock()
	p.now = now
	for _, ev := range evs {
		_ = r.core.Step(now, ev) // backend reports are never rejected
		if e, ok := ev.(pool.AttemptExited); ok {
			if cancel := r.cancels[e.ID]; cancel != nil {
				cancel()
				delete(r.cancels, e.ID)
			}
			p.exited = append(p.exited, e)
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
	p.deleted = r.core.Deleted()
	if r.store != nil {
		b := r.newBatch()
		if err := r.encode(b, rd.Changes, p.deleted); err != nil {
			r.acct.failed.set(err)
			r.appliedSeq++ // readers of what this round changed get the error
			r.core.Advance(rd)
			r.mu.Unlock()
			r.spareBatches = append(r.spareBatches, b)
			p.err = err
			r.queue(p)
			return
		}
		if b.Len() > 0 {
			r.appliedSeq++
			p.batch, p.seq = b, r.appliedSeq
		} else {
			r.spareBatches = append(r.spareBatches, b)
		}
		r.gone = p.deleted
	}
	for _, c := range rd.Changes {
		if c.Kind == pool.ChangeJob || c.Kind == pool.ChangeJobDeleted {
			jc := jobChange{Change: c}
			if c.Kind == pool.ChangeJob && c.JobState == task.JobCompleted {
				if j, err := r.core.Job(c.JobID); err == nil {
					jc.endReason = j.ExecutionInfo.TerminationReason
				}
			}
			p.jobChanges = append(p.jobChanges, jc)
		}
	}
	p.actions = append(p.actions, rd.Actions...)
	subscribed := r.acct.subs.active()
	for _, c := range rd.Changes {
		if subscribed {
			p.events = append(p.events, eventOf(r.id, now, c))
		}
		switch {
		case c.Kind == pool.ChangeTask && c.TaskState == task.TaskCompleted:
			r.mayCompact = true
		case c.Kind == pool.ChangeTaskDeleted && c.NodeID != "":
			p.removeDirs = append(p.removeDirs, c)
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
	r.queue(p)
}

// queue finishes p at once when nothing before it waits for a commit (and
// it wrote nothing), or else puts it in flight, handing its batch to the
// store.
func (r *runner) queue(p *pendingRound) {
	if p.batch == nil && len(r.inflight) == 0 {
		r.finish(p, nil, true)
		return
	}
	r.inflight = append(r.inflight, p)
	if p.batch != nil {
		p.submitted = time.Now()
		r.store.CommitAsync(p.batch, r.commits)
	}
}

// finish does what a round left to do once it is durable (or its commit
// failed with err): answer its callers, perform its actions (unless
// perform is false), publish its events.
func (r *runner) finish(p *pendingRound, err error, perform bool) {
	if err != nil {
		r.acct.failed.set(err)
	} else {
		// A round after a failed one is not durable either (and a
		// "pool deleted" answer is wrong if the deletion failed).
		err = r.acct.failed.get()
	}
	if p.batch != nil {
		if err == nil {
			r.mu.Lock()
			r.durableSeq = p.seq
			close(r.durableCh)
			r.durableCh = make(chan struct{})
			r.mu.Unlock()
		}
		p.batch.Reset()
		r.spareBatches = append(r.spareBatches, p.batch)
	}
	if err == nil {
		err = p.err
	}
	answer(p.reqs, err)
	if err == nil {
		// Telemetry too reports only durable changes.
		r.tel.jobChanges(p.now, p.jobChanges)
		for _, e := range p.exited {
			r.tel.exited(p.now, e)
		}
		if perform {
			for i := range p.actions {
				r.perform(p.now, &p.actions[i])
			}
		}
		r.removeTaskDirs(p.removeDirs)
		if len(p.events) > 0 {
			r.acct.subs.publish(p.events)
		}
		if p.deleted {
			r.acct.poolDeleted(r)
		}
	}
	r.recycle(p)
}

// newPending returns an empty pendingRound for reqs, reusing a finished
// one's slices.
func (r *runner) newPending(reqs []*stepReq) *pendingRound {
	var p *pendingRound
	if n := len(r.sparePending); n > 0 {
		p = r.sparePending[n-1]
		r.sparePending = r.sparePending[:n-1]
	} else {
		p = &pendingRound{}
	}
	p.reqs = reqs
	return p
}

// recycle keeps p's slices for a later round.
func (r *runner) recycle(p *pendingRound) {
	clear(p.actions)
	clear(p.events)
	clear(p.removeDirs)
	clear(p.jobChanges)
	clear(p.exited)
	*p = pendingRound{actions: keep(p.actions), events: keep(p.events), removeDirs: keep(p.removeDirs),
		jobChanges: keep(p.jobChanges), exited: keep(p.exited)}
	r.sparePending = append(r.sparePending, p)
}

// maxKept bounds the capacity of a buffer kept for later rounds: a round
// that added a million tasks does not leave a million-entry buffer behind.
const maxKept = 4096

// keep returns s emptied for reuse, or nil if it is too large to keep.
func keep[S ~[]E, E any](s S) S {
	if cap(s) > maxKept {
		return nil
	}
	return s[:0]
}

// newBatch returns an empty store batch, reusing a committed one.
func (r *runner) newBatch() *store.Batch {
	if n := len(r.spareBatches); n > 0 {
		b := r.spareBatches[n-1]
		r.spareBatches = r.spareBatches[:n-1]
		b.Reset()
		return b
	}
	return &store.Batch{}
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
func (r *runner) removeTaskDirs(dirs []pool.Change) {
	if len(dirs) == 0 {
		return
	}
	rm, ok := r.backend.(node.TaskDirRemover)
	if !ok {
		return
	}
	list := slices.Clone(dirs)
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
	r.stopOnce.Do(func() { close(r.stop) })
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
