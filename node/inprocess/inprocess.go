// Package inprocess is a node backend whose compute nodes are pond worker
// pools in the current process and whose tasks are Go functions.
//
// A task's command line names a registered Handler: the line is split into
// words with node.SplitCommandLine, the first word is the handler name and the
// rest are its arguments. Each node is a github.com/alitto/pond/v2 pool with
// maximum concurrency equal to the node's slot count, so a node never runs more
// handlers at once than it has slots even if the engine oversubscribes it (the
// excess waits in the pool's queue).
//
// # Outcomes
//
// How a handler ends decides the node.Result the engine receives:
//
//   - returns nil: task.OutcomeExited, exit code 0, no FailureInfo.
//   - returns an error wrapping *ExitError: exit code ExitError.Code with
//     FailureInfo usererror/task.FailureNonZeroExit (code 0 means success).
//   - returns any other error: exit code ExitCodeError (1) with FailureInfo
//     usererror/task.FailureNonZeroExit and the error's text as the message.
//   - panics (or calls runtime.Goexit): recovered; exit code ExitCodePanic (2,
//     what the Go runtime exits with on an unrecovered panic) with FailureInfo
//     usererror/task.FailureTaskPanicked, the panic value in the message and
//     the value and stack in Details ("panic", "stack").
//   - the attempt's ctx is cancelled (terminate, wall-clock timeout) before the
//     handler returns: exit code ExitCodeTerminated (137, as for SIGKILL) with
//     FailureInfo usererror/task.FailureTaskTerminated, whatever the handler
//     returned (unless it panicked). The handler sees the cancellation through
//     its ctx; cancellation is cooperative, see WithAbandonAfter.
//   - the handler name is not registered or the command line cannot be split:
//     task.OutcomePreProcessingError, exit code ExitCodeNotFound (127, as a
//     shell reports), FailureInfo usererror/task.FailureCommandNotFound.
//   - the node is unknown, removed, or the backend is closed:
//     task.OutcomePreProcessingError, exit code ExitCodeNotRun (-1),
//     FailureInfo servererror with code task.CodeNodeNotFound; the handler
//     does not run.
//
// # Output
//
// Task.Stdout and Task.Stderr are in-memory streams served by the
// node.FileReader capability as "stdout.txt" and "stderr.txt". Each stream
// keeps only its last WithOutputLimit bytes (default DefaultOutputLimit) and
// allocates nothing until the handler first writes. A task that never wrote
// lists both files with length 0. Output lives until RemoveTaskDir, RemoveNode
// or Close, or until a later attempt of the same task on the same node starts
// (Azure reuses the task directory).
//
// In-process tasks have no directories: Result.TaskRootDirectory is empty and
// the AZ_BATCH_*_DIR variables are not set.
//
// # Multi-instance tasks
//
// Start of a KindTask attempt with a CoordinationCommandLine runs that
// command's handler once per instance node (Attempt.InstanceNodes), all at
// once on goroutines of the primary's worker (secondary nodes' pools and
// slots are not used: the scheduler has reserved them), waits for all, and
// then runs the main handler on the primary. The first failing instance in
// node order decides the result; its message is prefixed with
// "coordinationCommandLine: ". All instances write to the primary's
// stdout.txt and stderr.txt.
package inprocess

import (
	"context"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alitto/pond/v2"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// Exit codes the backend reports for outcomes that are not a handler's own
// ExitError. See the package documentation.
const (
	// ExitCodeError is reported when a handler returns an error that does not
	// wrap *ExitError.
	ExitCodeError = 1
	// ExitCodePanic is reported when a handler panics or calls
	// runtime.Goexit, as the Go runtime exits with 2 on an unrecovered panic.
	ExitCodePanic = 2
	// ExitCodeNotFound is reported when the handler is not registered or the
	// command line cannot be split, as a shell reports 127.
	ExitCodeNotFound = 127
	// ExitCodeTerminated is reported when the attempt's ctx was cancelled
	// before the handler returned: 128+SIGKILL, what a killed process reports
	// through a shell on Linux.
	ExitCodeTerminated = 137
	// ExitCodeNotRun is reported when the node could not run the attempt at
	// all (unknown or removed node, closed backend).
	ExitCodeNotRun = -1
)

// DefaultOutputLimit is how many trailing bytes of each of a task's stdout
// and stderr are kept when WithOutputLimit is not given: 64 KiB.
const DefaultOutputLimit = 64 << 10

// Option configures a Backend.
type Option interface {
	apply(*Backend)
}

type optionFunc func(*Backend)

func (f optionFunc) apply(b *Backend) { f(b) }

// WithOutputLimit sets how many trailing bytes of each stdout and stderr
// stream a task keeps (default DefaultOutputLimit). Older bytes are dropped.
// Zero discards all output; a negative value is treated as zero.
func WithOutputLimit(bytes int) Option {
	return optionFunc(func(b *Backend) { b.outputLimit = max(bytes, 0) })
}

// WithAbandonAfter makes the backend stop waiting for a handler that ignores
// its cancelled ctx: d after the attempt's ctx is cancelled, done reports the
// terminated result even though the handler is still running. The abandoned
// handler keeps its pond worker, and so its node slot, until it returns; its
// later writes to Stdout and Stderr are still kept. By default (or with d < 0)
// the backend waits for the handler to return, however long that takes, so
// that a slot the engine sees as free is free. d == 0 reports as soon as ctx
// is cancelled.
func WithAbandonAfter(d time.Duration) Option {
	return optionFunc(func(b *Backend) { b.abandonAfter = d })
}

// Backend is a node.Backend that runs registered Go handlers on per-node pond
// pools. It also implements node.FileReader, node.TaskDirRemover and
// node.Closer. Create it with New; it is safe for concurrent use.
type Backend struct {
	outputLimit  int
	abandonAfter time.Duration // < 0: never abandon

	// handlers and nodes are copy-on-write: Start reads them with one atomic
	// load and no lock; Register, AddNode and RemoveNode copy under mu.
	handlers atomic.Pointer[map[string]Handler]
	nodes    atomic.Pointer[map[string]*nodeState]
	closed   atomic.Bool
	mu       sync.Mutex
}

var (
	_ node.Backend        = (*Backend)(nil)
	_ node.FileReader     = (*Backend)(nil)
	_ node.TaskDirRemover = (*Backend)(nil)
	_ node.Closer         = (*Backend)(nil)
)

// New returns a Backend with no nodes and no handlers.
func New(opts ...Option) *Backend {
	b := &Backend{outputLimit: DefaultOutputLimit, abandonAfter: -1}
	for _, o := range opts {
		o.apply(b)
	}
	h := map[string]Handler{}
	b.handlers.Store(&h)
	n := map[string]*nodeState{}
	b.nodes.Store(&n)
	return b
}

// maxHandlerNameLen bounds handler names; a name is one command-line word.
const maxHandlerNameLen = 256

// Register makes h runnable under name: a command line whose first word is
// name runs h. The name must be 1 to 256 characters of letters, digits and
// "-_.:/@+" so that it is one word of a command line without quoting; h must
// not be nil. Registering a name twice is an error. Handlers may be
// registered while attempts run; attempts already started keep the handler
// set they saw.
func (b *Backend) Register(name string, h Handler) error {
	if err := validHandlerName(name); err != nil {
		return err
	}
	if h == nil {
		return task.Invalid("handler", name, "the handler func is nil")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.handlers.Load()
	if _, ok := old[name]; ok {
		return task.Errorf(task.CodeInvalidPropertyValue, "handler", name, "a handler with this name is already registered")
	}
	m := maps.Clone(old)
	m[name] = h
	b.handlers.Store(&m)
	return nil
}

func validHandlerName(name string) error {
	if name == "" {
		return task.Missing("handler")
	}
	if len(name) > maxHandlerNameLen {
		return task.Invalid("handler", name, "the name is longer than %d characters", maxHandlerNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '@' || c == '+':
		default:
			return task.Invalid("handler", name, "character %q at position %d is not allowed; use letters, digits and -_.:/@+", c, i)
		}
	}
	return nil
}

// nodeState is one node: its pool and its tasks' retained output.
type nodeState struct {
	b         *Backend
	info      node.NodeInfo
	dedicated string // "true" or "false", for AZ_BATCH_NODE_IS_DEDICATED
	pool      pond.Pool
	// stopPool cancels the pool's context, which makes pool.Go fail. We do
	// not use pond's Pool.Stop: it waits on pond's process-wide default pool,
	// which breaks testing/synctest bubbles.
	stopPool context.CancelFunc
	removed  atomic.Bool
	// inflight counts attempts submitted to the pool whose handler has not
	// returned; idle is closed once the node is removed and inflight is 0.
	inflight atomic.Int64
	idle     chan struct{}
	idleOnce sync.Once

	filesMu sync.Mutex
	// nfiles is len(files), read without filesMu so that starting an attempt
	// on a node with no retained output takes no lock.
	nfiles atomic.Int64
	files  map[fileKey]*taskFiles
}

type fileKey struct{ job, task string }

// AddNode creates the node's pond pool with max concurrency n.Slots. The
// node id must be new (a removed node's id may be reused) and Slots at
// least 1.
func (b *Backend) AddNode(ctx context.Context, n node.NodeInfo) error {
	if n.NodeID == "" {
		return task.Missing("nodeId")
	}
	if n.Slots < 1 {
		return task.Invalid("taskSlotsPerNode", n.Slots, "a node needs at least 1 slot")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return task.Errorf(task.CodeOperationInvalidForState, "nodeId", n.NodeID, "the backend is closed")
	}
	old := *b.nodes.Load()
	if _, ok := old[n.NodeID]; ok {
		return task.Errorf(task.CodeOperationInvalidForState, "nodeId", n.NodeID, "the node was already added")
	}
	pctx, stop := context.WithCancel(context.Background())
	ns := &nodeState{
		b:         b,
		info:      n,
		dedicated: strconv.FormatBool(n.Dedicated),
		pool:      pond.NewPool(n.Slots, pond.WithContext(pctx)),
		stopPool:  stop,
		idle:      make(chan struct{}),
	}
	m := maps.Clone(old)
	m[n.NodeID] = ns
	b.nodes.Store(&m)
	return nil
}

// RemoveNode stops the node's pool and drops its tasks' output. Attempts
// still queued on the node do not run their handlers (they report a
// terminated result if their ctx is cancelled, a servererror otherwise).
// RemoveNode waits until every handler started on the node has returned
// (abandoned ones included, see WithAbandonAfter), or until ctx is done.
func (b *Backend) RemoveNode(ctx context.Context, nodeID string) error {
	b.mu.Lock()
	old := *b.nodes.Load()
	ns, ok := old[nodeID]
	if ok {
		m := maps.Clone(old)
		delete(m, nodeID)
		b.nodes.Store(&m)
	}
	b.mu.Unlock()
	if !ok {
		return task.Errorf(task.CodeNodeNotFound, "nodeId", nodeID, "the node is not in this backend")
	}
	return ns.stop(ctx)
}

func (ns *nodeState) stop(ctx context.Context) error {
	ns.removed.Store(true)
	ns.stopPool()
	ns.filesMu.Lock()
	ns.files = nil
	ns.nfiles.Store(0)
	ns.filesMu.Unlock()
	if ns.inflight.Load() == 0 {
		ns.signalIdle()
	}
	select {
	case <-ns.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release is called when an attempt submitted to the pool is over. Either
// it or stop sees inflight 0 after removed is set, so idle gets closed.
func (ns *nodeState) release() {
	if ns.inflight.Add(-1) == 0 && ns.removed.Load() {
		ns.signalIdle()
	}
}

func (ns *nodeState) signalIdle() { ns.idleOnce.Do(func() { close(ns.idle) }) }

// Close removes every node, waiting until every handler has returned (the
// engine cancels attempts before closing; a handler that ignores its ctx
// makes Close wait for it). Later
// AddNode calls fail and later Start calls report ExitCodeNotRun. Close is
// idempotent.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed.Store(true)
	old := *b.nodes.Load()
	empty := map[string]*nodeState{}
	b.nodes.Store(&empty)
	b.mu.Unlock()
	for _, ns := range old {
		_ = ns.stop(context.Background())
	}
	return nil
}

// Start submits the attempt to its node's pool and returns at once: the
// pools' queues are unbounded, so Start never blocks on a busy node. done is
// called exactly once, from a pool worker, or from a new goroutine when the
// node is unknown or stopped.
func (b *Backend) Start(ctx context.Context, a *node.Attempt, done func(node.Result)) {
	ns := (*b.nodes.Load())[a.NodeID]
	if ns == nil {
		go done(notRun(a.NodeID, "is not in this backend"))
		return
	}
	ns.inflight.Add(1)
	// One allocation: the closure holds everything the worker needs.
	if err := ns.pool.Go(func() { defer ns.release(); ns.b.run(ctx, ns, a, done) }); err != nil {
		ns.release()
		go done(notRun(a.NodeID, "was removed"))
	}
}

func notRun(nodeID, why string) node.Result {
	now := time.Now()
	return node.Result{
		Kind:     task.OutcomePreProcessingError,
		ExitCode: ExitCodeNotRun,
		FailureInfo: &task.FailureInfo{
			Category: task.ServerError,
			Code:     task.CodeNodeNotFound,
			Message:  "node " + strconv.Quote(nodeID) + " " + why,
		},
		StartTime: now,
		EndTime:   now,
	}
}

func preProcessing(msg string, now time.Time) node.Result {
	return node.Result{
		Kind:        task.OutcomePreProcessingError,
		ExitCode:    ExitCodeNotFound,
		FailureInfo: &task.FailureInfo{Category: task.UserError, Code: task.FailureCommandNotFound, Message: msg},
		StartTime:   now,
		EndTime:     now,
	}
}

func terminated(ctx context.Context, handlerErr error, start, end time.Time) node.Result {
	msg := "the task was terminated"
	if c := context.Cause(ctx); c != nil {
		msg += ": " + c.Error()
	}
	fi := &task.FailureInfo{Category: task.UserError, Code: task.FailureTaskTerminated, Message: msg}
	if handlerErr != nil {
		fi.Details = []task.NameValue{{Name: "handlerError", Value: handlerErr.Error()}}
	}
	return node.Result{Kind: task.OutcomeExited, ExitCode: ExitCodeTerminated, FailureInfo: fi, StartTime: start, EndTime: end}
}

// run executes one attempt on a pool worker.
func (b *Backend) run(ctx context.Context, ns *nodeState, a *node.Attempt, done func(node.Result)) {
	if ctx.Err() != nil {
		now := time.Now()
		done(terminated(ctx, nil, now, now))
		return
	}
	if ns.removed.Load() {
		done(notRun(a.NodeID, "was removed"))
		return
	}
	handlers := *b.handlers.Load()
	name, args, err := splitCommandLine(a.CommandLine)
	if err != nil {
		done(preProcessing(err.Error(), time.Now()))
		return
	}
	h := handlers[name]
	if h == nil {
		done(preProcessing("handler "+strconv.Quote(name)+" is not registered with the inprocess backend", time.Now()))
		return
	}
	if ns.nfiles.Load() > 0 {
		// A new attempt of a task replaces its previous attempt's output.
		ns.dropFiles(fileKey{a.JobID, a.TaskID})
	}
	t := &Task{
		Attempt: a,
		Name:    name,
		Args:    args,
		NodeID:  a.NodeID,
		node:    ns,
		limit:   b.outputLimit,
	}
	t.Stdout, t.Stderr = (*stdoutWriter)(t), (*stderrWriter)(t)

	start := time.Now()
	var ab *abandoner
	if b.abandonAfter >= 0 && ctx.Done() != nil {
		ab = b.watch(ctx, start, done)
	}
	finished := false
	defer func() {
		if !finished {
			// The handler called runtime.Goexit: report it on the way out.
			r := outcome{kind: outcomeGoexit}.result(ctx, start, time.Now())
			if ab == nil || ab.finish() {
				done(r)
			}
		}
	}()
	r := b.execute(ctx, t, h, handlers, start)
	finished = true
	if ab == nil || ab.finish() {
		done(r)
	}
}

// execute runs the coordination command (multi-instance tasks) then the
// handler, and turns how they ended into a Result.
func (b *Backend) execute(ctx context.Context, t *Task, h Handler, handlers map[string]Handler, start time.Time) node.Result {
	a := t.Attempt
	if a.CoordinationCommandLine != "" && a.Kind == node.KindTask {
		if r, failed := b.coordinate(ctx, t, handlers, start); failed {
			return r
		}
	}
	o := call(ctx, h, t)
	return o.result(ctx, start, time.Now())
}

// abandoner implements WithAbandonAfter: whichever of "the handler returned"
// and "ctx was cancelled abandonAfter ago" comes first reports.
type abandoner struct {
	reported atomic.Bool
	returned chan struct{}
	stop     func() bool
}

func (b *Backend) watch(ctx context.Context, start time.Time, done func(node.Result)) *abandoner {
	ab := &abandoner{returned: make(chan struct{})}
	ab.stop = context.AfterFunc(ctx, func() {
		if b.abandonAfter > 0 {
			timer := time.NewTimer(b.abandonAfter)
			defer timer.Stop()
			select {
			case <-ab.returned:
				return
			case <-timer.C:
			}
		}
		if ab.reported.CompareAndSwap(false, true) {
			done(terminated(ctx, nil, start, time.Now()))
		}
	})
	return ab
}

// finish is called when the handler has returned; it reports whether the
// caller still has to call done.
func (ab *abandoner) finish() bool {
	ab.stop()
	close(ab.returned)
	return ab.reported.CompareAndSwap(false, true)
}

// coordinate runs a multi-instance task's coordination command once per
// instance node, concurrently, and waits for all. In-process every instance
// runs in this process; each sees its own node in NodeID and
// AZ_BATCH_NODE_ID. It reports the first failure in node order.
func (b *Backend) coordinate(ctx context.Context, primary *Task, handlers map[string]Handler, start time.Time) (node.Result, bool) {
	a := primary.Attempt
	name, args, err := splitCommandLine(a.CoordinationCommandLine)
	if err != nil {
		return preProcessing("coordinationCommandLine: "+err.Error(), start), true
	}
	h := handlers[name]
	if h == nil {
		return preProcessing("coordination handler "+strconv.Quote(name)+" is not registered with the inprocess backend", start), true
	}
	nodes := a.InstanceNodes()
	outs := make([]outcome, len(nodes))
	var wg sync.WaitGroup
	for i, id := range nodes {
		// Output of every instance goes to the primary's streams; node is
		// the instance's, for the environment.
		ct := &Task{Attempt: a, Name: name, Args: args, NodeID: id, node: primary.node,
			Stdout: (*stdoutWriter)(primary), Stderr: (*stderrWriter)(primary)}
		if ns := (*b.nodes.Load())[id]; ns != nil {
			ct.node = ns
		}
		wg.Go(func() {
			outs[i] = outcome{kind: outcomeGoexit} // unless call returns
			outs[i] = call(ctx, h, ct)
		})
	}
	wg.Wait()
	for _, o := range outs {
		if o.kind != outcomeOK {
			r := o.result(ctx, start, time.Now())
			if r.FailureInfo != nil && ctx.Err() == nil {
				r.FailureInfo.Message = "coordinationCommandLine: " + r.FailureInfo.Message
			}
			return r, true
		}
	}
	return node.Result{}, false
}
