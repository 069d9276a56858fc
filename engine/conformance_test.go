package engine_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/fake"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/sim/scenario"
)

// TestConformance is DESIGN §1's conformance test: every scripted scenario
// of the scheduling core (pool/testdata/scenarios) runs through the
// simulator's driver (package sim/scenario, on sim.Driver, in virtual time)
// and through the live engine (an in-memory Account with fake nodes, in a
// synctest bubble so that its timers run in virtual time), and the two must
// make the same decisions.
//
// The simulator side turns each scripted step into concrete inputs (create
// the pool, a node is ready, attempt #7 exited with code 1, a timer fell
// due at t=90s, ...). The engine side feeds each input the way a real one
// arrives (an API call, the fake backend finishing an attempt or reporting
// a node lost, virtual time reaching the deadline), waits until the engine
// is idle (synctest.Wait), and reads what the engine asked of its node
// backend from the fake's call log. Per input, the simulator's Actions and
// the engine's backend calls must be the same set (allocate, release,
// start, kill lines; see scenario.ActionLine; backend calls from different
// goroutines have no defined order), and the input must be rejected by
// both or neither.
//
// Inputs are applied one at a time, each to an idle engine: the engine
// would otherwise batch events that arrive together into one scheduling
// pass, which is allowed to decide differently.
func TestConformance(t *testing.T) {
	files, err := filepath.Glob("../pool/testdata/scenarios/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			steps, err := scenario.RunFile(path)
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				d := newConfDriver(t)
				defer d.close()
				compared := 0
				for i, s := range steps {
					got, rejected := d.apply(s.Input)
					want := slices.Clone(s.Actions)
					slices.Sort(want)
					slices.Sort(got)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("step %d (%s): decisions differ (-simulator +engine):\n%s", i, s.Input, diff)
					}
					if rejected != (s.Rejected != nil) {
						t.Errorf("step %d (%s): simulator rejected: %v; engine rejected: %v", i, s.Input, s.Rejected, rejected)
					}
					if t.Failed() {
						return
					}
					compared += len(got)
				}
				if compared == 0 {
					t.Error("the scenario made no decisions to compare")
				}
			})
		})
	}
}

// confDriver drives an engine Account with fake nodes from scenario inputs.
// It lives inside the synctest bubble.
type confDriver struct {
	t     *testing.T
	ctx   context.Context
	start time.Time // virtual time 0 of the scenario
	fb    *fake.Backend
	acct  *engine.Account
	pool  string
	seen  int // calls of the fake's log already turned into trace lines

	mu        sync.Mutex
	watch     func(node.NodeEvent)
	hooks     map[string]chan struct{} // AddNode calls waiting for "ready"
	dedicated map[string]bool
}

func newConfDriver(t *testing.T) *confDriver {
	d := &confDriver{
		t:         t,
		ctx:       context.Background(),
		start:     time.Now(),
		hooks:     map[string]chan struct{}{},
		dedicated: map[string]bool{},
	}
	// Attempts run until the script finishes them; a kill is only
	// recorded (OpCancel) and its exit comes when the script says.
	d.fb = fake.New(fake.WithManualCancel(), fake.WithAddNode(d.addNode))
	return d
}

// addNode holds a node's AddNode until the script says the node is ready.
func (d *confDriver) addNode(ctx context.Context, n node.NodeInfo) error {
	ch := make(chan struct{})
	d.mu.Lock()
	d.hooks[n.NodeID] = ch
	d.dedicated[n.NodeID] = n.Dedicated
	d.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watchingFake is the fake with the NodeWatcher capability, through which
// the script reports nodes lost, preempted and back.
type watchingFake struct {
	*fake.Backend
	d *confDriver
}

func (w watchingFake) WatchNodes(report func(node.NodeEvent)) {
	w.d.mu.Lock()
	w.d.watch = report
	w.d.mu.Unlock()
}

func (d *confDriver) report(e node.NodeEvent) {
	d.mu.Lock()
	watch := d.watch
	d.mu.Unlock()
	if watch == nil {
		d.t.Fatal("the engine did not watch the backend's nodes")
	}
	watch(e)
}

func (d *confDriver) close() {
	if d.acct != nil {
		d.acct.Close()
	}
	synctest.Wait()
}

// apply feeds one input to the engine at its virtual time, waits until the
// engine is idle, and returns the trace lines of the backend calls it made
// and whether the engine rejected the input.
func (d *confDriver) apply(in scenario.Input) (lines []string, rejected bool) {
	// Advance virtual time to the input's instant. In the bubble this
	// sleep returns as soon as every goroutine is idle, after the engine's
	// own timers due by then have fired: it moves the clock, it does not
	// wait for a state.
	if dt := d.start.Add(in.At).Sub(time.Now()); dt > 0 {
		time.Sleep(dt)
	}
	synctest.Wait()
	if in.Create != nil {
		rejected = d.create(in.Create)
	} else {
		rejected = d.event(in.Event)
	}
	synctest.Wait()
	return d.newLines(), rejected
}

func (d *confDriver) create(c *scenario.CreatePool) bool {
	opts := []engine.Option{
		engine.WithBackend("fake", func(pool.Spec) (node.Backend, error) { return watchingFake{d.fb, d}, nil }),
		engine.WithTaskRetention(0),
	}
	if c.Policy != "" {
		// An embedder chooses a pool's policy in code, so a bad policy
		// name cannot reach the engine: reject it here, as the simulator
		// does.
		if _, err := pool.NewPolicy(c.Policy); err != nil {
			return true
		}
		opts = append(opts, engine.WithPolicy(func(pool.Spec) pool.Policy {
			p, _ := pool.NewPolicy(c.Policy)
			return p
		}))
	}
	acct, err := engine.New(opts...)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := acct.CreatePool(d.ctx, c.Spec); err != nil {
		acct.Close()
		return true
	}
	d.acct, d.pool = acct, c.Spec.ID
	return false
}

// event feeds a core event to the engine the way it arrives in real life.
func (d *confDriver) event(ev pool.Event) bool {
	ctx, a, p := d.ctx, d.acct, d.pool
	var err error
	switch e := ev.(type) {
	case pool.AddJob:
		err = a.AddJob(ctx, e.Spec)
	case pool.AddTasks:
		err = a.AddTasks(ctx, e.JobID, e.Tasks)
	case pool.NodeReady:
		d.mu.Lock()
		ch, waiting := d.hooks[e.Node]
		delete(d.hooks, e.Node)
		d.mu.Unlock()
		if waiting {
			close(ch) // AddNode returns: the node is up
		} else {
			d.report(node.NodeEvent{NodeID: e.Node, Health: node.NodeBack})
		}
	case pool.NodeFailed:
		h := node.NodeLost
		if e.Preempted {
			h = node.NodePreempted
		}
		d.report(node.NodeEvent{NodeID: e.Node, Health: h, Reason: e.Reason})
	case pool.AttemptExited:
		r := node.Result{Kind: e.Outcome, ExitCode: e.ExitCode, FailureInfo: e.Failure, TaskRootDirectory: e.TaskRootDirectory}
		if ferr := d.fb.Finish(e.ID, r); ferr != nil {
			d.t.Errorf("finishing attempt #%d: %v", e.ID, ferr)
		}
	case pool.Resize:
		err = a.ResizePool(ctx, p, e)
	case pool.StopResize:
		err = a.StopResizePool(ctx, p)
	case pool.RemoveNodes:
		err = a.RemoveNodes(ctx, p, e.Nodes, e.DeallocationOption)
	case pool.SetNodeScheduling:
		if e.Enabled {
			err = a.EnableNodeScheduling(ctx, p, e.Node)
		} else {
			err = a.DisableNodeScheduling(ctx, p, e.Node, e.Option)
		}
	case pool.TerminateTask:
		err = a.TerminateTask(ctx, e.JobID, e.TaskID)
	case pool.TerminateJob:
		err = a.TerminateJob(ctx, e.JobID, e.Reason)
	case pool.DisableJob:
		err = a.DisableJob(ctx, e.JobID, e.Option)
	case pool.EnableJob:
		err = a.EnableJob(ctx, e.JobID)
	case pool.DeleteJob:
		// DeleteJob returns once the job is gone, which may need exits
		// the script reports later: call it aside and see, once the
		// engine is idle, whether it was rejected or is waiting.
		done := make(chan error, 1)
		go func() { done <- a.DeleteJob(ctx, e.JobID) }()
		synctest.Wait()
		select {
		case err = <-done:
		default:
		}
	case pool.DeletePool:
		err = a.DeletePool(ctx, p)
	case pool.Tick:
		// A deadline: the engine's timer fired when the clock got here.
	default:
		d.t.Fatalf("no way to feed %T to the engine", ev)
	}
	return err != nil
}

// newLines turns the backend calls made since the last input into trace
// lines.
func (d *confDriver) newLines() []string {
	calls := d.fb.Calls()
	started := map[uint64]*node.Attempt{}
	for _, at := range d.fb.Started() {
		started[at.ID] = at
	}
	var lines []string
	for _, c := range calls[d.seen:] {
		switch c.Op {
		case fake.OpAddNode:
			d.mu.Lock()
			dedicated := d.dedicated[c.NodeID]
			d.mu.Unlock()
			lines = append(lines, scenario.AllocateLine(c.NodeID, dedicated))
		case fake.OpRemoveNode:
			lines = append(lines, scenario.ReleaseLine(c.NodeID))
		case fake.OpStart:
			at := started[c.AttemptID]
			if at == nil {
				lines = append(lines, "start of an attempt the fake refused: #"+c.NodeID)
				continue
			}
			nodes := at.Nodes
			if len(nodes) == 0 {
				nodes = []string{at.NodeID}
			}
			lines = append(lines, scenario.StartLine(at.ID, at.Kind.String(), at.JobID, at.TaskID, nodes, at.Retry))
		case fake.OpCancel:
			at := started[c.AttemptID]
			lines = append(lines, scenario.KillLine(c.AttemptID, at.JobID, at.TaskID))
		}
	}
	d.seen = len(calls)
	return lines
}
