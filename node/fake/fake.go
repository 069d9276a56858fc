// Package fake is a scriptable in-memory node backend for engine tests.
//
// Every call is recorded in an ordered log (Calls). An attempt passed to
// Start stays running until the test finishes it with Finish or Exit, unless
// a Behavior finishes it at once. Tests wait for attempts to start with
// WaitStarted or WaitRunning instead of sleeping. AddNode can be made to fail
// or block with an AddNode hook, and LoseNode simulates a node vanishing.
//
// Cancelling the ctx given to Start finishes the attempt with
// TerminatedResult (unless WithManualCancel), as a real backend kills the
// attempt and reports the kill.
//
// Results are delivered by calling done: from the test's goroutine for
// Finish, Exit and LoseNode (so the test controls the order), and from a new
// goroutine for a Behavior's immediate result, a cancellation, or a Start on
// an unknown node. Used inside a testing/synctest bubble, the Backend must be
// created inside the bubble.
package fake

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// Exit codes of the results the fake makes up.
const (
	// ExitCodeTerminated is TerminatedResult's exit code (128+SIGKILL), as
	// the inprocess backend reports.
	ExitCodeTerminated = 137
	// ExitCodeNotRun is the exit code of results for attempts a node could
	// not run or lost (NotRunResult, NodeLostResult).
	ExitCodeNotRun = -1
)

// CodeNodeLost is the FailureInfo.Code of NodeLostResult.
const CodeNodeLost = "NodeLost"

// Op names a recorded call.
type Op uint8

// Recorded operations. The zero value is invalid.
const (
	OpInvalid Op = iota
	// OpAddNode: AddNode was called (recorded on entry, before the hook).
	OpAddNode
	// OpRemoveNode: RemoveNode was called.
	OpRemoveNode
	// OpStart: Start was called.
	OpStart
	// OpCancel: the ctx of a running attempt was cancelled.
	OpCancel
	// OpDone: done was called for an attempt.
	OpDone
	// OpLoseNode: the test called LoseNode.
	OpLoseNode
	// OpClose: Close was called.
	OpClose
)

var opNames = [...]string{"invalid", "addnode", "removenode", "start", "cancel", "done", "losenode", "close"}

// String names the op.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Call is one entry of the call log.
type Call struct {
	Op     Op
	NodeID string // empty for OpClose
	// AttemptID is set for OpStart, OpCancel and OpDone.
	AttemptID uint64
	// ExitCode and FailureCode (FailureInfo.Code, or "") describe the result
	// of an OpDone.
	ExitCode    int
	FailureCode string
}

// Behavior decides what happens when an attempt starts: if finish is true the
// attempt finishes at once with r (done is called from a new goroutine);
// otherwise it runs until the test finishes it. A nil Behavior holds every
// attempt.
type Behavior func(a *node.Attempt) (r node.Result, finish bool)

// ExitWith is a Behavior that finishes every attempt at once with
// ExitResult(code(a)).
func ExitWith(code func(a *node.Attempt) int) Behavior {
	return func(a *node.Attempt) (node.Result, bool) { return ExitResult(code(a)), true }
}

// AddNodeFunc is called by AddNode before the node is added; an error fails
// AddNode and the node is not added. It may block (honour ctx) to simulate a
// slow node.
type AddNodeFunc func(ctx context.Context, n node.NodeInfo) error

// Option configures a Backend.
type Option interface {
	apply(*Backend)
}

type optionFunc func(*Backend)

func (f optionFunc) apply(b *Backend) { f(b) }

// WithBehavior sets the initial Behavior (default: hold every attempt).
func WithBehavior(f Behavior) Option { return optionFunc(func(b *Backend) { b.behavior = f }) }

// WithAddNode sets the initial AddNode hook (default: none, AddNode
// succeeds).
func WithAddNode(f AddNodeFunc) Option { return optionFunc(func(b *Backend) { b.addNode = f }) }

// WithManualCancel makes a cancelled ctx only record OpCancel: the attempt
// keeps running until the test finishes it, as a process that ignores the
// kill would.
func WithManualCancel() Option { return optionFunc(func(b *Backend) { b.manualCancel = true }) }

// ExitResult is an attempt that exited with code: task.OutcomeExited, and for
// a non-zero code FailureInfo usererror/task.FailureNonZeroExit.
func ExitResult(code int) node.Result {
	r := node.Result{Kind: task.OutcomeExited, ExitCode: code}
	if code != 0 {
		r.FailureInfo = &task.FailureInfo{Category: task.UserError, Code: task.FailureNonZeroExit, Message: "exit status " + strconv.Itoa(code)}
	}
	return r
}

// TerminatedResult is what a cancelled attempt reports: exit code
// ExitCodeTerminated and FailureInfo usererror/task.FailureTaskTerminated.
func TerminatedResult() node.Result {
	return node.Result{
		Kind:        task.OutcomeExited,
		ExitCode:    ExitCodeTerminated,
		FailureInfo: &task.FailureInfo{Category: task.UserError, Code: task.FailureTaskTerminated, Message: "the task was terminated"},
	}
}

// NotRunResult is what Start on an unknown (never added, removed or lost)
// node reports: task.OutcomePreProcessingError, ExitCodeNotRun, FailureInfo
// servererror/task.CodeNodeNotFound, as the inprocess backend does.
func NotRunResult(nodeID string) node.Result {
	return node.Result{
		Kind:        task.OutcomePreProcessingError,
		ExitCode:    ExitCodeNotRun,
		FailureInfo: &task.FailureInfo{Category: task.ServerError, Code: task.CodeNodeNotFound, Message: "node " + strconv.Quote(nodeID) + " is not in this backend"},
	}
}

// NodeLostResult is what attempts running on a node report when LoseNode
// loses it: task.OutcomePreProcessingError, ExitCodeNotRun, FailureInfo
// servererror/CodeNodeLost.
func NodeLostResult(nodeID string) node.Result {
	return node.Result{
		Kind:        task.OutcomePreProcessingError,
		ExitCode:    ExitCodeNotRun,
		FailureInfo: &task.FailureInfo{Category: task.ServerError, Code: CodeNodeLost, Message: "node " + strconv.Quote(nodeID) + " was lost"},
	}
}

// Backend is the fake. It implements node.Backend and node.Closer and is safe
// for concurrent use.
type Backend struct {
	mu           sync.Mutex
	behavior     Behavior
	addNode      AddNodeFunc
	manualCancel bool
	closed       bool
	nodes        map[string]node.NodeInfo
	lost         map[string]bool
	attempts     map[uint64]*attempt
	started      []*attempt
	running      int
	calls        []Call
	// changed is closed, and replaced, whenever anything above changes, so
	// that waiters wake up.
	changed chan struct{}
}

type attempt struct {
	a         *node.Attempt
	done      func(node.Result)
	start     time.Time
	finished  bool
	stopWatch func() bool // stops the ctx watcher
}

var (
	_ node.Backend = (*Backend)(nil)
	_ node.Closer  = (*Backend)(nil)
)

// New returns a fake with no nodes.
func New(opts ...Option) *Backend {
	b := &Backend{
		nodes:    map[string]node.NodeInfo{},
		lost:     map[string]bool{},
		attempts: map[uint64]*attempt{},
		changed:  make(chan struct{}),
	}
	for _, o := range opts {
		o.apply(b)
	}
	return b
}

// SetBehavior replaces the Behavior for attempts started from now on.
func (b *Backend) SetBehavior(f Behavior) {
	b.mu.Lock()
	b.behavior = f
	b.mu.Unlock()
}

// SetAddNode replaces the AddNode hook for calls from now on.
func (b *Backend) SetAddNode(f AddNodeFunc) {
	b.mu.Lock()
	b.addNode = f
	b.mu.Unlock()
}

// record appends to the log and wakes waiters. b.mu must be held.
func (b *Backend) record(c Call) {
	b.calls = append(b.calls, c)
	b.notify()
}

func (b *Backend) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// AddNode records the call, runs the AddNode hook, then adds the node. A
// node id already added (and not removed) is an error, as is a closed
// backend.
func (b *Backend) AddNode(ctx context.Context, n node.NodeInfo) error {
	b.mu.Lock()
	b.record(Call{Op: OpAddNode, NodeID: n.NodeID})
	hook := b.addNode
	b.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, n); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return task.Errorf(task.CodeOperationInvalidForState, "nodeId", n.NodeID, "the backend is closed")
	}
	if _, ok := b.nodes[n.NodeID]; ok {
		return task.Errorf(task.CodeOperationInvalidForState, "nodeId", n.NodeID, "the node was already added")
	}
	b.nodes[n.NodeID] = n
	delete(b.lost, n.NodeID)
	b.notify()
	return nil
}

// RemoveNode records the call and forgets the node. Attempts still running on
// it keep running (the engine cancels them first). An unknown node is a
// task.CodeNodeNotFound error; a lost node is removed without error.
func (b *Backend) RemoveNode(ctx context.Context, nodeID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record(Call{Op: OpRemoveNode, NodeID: nodeID})
	if _, ok := b.nodes[nodeID]; !ok && !b.lost[nodeID] {
		return task.Errorf(task.CodeNodeNotFound, "nodeId", nodeID, "the node is not in this backend")
	}
	delete(b.nodes, nodeID)
	delete(b.lost, nodeID)
	return nil
}

// Start records the attempt and applies the Behavior. On an unknown node, or
// for an attempt id already started, it reports NotRunResult from a new
// goroutine and the attempt is not counted as started.
func (b *Backend) Start(ctx context.Context, a *node.Attempt, done func(node.Result)) {
	b.mu.Lock()
	b.record(Call{Op: OpStart, NodeID: a.NodeID, AttemptID: a.ID})
	_, known := b.nodes[a.NodeID]
	_, dup := b.attempts[a.ID]
	if !known || dup || b.closed {
		r := NotRunResult(a.NodeID)
		if dup {
			r.FailureInfo.Message = "attempt " + strconv.FormatUint(a.ID, 10) + " was already started"
		}
		now := time.Now()
		r.StartTime, r.EndTime = now, now
		b.mu.Unlock()
		go b.deliver(a, done, r)
		return
	}
	at := &attempt{a: a, done: done, start: time.Now()}
	b.attempts[a.ID] = at
	b.started = append(b.started, at)
	b.running++
	behavior := b.behavior
	b.mu.Unlock()

	// The watcher is set before any result can be delivered, and finish
	// stops it; AfterFunc runs its func in a new goroutine, so this cannot
	// deadlock even if ctx is already cancelled.
	stop := context.AfterFunc(ctx, func() { b.cancelled(a.ID) })
	b.mu.Lock()
	if at.finished {
		stop()
	} else {
		at.stopWatch = stop
	}
	b.mu.Unlock()

	if behavior != nil {
		if r, ok := behavior(a); ok {
			go func() { _ = b.Finish(a.ID, r) }()
		}
	}
}

// deliver records OpDone and calls done, for attempts never started.
func (b *Backend) deliver(a *node.Attempt, done func(node.Result), r node.Result) {
	b.mu.Lock()
	b.record(doneCall(a, r))
	b.mu.Unlock()
	done(r)
}

func doneCall(a *node.Attempt, r node.Result) Call {
	c := Call{Op: OpDone, NodeID: a.NodeID, AttemptID: a.ID, ExitCode: r.ExitCode}
	if r.FailureInfo != nil {
		c.FailureCode = r.FailureInfo.Code
	}
	return c
}

func (b *Backend) cancelled(id uint64) {
	b.mu.Lock()
	at := b.attempts[id]
	if at == nil || at.finished {
		b.mu.Unlock()
		return
	}
	b.record(Call{Op: OpCancel, NodeID: at.a.NodeID, AttemptID: id})
	manual := b.manualCancel
	b.mu.Unlock()
	if !manual {
		_ = b.Finish(id, TerminatedResult())
	}
}

// Finish ends a running attempt with r, calling its done before returning.
// A zero r.StartTime becomes the time Start was called and a zero r.EndTime
// now. It is an error (task.CodeOperationInvalidForState) if the attempt was
// never started or has already finished.
func (b *Backend) Finish(attemptID uint64, r node.Result) error {
	b.mu.Lock()
	at := b.attempts[attemptID]
	if at == nil || at.finished {
		b.mu.Unlock()
		why := "was never started"
		if at != nil {
			why = "has already finished"
		}
		return task.Errorf(task.CodeOperationInvalidForState, "attemptId", attemptID, "the attempt %s", why)
	}
	b.finishLocked(at, &r)
	b.mu.Unlock()
	at.done(r)
	return nil
}

// finishLocked marks at finished and records OpDone. b.mu must be held; the
// caller calls at.done(*r) after unlocking.
func (b *Backend) finishLocked(at *attempt, r *node.Result) {
	at.finished = true
	b.running--
	if at.stopWatch != nil {
		at.stopWatch()
	}
	if r.StartTime.IsZero() {
		r.StartTime = at.start
	}
	if r.EndTime.IsZero() {
		r.EndTime = time.Now()
	}
	b.record(doneCall(at.a, *r))
}

// Exit finishes a running attempt with ExitResult(code).
func (b *Backend) Exit(attemptID uint64, code int) error {
	return b.Finish(attemptID, ExitResult(code))
}

// LoseNode makes a node vanish: it leaves the node list (Start on it reports
// NotRunResult; RemoveNode still succeeds once), and every attempt running on
// it (Attempt.NodeID or any of Attempt.Nodes) finishes with NodeLostResult,
// in start order, done being called before LoseNode returns. An unknown node
// is a task.CodeNodeNotFound error.
func (b *Backend) LoseNode(nodeID string) error {
	b.mu.Lock()
	if _, ok := b.nodes[nodeID]; !ok {
		b.mu.Unlock()
		return task.Errorf(task.CodeNodeNotFound, "nodeId", nodeID, "the node is not in this backend")
	}
	b.record(Call{Op: OpLoseNode, NodeID: nodeID})
	delete(b.nodes, nodeID)
	b.lost[nodeID] = true
	type delivery struct {
		at *attempt
		r  node.Result
	}
	var ds []delivery
	for _, at := range b.started {
		if !at.finished && (at.a.NodeID == nodeID || slices.Contains(at.a.Nodes, nodeID)) {
			r := NodeLostResult(nodeID)
			b.finishLocked(at, &r)
			ds = append(ds, delivery{at, r})
		}
	}
	b.mu.Unlock()
	for _, d := range ds {
		d.at.done(d.r)
	}
	return nil
}

// Close records the call and finishes every running attempt with
// TerminatedResult, so that each done is called exactly once. Later AddNode
// calls fail and later Starts report NotRunResult.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.record(Call{Op: OpClose})
	b.closed = true
	var ats []*attempt
	var rs []node.Result
	for _, at := range b.started {
		if !at.finished {
			r := TerminatedResult()
			b.finishLocked(at, &r)
			ats = append(ats, at)
			rs = append(rs, r)
		}
	}
	b.mu.Unlock()
	for i, at := range ats {
		at.done(rs[i])
	}
	return nil
}

// Calls returns a copy of the call log, oldest first.
func (b *Backend) Calls() []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// Started returns every attempt started so far, finished or not, in start
// order.
func (b *Backend) Started() []*node.Attempt {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.startedLocked(len(b.started))
}

func (b *Backend) startedLocked(n int) []*node.Attempt {
	out := make([]*node.Attempt, n)
	for i, at := range b.started[:n] {
		out[i] = at.a
	}
	return out
}

// Running returns the attempts started and not finished, in start order.
func (b *Backend) Running() []*node.Attempt {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runningLocked()
}

func (b *Backend) runningLocked() []*node.Attempt {
	out := make([]*node.Attempt, 0, b.running)
	for _, at := range b.started {
		if !at.finished {
			out = append(out, at.a)
		}
	}
	return out
}

// Nodes returns the nodes added and not removed or lost, by node id.
func (b *Backend) Nodes() []node.NodeInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]node.NodeInfo, 0, len(b.nodes))
	for _, n := range b.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(x, y node.NodeInfo) int { return cmp.Compare(x.NodeID, y.NodeID) })
	return out
}

// wait blocks until cond (called with b.mu held) is true or ctx is done.
func (b *Backend) wait(ctx context.Context, cond func() bool) error {
	for {
		b.mu.Lock()
		if cond() {
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitStarted blocks until at least n attempts have been started in total
// (finished ones included) and returns the first n in start order, or
// returns ctx's error.
func (b *Backend) WaitStarted(ctx context.Context, n int) ([]*node.Attempt, error) {
	var out []*node.Attempt
	err := b.wait(ctx, func() bool {
		if len(b.started) < n {
			return false
		}
		out = b.startedLocked(n)
		return true
	})
	return out, err
}

// WaitRunning blocks until at least n attempts are running (started and not
// finished) and returns all running attempts in start order, or returns
// ctx's error.
func (b *Backend) WaitRunning(ctx context.Context, n int) ([]*node.Attempt, error) {
	var out []*node.Attempt
	err := b.wait(ctx, func() bool {
		if b.running < n {
			return false
		}
		out = b.runningLocked()
		return true
	})
	return out, err
}

// WaitCalls blocks until the call log holds at least n calls and returns a
// copy of it, or returns ctx's error.
func (b *Backend) WaitCalls(ctx context.Context, n int) ([]Call, error) {
	var out []Call
	err := b.wait(ctx, func() bool {
		if len(b.calls) < n {
			return false
		}
		out = slices.Clone(b.calls)
		return true
	})
	return out, err
}
