package fake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// results collects done calls per attempt and fails the test on a second
// call for the same attempt.
type results struct {
	t  *testing.T
	mu sync.Mutex
	m  map[uint64]node.Result
	ch chan uint64
}

func newResults(t *testing.T) *results {
	return &results{t: t, m: map[uint64]node.Result{}, ch: make(chan uint64, 100)}
}

func (r *results) done(id uint64) func(node.Result) {
	return func(res node.Result) {
		r.mu.Lock()
		if _, dup := r.m[id]; dup {
			r.t.Errorf("done called twice for attempt %d", id)
		}
		r.m[id] = res
		r.mu.Unlock()
		r.ch <- id
	}
}

// wait returns the result of the next done call, which must be for id.
func (r *results) wait(id uint64) node.Result {
	r.t.Helper()
	if got := <-r.ch; got != id {
		r.t.Fatalf("done for attempt %d, want %d", got, id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}

func (r *results) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

func addNodes(t *testing.T, b *Backend, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := b.AddNode(context.Background(), node.NodeInfo{PoolID: "p", NodeID: id, Slots: 2}); err != nil {
			t.Fatal(err)
		}
	}
}

func att(id uint64, nodeID string) *node.Attempt {
	return &node.Attempt{ID: id, Kind: node.KindTask, PoolID: "p", JobID: "j", TaskID: fmt.Sprint("t", id), NodeID: nodeID, CommandLine: "x"}
}

// ignoreTimes drops result times, which tests check separately.
var ignoreTimes = cmpopts.IgnoreFields(node.Result{}, "StartTime", "EndTime")

func TestHoldAndFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New()
		addNodes(t, b, "n1", "n2")
		res := newResults(t)
		t0 := time.Now()
		b.Start(context.Background(), att(1, "n1"), res.done(1))
		b.Start(context.Background(), att(2, "n2"), res.done(2))
		got, err := b.WaitRunning(context.Background(), 2)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]*node.Attempt{att(1, "n1"), att(2, "n2")}, got); diff != "" {
			t.Errorf("running (-want +got):\n%s", diff)
		}
		synctest.Wait()
		if n := res.count(); n != 0 {
			t.Fatalf("%d attempts finished on their own", n)
		}

		time.Sleep(3 * time.Second) // the attempt "runs" 3s of fake time
		if err := b.Exit(2, 7); err != nil {
			t.Fatal(err)
		}
		r := res.wait(2)
		want := node.Result{Kind: task.OutcomeExited, ExitCode: 7, StartTime: t0, EndTime: t0.Add(3 * time.Second),
			FailureInfo: &task.FailureInfo{Category: task.UserError, Code: task.FailureNonZeroExit, Message: "exit status 7"}}
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
		custom := node.Result{Kind: task.OutcomeFileUploadError, ExitCode: 0, TaskRootDirectory: "/x",
			StartTime: t0.Add(-time.Hour), EndTime: t0.Add(time.Hour)}
		if err := b.Finish(1, custom); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(custom, res.wait(1)); diff != "" {
			t.Errorf("custom result (-want +got):\n%s", diff)
		}
		for _, id := range []uint64{1, 2} {
			if err := b.Exit(id, 0); !errors.Is(err, task.ErrOperationInvalidForState) {
				t.Errorf("second Exit(%d) = %v", id, err)
			}
		}
		if err := b.Exit(99, 0); !errors.Is(err, task.ErrOperationInvalidForState) {
			t.Errorf("Exit of an unknown attempt = %v", err)
		}
		if got := b.Running(); len(got) != 0 {
			t.Errorf("running = %v after finishing all", got)
		}

		wantCalls := []Call{
			{Op: OpAddNode, NodeID: "n1"},
			{Op: OpAddNode, NodeID: "n2"},
			{Op: OpStart, NodeID: "n1", AttemptID: 1},
			{Op: OpStart, NodeID: "n2", AttemptID: 2},
			{Op: OpDone, NodeID: "n2", AttemptID: 2, ExitCode: 7, FailureCode: task.FailureNonZeroExit},
			{Op: OpDone, NodeID: "n1", AttemptID: 1},
		}
		if diff := cmp.Diff(wantCalls, b.Calls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})
}

func TestBehavior(t *testing.T) {
	b := New(WithBehavior(ExitWith(func(a *node.Attempt) int { return int(a.ID % 3) })))
	addNodes(t, b, "n1")
	res := newResults(t)
	for id := uint64(1); id <= 6; id++ {
		b.Start(context.Background(), att(id, "n1"), res.done(id))
	}
	for range 6 {
		<-res.ch
	}
	for id := uint64(1); id <= 6; id++ {
		res.mu.Lock()
		r := res.m[id]
		res.mu.Unlock()
		if diff := cmp.Diff(ExitResult(int(id%3)), r, ignoreTimes); diff != "" {
			t.Errorf("attempt %d (-want +got):\n%s", id, diff)
		}
	}
	started, err := b.WaitStarted(context.Background(), 6)
	if err != nil || len(started) != 6 {
		t.Fatalf("WaitStarted = %d attempts, %v", len(started), err)
	}

	// Switch to holding, selectively.
	b.SetBehavior(func(a *node.Attempt) (node.Result, bool) {
		if a.ID == 8 {
			return node.Result{}, false
		}
		return ExitResult(0), true
	})
	b.Start(context.Background(), att(7, "n1"), res.done(7))
	b.Start(context.Background(), att(8, "n1"), res.done(8))
	res.wait(7)
	running, err := b.WaitRunning(context.Background(), 1)
	if err != nil || len(running) != 1 || running[0].ID != 8 {
		t.Errorf("running = %v, %v; want attempt 8", running, err)
	}
	b.SetBehavior(nil)
	b.Start(context.Background(), att(9, "n1"), res.done(9))
	if running, _ := b.WaitRunning(context.Background(), 2); len(running) != 2 {
		t.Errorf("running = %v, want 8 and 9", running)
	}
}

func TestCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New()
		addNodes(t, b, "n1")
		res := newResults(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		t0 := time.Now()
		b.Start(ctx, att(1, "n1"), res.done(1))
		r := res.wait(1) // the deadline cancels it after a minute of fake time
		want := TerminatedResult()
		want.StartTime, want.EndTime = t0, t0.Add(time.Minute)
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
		if err := b.Exit(1, 0); !errors.Is(err, task.ErrOperationInvalidForState) {
			t.Errorf("Exit after cancel = %v", err)
		}

		// Already cancelled at Start.
		b.Start(ctx, att(2, "n1"), res.done(2))
		if r := res.wait(2); r.ExitCode != ExitCodeTerminated {
			t.Errorf("attempt 2: %+v", r)
		}

		// Finished before the cancel: the cancel is not recorded.
		ctx3, cancel3 := context.WithCancel(context.Background())
		b.Start(ctx3, att(3, "n1"), res.done(3))
		if err := b.Exit(3, 0); err != nil {
			t.Fatal(err)
		}
		res.wait(3)
		cancel3()
		synctest.Wait()

		wantCalls := []Call{
			{Op: OpAddNode, NodeID: "n1"},
			{Op: OpStart, NodeID: "n1", AttemptID: 1},
			{Op: OpCancel, NodeID: "n1", AttemptID: 1},
			{Op: OpDone, NodeID: "n1", AttemptID: 1, ExitCode: ExitCodeTerminated, FailureCode: task.FailureTaskTerminated},
			{Op: OpStart, NodeID: "n1", AttemptID: 2},
			{Op: OpCancel, NodeID: "n1", AttemptID: 2},
			{Op: OpDone, NodeID: "n1", AttemptID: 2, ExitCode: ExitCodeTerminated, FailureCode: task.FailureTaskTerminated},
			{Op: OpStart, NodeID: "n1", AttemptID: 3},
			{Op: OpDone, NodeID: "n1", AttemptID: 3},
		}
		if diff := cmp.Diff(wantCalls, b.Calls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})
}

func TestManualCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(WithManualCancel())
		addNodes(t, b, "n1")
		res := newResults(t)
		ctx, cancel := context.WithCancel(context.Background())
		b.Start(ctx, att(1, "n1"), res.done(1))
		cancel()
		calls, err := b.WaitCalls(context.Background(), 3)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(Call{Op: OpCancel, NodeID: "n1", AttemptID: 1}, calls[2]); diff != "" {
			t.Errorf("third call (-want +got):\n%s", diff)
		}
		synctest.Wait()
		if res.count() != 0 {
			t.Fatal("a manual cancel finished the attempt")
		}
		if err := b.Finish(1, TerminatedResult()); err != nil {
			t.Fatal(err)
		}
		if r := res.wait(1); r.ExitCode != ExitCodeTerminated {
			t.Errorf("result %+v", r)
		}
	})
}

func TestAddNodeHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errQuota := errors.New("quota reached")
		release := make(chan struct{})
		b := New(WithAddNode(func(ctx context.Context, n node.NodeInfo) error {
			switch n.NodeID {
			case "bad":
				return errQuota
			case "slow":
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}))
		if err := b.AddNode(context.Background(), node.NodeInfo{NodeID: "bad", Slots: 1}); !errors.Is(err, errQuota) {
			t.Errorf("AddNode(bad) = %v", err)
		}

		added := make(chan error, 1)
		go func() { added <- b.AddNode(context.Background(), node.NodeInfo{NodeID: "slow", Slots: 1}) }()
		if _, err := b.WaitCalls(context.Background(), 2); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case err := <-added:
			t.Fatalf("slow AddNode returned %v before release", err)
		default:
		}
		if got := b.Nodes(); len(got) != 0 {
			t.Errorf("nodes = %v while AddNode blocks", got)
		}
		close(release)
		if err := <-added; err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		b.SetAddNode(func(ctx context.Context, n node.NodeInfo) error { <-ctx.Done(); return ctx.Err() })
		if err := b.AddNode(ctx, node.NodeInfo{NodeID: "never", Slots: 1}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("AddNode with a blocking hook = %v", err)
		}
		b.SetAddNode(nil)
		if err := b.AddNode(context.Background(), node.NodeInfo{NodeID: "slow", Slots: 1}); !errors.Is(err, task.ErrOperationInvalidForState) {
			t.Errorf("duplicate AddNode = %v", err)
		}
		if diff := cmp.Diff([]node.NodeInfo{{NodeID: "slow", Slots: 1}}, b.Nodes()); diff != "" {
			t.Errorf("nodes (-want +got):\n%s", diff)
		}
	})
}

func TestUnknownNodeAndDuplicateAttempt(t *testing.T) {
	b := New()
	addNodes(t, b, "n1")
	res := newResults(t)
	b.Start(context.Background(), att(1, "nope"), res.done(1))
	r := res.wait(1)
	if diff := cmp.Diff(NotRunResult("nope"), r, ignoreTimes); diff != "" {
		t.Errorf("unknown node (-want +got):\n%s", diff)
	}
	b.Start(context.Background(), att(2, "n1"), res.done(2))
	dupRes := newResults(t)
	b.Start(context.Background(), att(2, "n1"), dupRes.done(2))
	if r := dupRes.wait(2); r.FailureInfo == nil || r.FailureInfo.Category != task.ServerError {
		t.Errorf("duplicate attempt: %+v", r)
	}
	if got := b.Started(); len(got) != 1 || got[0].ID != 2 {
		t.Errorf("started = %v, want only attempt 2", got)
	}
	if err := b.RemoveNode(context.Background(), "nope"); !errors.Is(err, task.ErrNodeNotFound) {
		t.Errorf("RemoveNode(nope) = %v", err)
	}
}

func TestLoseNode(t *testing.T) {
	b := New()
	addNodes(t, b, "n1", "n2")
	res := newResults(t)
	b.Start(context.Background(), att(1, "n1"), res.done(1))
	b.Start(context.Background(), att(2, "n2"), res.done(2))
	gang := att(3, "n2")
	gang.Nodes = []string{"n2", "n1"}
	b.Start(context.Background(), gang, res.done(3))
	b.Start(context.Background(), att(4, "n1"), res.done(4))

	if err := b.LoseNode("n1"); err != nil {
		t.Fatal(err)
	}
	// done was called before LoseNode returned, in start order.
	for _, id := range []uint64{1, 3, 4} {
		if diff := cmp.Diff(NodeLostResult("n1"), res.wait(id), ignoreTimes); diff != "" {
			t.Errorf("attempt %d (-want +got):\n%s", id, diff)
		}
	}
	if got := b.Running(); len(got) != 1 || got[0].ID != 2 {
		t.Errorf("running = %v, want attempt 2", got)
	}
	b.Start(context.Background(), att(5, "n1"), res.done(5))
	if r := res.wait(5); r.ExitCode != ExitCodeNotRun {
		t.Errorf("start on a lost node: %+v", r)
	}
	if err := b.LoseNode("n1"); !errors.Is(err, task.ErrNodeNotFound) {
		t.Errorf("second LoseNode = %v", err)
	}
	if err := b.RemoveNode(context.Background(), "n1"); err != nil {
		t.Errorf("RemoveNode of a lost node = %v", err)
	}
	if err := b.RemoveNode(context.Background(), "n1"); !errors.Is(err, task.ErrNodeNotFound) {
		t.Errorf("second RemoveNode = %v", err)
	}
	if diff := cmp.Diff([]node.NodeInfo{{PoolID: "p", NodeID: "n2", Slots: 2}}, b.Nodes()); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
}

func TestClose(t *testing.T) {
	b := New()
	addNodes(t, b, "n1")
	res := newResults(t)
	b.Start(context.Background(), att(1, "n1"), res.done(1))
	b.Start(context.Background(), att(2, "n1"), res.done(2))
	if err := b.Exit(1, 0); err != nil {
		t.Fatal(err)
	}
	res.wait(1)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if r := res.wait(2); r.ExitCode != ExitCodeTerminated {
		t.Errorf("running attempt at Close: %+v", r)
	}
	b.Start(context.Background(), att(3, "n1"), res.done(3))
	if r := res.wait(3); r.ExitCode != ExitCodeNotRun {
		t.Errorf("Start after Close: %+v", r)
	}
	if err := b.AddNode(context.Background(), node.NodeInfo{NodeID: "n2", Slots: 1}); !errors.Is(err, task.ErrOperationInvalidForState) {
		t.Errorf("AddNode after Close = %v", err)
	}
}

func TestWaitHonoursCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := b.WaitStarted(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitStarted = %v", err)
		}
		if _, err := b.WaitRunning(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitRunning = %v", err)
		}
		if _, err := b.WaitCalls(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitCalls = %v", err)
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	b := New(WithBehavior(func(a *node.Attempt) (node.Result, bool) {
		return ExitResult(0), a.ID%2 == 0 // odd ones are held
	}))
	addNodes(t, b, "n1", "n2", "n3")
	const perNode = 200
	var calls [3 * perNode]atomic.Int32
	var wg sync.WaitGroup
	wg.Add(len(calls))
	for n := range 3 {
		go func() {
			for i := range perNode {
				id := uint64(n*perNode + i)
				ctx, cancel := context.WithCancel(context.Background())
				b.Start(ctx, att(id, fmt.Sprint("n", n+1)), func(node.Result) { calls[id].Add(1); wg.Done() })
				if i%3 == 0 {
					cancel()
				} else {
					t.Cleanup(cancel)
				}
			}
		}()
	}
	started, err := b.WaitStarted(context.Background(), len(calls))
	if err != nil {
		t.Fatal(err)
	}
	// Finish the held ones from several goroutines, racing the cancels.
	var fin sync.WaitGroup
	for _, a := range started {
		if a.ID%2 == 1 {
			fin.Go(func() { _ = b.Exit(a.ID, 1) })
		}
	}
	fin.Wait()
	wg.Wait()
	for id := range calls {
		if n := calls[id].Load(); n != 1 {
			t.Errorf("attempt %d: done called %d times", id, n)
		}
	}
	dones := 0
	for _, c := range b.Calls() {
		if c.Op == OpDone {
			dones++
		}
	}
	if dones != len(calls) {
		t.Errorf("%d OpDone calls, want %d", dones, len(calls))
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{OpInvalid: "invalid", OpStart: "start", OpClose: "close", Op(200): "Op(200)"} {
		if got := op.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", op, got, want)
		}
	}
}
