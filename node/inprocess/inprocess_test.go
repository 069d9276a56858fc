package inprocess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
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

// newBackend returns a backend with one node "n1" of the given slots in pool
// "p1", closed when the test ends.
func newBackend(t *testing.T, slots int, opts ...Option) *Backend {
	t.Helper()
	b := New(opts...)
	if err := b.AddNode(context.Background(), node.NodeInfo{PoolID: "p1", NodeID: "n1", Slots: slots, Dedicated: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func mustRegister(t *testing.T, b *Backend, name string, h Handler) {
	t.Helper()
	if err := b.Register(name, h); err != nil {
		t.Fatalf("Register(%q): %v", name, err)
	}
}

func attempt(id uint64, cmdline string) *node.Attempt {
	return &node.Attempt{
		ID: id, Kind: node.KindTask, PoolID: "p1", JobID: "j1",
		TaskID: fmt.Sprintf("t%d", id), NodeID: "n1", Dedicated: true, CommandLine: cmdline,
	}
}

// recorder is a done func that counts its calls.
type recorder struct {
	t     *testing.T
	calls atomic.Int32
	ch    chan node.Result
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, ch: make(chan node.Result, 1)}
}

func (r *recorder) done(res node.Result) {
	if n := r.calls.Add(1); n > 1 {
		r.t.Errorf("done called %d times", n)
		return
	}
	r.ch <- res
}

// run starts a and returns its result.
func run(t *testing.T, b *Backend, ctx context.Context, a *node.Attempt) node.Result {
	t.Helper()
	rec := newRecorder(t)
	b.Start(ctx, a, rec.done)
	return <-rec.ch
}

// normalize checks and clears the fields a table cannot predict: the times,
// and a panic's stack.
func normalize(t *testing.T, r node.Result) node.Result {
	t.Helper()
	if r.StartTime.IsZero() || r.EndTime.Before(r.StartTime) {
		t.Errorf("times: start %v end %v", r.StartTime, r.EndTime)
	}
	r.StartTime, r.EndTime = time.Time{}, time.Time{}
	if r.FailureInfo != nil {
		fi := *r.FailureInfo
		fi.Details = append([]task.NameValue(nil), fi.Details...)
		for i, d := range fi.Details {
			if d.Name == "stack" {
				if !strings.Contains(d.Value, "goroutine") || !strings.Contains(d.Value, "inprocess_test.go") {
					t.Errorf("stack does not show the handler:\n%s", d.Value)
				}
				fi.Details[i].Value = "<stack>"
			}
		}
		r.FailureInfo = &fi
	}
	return r
}

func failure(cat task.ErrorCategory, code, msg string, details ...task.NameValue) *task.FailureInfo {
	return &task.FailureInfo{Category: cat, Code: code, Message: msg, Details: details}
}

func TestOutcomes(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		cmdline string
		handler Handler
		want    node.Result
	}{
		{
			name:    "nil is exit 0",
			handler: func(context.Context, *Task) error { return nil },
			want:    node.Result{Kind: task.OutcomeExited},
		},
		{
			name:    "ExitError sets the code",
			handler: func(context.Context, *Task) error { return Exit(3) },
			want: node.Result{Kind: task.OutcomeExited, ExitCode: 3,
				FailureInfo: failure(task.UserError, task.FailureNonZeroExit, "exit status 3")},
		},
		{
			name: "wrapped ExitError with cause",
			handler: func(context.Context, *Task) error {
				return fmt.Errorf("step 2: %w", &ExitError{Code: 42, Err: errBoom})
			},
			want: node.Result{Kind: task.OutcomeExited, ExitCode: 42,
				FailureInfo: failure(task.UserError, task.FailureNonZeroExit, "step 2: exit status 42: boom")},
		},
		{
			name:    "ExitError code 0 is success",
			handler: func(context.Context, *Task) error { return Exit(0) },
			want:    node.Result{Kind: task.OutcomeExited},
		},
		{
			name:    "plain error is exit 1",
			handler: func(context.Context, *Task) error { return fmt.Errorf("reading input: %w", errBoom) },
			want: node.Result{Kind: task.OutcomeExited, ExitCode: ExitCodeError,
				FailureInfo: failure(task.UserError, task.FailureNonZeroExit, "reading input: boom")},
		},
		{
			name:    "panic with a string",
			handler: func(context.Context, *Task) error { panic("kaboom") },
			want: node.Result{Kind: task.OutcomeExited, ExitCode: ExitCodePanic,
				FailureInfo: failure(task.UserError, task.FailureTaskPanicked, "handler panicked: kaboom",
					task.NameValue{Name: "panic", Value: "kaboom"}, task.NameValue{Name: "stack", Value: "<stack>"})},
		},
		{
			name:    "panic with an error",
			handler: func(context.Context, *Task) error { panic(errBoom) },
			want: node.Result{Kind: task.OutcomeExited, ExitCode: ExitCodePanic,
				FailureInfo: failure(task.UserError, task.FailureTaskPanicked, "handler panicked: boom",
					task.NameValue{Name: "panic", Value: "boom"}, task.NameValue{Name: "stack", Value: "<stack>"})},
		},
		{
			name: "runtime error",
			handler: func(context.Context, *Task) error {
				var m map[string]int
				m["x"] = 1
				return nil
			},
			want: node.Result{Kind: task.OutcomeExited, ExitCode: ExitCodePanic,
				FailureInfo: failure(task.UserError, task.FailureTaskPanicked, "handler panicked: assignment to entry in nil map",
					task.NameValue{Name: "panic", Value: "assignment to entry in nil map"}, task.NameValue{Name: "stack", Value: "<stack>"})},
		},
		{
			name:    "runtime.Goexit",
			handler: func(context.Context, *Task) error { runtime.Goexit(); return nil },
			want: node.Result{Kind: task.OutcomeExited, ExitCode: ExitCodePanic,
				FailureInfo: failure(task.UserError, task.FailureTaskPanicked, "handler called runtime.Goexit")},
		},
		{
			name:    "unknown handler",
			cmdline: "nosuch arg",
			want: node.Result{Kind: task.OutcomePreProcessingError, ExitCode: ExitCodeNotFound,
				FailureInfo: failure(task.UserError, task.FailureCommandNotFound, `handler "nosuch" is not registered with the inprocess backend`)},
		},
		{
			name:    "blank command line",
			cmdline: "  \t",
			want: node.Result{Kind: task.OutcomePreProcessingError, ExitCode: ExitCodeNotFound,
				FailureInfo: failure(task.UserError, task.FailureCommandNotFound, `commandLine "  \t": empty`)},
		},
		{
			name:    "unterminated quote",
			cmdline: `h 'abc`,
			want: node.Result{Kind: task.OutcomePreProcessingError, ExitCode: ExitCodeNotFound,
				FailureInfo: failure(task.UserError, task.FailureCommandNotFound, `commandLine "h 'abc": unterminated single quote at position 2`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, 1)
			cmdline := tt.cmdline
			if tt.handler != nil {
				mustRegister(t, b, "h", tt.handler)
				cmdline = "h"
			}
			got := normalize(t, run(t, b, context.Background(), attempt(1, cmdline)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGoexitKeepsNodeWorking(t *testing.T) {
	b := newBackend(t, 1)
	mustRegister(t, b, "exit", func(context.Context, *Task) error { runtime.Goexit(); return nil })
	mustRegister(t, b, "ok", func(context.Context, *Task) error { return nil })
	for i := range 3 {
		if got := run(t, b, context.Background(), attempt(uint64(2*i), "exit")); got.ExitCode != ExitCodePanic {
			t.Fatalf("exit: code %d", got.ExitCode)
		}
		if got := run(t, b, context.Background(), attempt(uint64(2*i+1), "ok")); got.ExitCode != 0 {
			t.Fatalf("ok: code %d", got.ExitCode)
		}
	}
}

func TestCancelRunning(t *testing.T) {
	tests := []struct {
		name        string
		handlerErr  error
		wantDetails []task.NameValue
	}{
		{name: "handler returns ctx error", handlerErr: context.Canceled,
			wantDetails: []task.NameValue{{Name: "handlerError", Value: "context canceled"}}},
		{name: "handler returns nil", handlerErr: nil},
		{name: "handler returns ExitError", handlerErr: Exit(5),
			wantDetails: []task.NameValue{{Name: "handlerError", Value: "exit status 5"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, 1)
			started := make(chan struct{})
			mustRegister(t, b, "wait", func(ctx context.Context, _ *Task) error {
				close(started)
				<-ctx.Done()
				return tt.handlerErr
			})
			ctx, cancel := context.WithCancelCause(context.Background())
			rec := newRecorder(t)
			b.Start(ctx, attempt(1, "wait"), rec.done)
			<-started
			cancel(errors.New("terminated by user"))
			got := normalize(t, <-rec.ch)
			want := node.Result{Kind: task.OutcomeExited, ExitCode: ExitCodeTerminated,
				FailureInfo: failure(task.UserError, task.FailureTaskTerminated, "the task was terminated: terminated by user", tt.wantDetails...)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCancelledBeforeRunSkipsHandler(t *testing.T) {
	b := newBackend(t, 1)
	var calls atomic.Int32
	mustRegister(t, b, "h", func(context.Context, *Task) error { calls.Add(1); return nil })
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	cancel()
	got := run(t, b, ctx, attempt(1, "h"))
	if got.ExitCode != ExitCodeTerminated || got.FailureInfo == nil || got.FailureInfo.Code != task.FailureTaskTerminated {
		t.Errorf("result = %+v %+v, want terminated", got, got.FailureInfo)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("handler ran %d times, want 0", n)
	}
}

func TestDeadlineReportsTerminated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(t, 1)
		mustRegister(t, b, "wait", func(ctx context.Context, _ *Task) error { <-ctx.Done(); return ctx.Err() })
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		got := run(t, b, ctx, attempt(1, "wait"))
		if got.ExitCode != ExitCodeTerminated || got.FailureInfo.Message != "the task was terminated: context deadline exceeded" {
			t.Errorf("result = %+v %+v", got, got.FailureInfo)
		}
		if d := got.EndTime.Sub(got.StartTime); d != 90*time.Second {
			t.Errorf("ran %v, want 90s", d)
		}
	})
}

func TestRunTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(t, 1)
		// The handler simulates 5s of work; in the bubble the clock is fake.
		mustRegister(t, b, "work", func(ctx context.Context, _ *Task) error { time.Sleep(5 * time.Second); return nil })
		before := time.Now()
		got := run(t, b, context.Background(), attempt(1, "work"))
		want := node.Result{Kind: task.OutcomeExited, StartTime: before, EndTime: before.Add(5 * time.Second)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
	})
}

func TestAbandonAfter(t *testing.T) {
	for _, grace := range []time.Duration{0, 10 * time.Second} {
		t.Run(grace.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBackend(t, 1, WithAbandonAfter(grace))
				release := make(chan struct{})
				started := make(chan struct{})
				mustRegister(t, b, "stubborn", func(ctx context.Context, tk *Task) error {
					close(started)
					<-release // ignores ctx
					io.WriteString(tk.Stdout, "late\n")
					return nil
				})
				ctx, cancel := context.WithCancel(context.Background())
				rec := newRecorder(t)
				b.Start(ctx, attempt(1, "stubborn"), rec.done)
				<-started
				t0 := time.Now()
				cancel()
				got := <-rec.ch
				if got.ExitCode != ExitCodeTerminated || got.FailureInfo.Code != task.FailureTaskTerminated {
					t.Errorf("result = %+v %+v", got, got.FailureInfo)
				}
				if d := time.Since(t0); d != grace {
					t.Errorf("reported after %v, want %v", d, grace)
				}
				close(release)
				synctest.Wait()
				if n := rec.calls.Load(); n != 1 {
					t.Errorf("done called %d times", n)
				}
				out, err := b.ReadTaskFile(context.Background(), "n1", "j1", "t1", "stdout.txt")
				if err != nil || string(out) != "late\n" {
					t.Errorf("stdout = %q, %v", out, err)
				}
			})
		})
	}
}

func TestAbandonAfterHandlerReturnsInTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(t, 1, WithAbandonAfter(10*time.Second))
		started := make(chan struct{})
		mustRegister(t, b, "slow", func(ctx context.Context, _ *Task) error {
			close(started)
			<-ctx.Done()
			time.Sleep(2 * time.Second) // cleans up
			return ctx.Err()
		})
		mustRegister(t, b, "quick", func(ctx context.Context, _ *Task) error { return Exit(4) })
		ctx, cancel := context.WithCancel(context.Background())
		rec := newRecorder(t)
		b.Start(ctx, attempt(1, "slow"), rec.done)
		<-started
		cancel()
		got := <-rec.ch
		if d := got.EndTime.Sub(got.StartTime); got.ExitCode != ExitCodeTerminated || d != 2*time.Second {
			t.Errorf("result = %+v after %v", got, d)
		}
		// An attempt that is never cancelled reports normally.
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		if got := run(t, b, ctx2, attempt(2, "quick")); got.ExitCode != 4 {
			t.Errorf("quick: %+v", got)
		}
		synctest.Wait()
		if n := rec.calls.Load(); n != 1 {
			t.Errorf("done called %d times", n)
		}
	})
}

func TestSlotsLimitConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(t, 2)
		var running, entered atomic.Int32
		release := make(chan struct{})
		mustRegister(t, b, "block", func(ctx context.Context, _ *Task) error {
			running.Add(1)
			entered.Add(1)
			<-release
			running.Add(-1)
			return nil
		})
		results := make(chan node.Result, 5)
		for i := range 5 {
			// Start must return although the node is full.
			b.Start(context.Background(), attempt(uint64(i), "block"), func(r node.Result) { results <- r })
		}
		check := func(wantEntered int32) {
			t.Helper()
			synctest.Wait()
			if got := entered.Load(); got != wantEntered {
				t.Errorf("entered = %d, want %d", got, wantEntered)
			}
			if got := running.Load(); got != 2 {
				t.Errorf("running = %d with 2 slots", got)
			}
		}
		check(2)
		for k := int32(1); k <= 3; k++ {
			release <- struct{}{}
			<-results
			check(2 + k)
		}
		release <- struct{}{}
		release <- struct{}{}
		<-results
		<-results
		synctest.Wait()
		if got := running.Load(); got != 0 {
			t.Errorf("running = %d at the end", got)
		}
	})
}

func TestStartOnUnknownOrRemovedNode(t *testing.T) {
	b := newBackend(t, 1)
	mustRegister(t, b, "h", func(context.Context, *Task) error { t.Error("handler ran"); return nil })
	check := func(a *node.Attempt, why string) {
		t.Helper()
		got := normalize(t, run(t, b, context.Background(), a))
		want := node.Result{Kind: task.OutcomePreProcessingError, ExitCode: ExitCodeNotRun,
			FailureInfo: failure(task.ServerError, task.CodeNodeNotFound, `node "`+a.NodeID+`" `+why)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
	}
	a := attempt(1, "h")
	a.NodeID = "nope"
	check(a, "is not in this backend")

	if err := b.RemoveNode(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	check(attempt(2, "h"), "is not in this backend")
	if err := b.RemoveNode(context.Background(), "n1"); !errors.Is(err, task.ErrNodeNotFound) {
		t.Errorf("second RemoveNode = %v, want NodeNotFound", err)
	}
	// The id can be reused.
	if err := b.AddNode(context.Background(), node.NodeInfo{PoolID: "p1", NodeID: "n1", Slots: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveNodeSkipsQueuedAttempts(t *testing.T) {
	synctest.Test(t, testRemoveNodeSkipsQueuedAttempts)
}

func testRemoveNodeSkipsQueuedAttempts(t *testing.T) {
	b := newBackend(t, 1)
	started := make(chan struct{})
	release := make(chan struct{})
	var ran atomic.Int32
	mustRegister(t, b, "block", func(ctx context.Context, _ *Task) error {
		ran.Add(1)
		close(started)
		<-release
		return nil
	})
	first, queued, cancelled := newRecorder(t), newRecorder(t), newRecorder(t)
	b.Start(context.Background(), attempt(1, "block"), first.done)
	<-started
	b.Start(context.Background(), attempt(2, "block"), queued.done)
	ctx, cancel := context.WithCancel(context.Background())
	b.Start(ctx, attempt(3, "block"), cancelled.done)
	cancel()

	removed := make(chan error)
	go func() { removed <- b.RemoveNode(context.Background(), "n1") }()
	synctest.Wait() // RemoveNode waits for the running handler
	select {
	case err := <-removed:
		t.Fatalf("RemoveNode returned %v while a handler ran", err)
	default:
	}
	close(release)
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if got := <-first.ch; got.ExitCode != 0 {
		t.Errorf("running attempt: %+v", got)
	}
	if got := <-queued.ch; got.FailureInfo == nil || got.FailureInfo.Category != task.ServerError || got.ExitCode != ExitCodeNotRun {
		t.Errorf("queued attempt: %+v", got)
	}
	if got := <-cancelled.ch; got.ExitCode != ExitCodeTerminated {
		t.Errorf("cancelled attempt: %+v", got)
	}
	if n := ran.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
}

func TestRemoveNodeHonoursCtx(t *testing.T) {
	b := newBackend(t, 1)
	started := make(chan struct{})
	release := make(chan struct{})
	mustRegister(t, b, "block", func(ctx context.Context, _ *Task) error { close(started); <-release; return nil })
	rec := newRecorder(t)
	b.Start(context.Background(), attempt(1, "block"), rec.done)
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.RemoveNode(ctx, "n1"); !errors.Is(err, context.Canceled) {
		t.Errorf("RemoveNode = %v, want context.Canceled", err)
	}
	close(release)
	<-rec.ch
}

func TestAddNodeErrors(t *testing.T) {
	b := newBackend(t, 1)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		info node.NodeInfo
		want error
	}{
		{"empty id", context.Background(), node.NodeInfo{Slots: 1}, task.ErrMissingRequiredProperty},
		{"zero slots", context.Background(), node.NodeInfo{NodeID: "n2"}, task.ErrInvalidPropertyValue},
		{"negative slots", context.Background(), node.NodeInfo{NodeID: "n2", Slots: -3}, task.ErrInvalidPropertyValue},
		{"duplicate", context.Background(), node.NodeInfo{NodeID: "n1", Slots: 1}, task.ErrOperationInvalidForState},
		{"cancelled ctx", cancelled, node.NodeInfo{NodeID: "n2", Slots: 1}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.AddNode(tt.ctx, tt.info); !errors.Is(err, tt.want) {
				t.Errorf("AddNode(%+v) = %v, want %v", tt.info, err, tt.want)
			}
		})
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.AddNode(context.Background(), node.NodeInfo{NodeID: "n3", Slots: 1}); !errors.Is(err, task.ErrOperationInvalidForState) {
		t.Errorf("AddNode after Close = %v", err)
	}
}

func TestRegister(t *testing.T) {
	h := func(context.Context, *Task) error { return nil }
	tests := []struct {
		name    string
		handler Handler
		want    error
	}{
		{"echo", h, nil},
		{"pkg.Func/v2:run@x+y_z-1", h, nil},
		{strings.Repeat("a", 256), h, nil},
		{strings.Repeat("a", 257), h, task.ErrInvalidPropertyValue},
		{"", h, task.ErrMissingRequiredProperty},
		{"two words", h, task.ErrInvalidPropertyValue},
		{`quo"te`, h, task.ErrInvalidPropertyValue},
		{"back\\slash", h, task.ErrInvalidPropertyValue},
		{"tab\t", h, task.ErrInvalidPropertyValue},
		{"ünï", h, task.ErrInvalidPropertyValue},
		{"nilhandler", nil, task.ErrInvalidPropertyValue},
	}
	b := New()
	for _, tt := range tests {
		if err := b.Register(tt.name, tt.handler); !errors.Is(err, tt.want) {
			t.Errorf("Register(%q) = %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := b.Register("echo", h); !errors.Is(err, task.ErrInvalidPropertyValue) || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("duplicate Register = %v", err)
	}
}

func TestArgsAndEnv(t *testing.T) {
	b := newBackend(t, 1)
	if err := b.AddNode(context.Background(), node.NodeInfo{PoolID: "p1", NodeID: "n2", Slots: 1, Dedicated: false}); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		Name    string
		Args    []string
		NodeID  string
		Env     map[string]string
		Missing []string
		Environ []string
	}
	got := make(chan seen, 1)
	keys := []string{"A", "B", "AZ_BATCH_ACCOUNT_NAME", "AZ_BATCH_TASK_ID", "AZ_BATCH_JOB_ID", "AZ_BATCH_NODE_ID", "AZ_BATCH_POOL_ID", "AZ_BATCH_NODE_IS_DEDICATED"}
	mustRegister(t, b, "env", func(_ context.Context, tk *Task) error {
		s := seen{Name: tk.Name, Args: tk.Args, NodeID: tk.NodeID, Env: map[string]string{}, Environ: tk.Environ()}
		for _, k := range keys {
			if v, ok := tk.LookupEnv(k); ok {
				s.Env[k] = v
			}
		}
		for _, k := range []string{"C", "AZ_BATCH_HOST_LIST", "AZ_BATCH_MASTER_NODE", "AZ_BATCH_TASK_DIR"} {
			if _, ok := tk.LookupEnv(k); ok || tk.Getenv(k) != "" {
				s.Missing = append(s.Missing, k)
			}
		}
		got <- s
		return nil
	})
	tests := []struct {
		name string
		a    node.Attempt
		want seen
	}{
		{
			name: "task",
			a: node.Attempt{ID: 1, Kind: node.KindTask, PoolID: "p1", JobID: "j1", TaskID: "t1", NodeID: "n1",
				CommandLine: `env  one 'two words' "three \"q\"" fo\ ur $HOME`,
				Env:         []task.EnvironmentSetting{{Name: "A", Value: "job"}, {Name: "B", Value: "b"}, {Name: "A", Value: "task"}, {Name: "AZ_BATCH_NODE_ID", Value: "spoofed"}, {Name: "AZ_BATCH_ACCOUNT_NAME", Value: "acct"}}},
			want: seen{
				Name: "env", Args: []string{"one", "two words", `three "q"`, "fo ur", "$HOME"}, NodeID: "n1",
				Env: map[string]string{"A": "task", "B": "b", "AZ_BATCH_ACCOUNT_NAME": "acct", "AZ_BATCH_TASK_ID": "t1", "AZ_BATCH_JOB_ID": "j1",
					"AZ_BATCH_NODE_ID": "n1", "AZ_BATCH_POOL_ID": "p1", "AZ_BATCH_NODE_IS_DEDICATED": "true"},
				Environ: []string{"A=task", "B=b", "AZ_BATCH_ACCOUNT_NAME=acct", "AZ_BATCH_NODE_ID=n1", "AZ_BATCH_POOL_ID=p1",
					"AZ_BATCH_NODE_IS_DEDICATED=true", "AZ_BATCH_JOB_ID=j1", "AZ_BATCH_TASK_ID=t1"},
			},
		},
		{
			name: "start task on low-priority node",
			a:    node.Attempt{ID: 2, Kind: node.KindStartTask, PoolID: "p1", TaskID: "starttask", NodeID: "n2", CommandLine: "env"},
			want: seen{
				Name: "env", NodeID: "n2",
				Env:     map[string]string{"AZ_BATCH_NODE_ID": "n2", "AZ_BATCH_POOL_ID": "p1", "AZ_BATCH_NODE_IS_DEDICATED": "false"},
				Environ: []string{"AZ_BATCH_NODE_ID=n2", "AZ_BATCH_POOL_ID=p1", "AZ_BATCH_NODE_IS_DEDICATED=false"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := run(t, b, context.Background(), &tt.a); r.ExitCode != 0 {
				t.Fatalf("result %+v %+v", r, r.FailureInfo)
			}
			if diff := cmp.Diff(tt.want, <-got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMultiInstance(t *testing.T) {
	b := newBackend(t, 1)
	for _, id := range []string{"n2", "n3"} {
		if err := b.AddNode(context.Background(), node.NodeInfo{PoolID: "p1", NodeID: id, Slots: 1, Dedicated: id == "n2"}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var log []string
	logf := func(format string, args ...any) {
		mu.Lock()
		log = append(log, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var coordinated sync.WaitGroup
	coordinated.Add(3)
	mustRegister(t, b, "coord", func(_ context.Context, tk *Task) error {
		logf("coord %s args=%v dedicated=%s master=%s host=%s list=%s nodes=%s", tk.NodeID, tk.Args, tk.Getenv("AZ_BATCH_NODE_IS_DEDICATED"),
			tk.Getenv("AZ_BATCH_IS_CURRENT_NODE_MASTER"), tk.Getenv("AZ_BATCH_NODE_ID"), tk.Getenv("AZ_BATCH_HOST_LIST"), tk.Getenv("AZ_BATCH_NODE_LIST"))
		fmt.Fprintf(tk.Stdout, "coord %s\n", tk.NodeID)
		coordinated.Done()
		coordinated.Wait() // all instances run at once
		if tk.NodeID == "n3" && len(tk.Args) > 0 && tk.Args[0] == "fail" {
			return errors.New("n3 failed")
		}
		return nil
	})
	mustRegister(t, b, "main", func(_ context.Context, tk *Task) error {
		logf("main %s master=%s", tk.NodeID, tk.Getenv("AZ_BATCH_MASTER_NODE"))
		return nil
	})
	a := attempt(1, "main")
	a.Nodes = []string{"n1", "n2", "n3"}
	a.CoordinationCommandLine = "coord x"
	if r := run(t, b, context.Background(), a); r.ExitCode != 0 {
		t.Fatalf("result %+v %+v", r, r.FailureInfo)
	}
	mu.Lock()
	got := append([]string(nil), log...)
	log = nil
	mu.Unlock()
	// Coordination order is concurrent; main comes last.
	want := []string{
		"coord n1 args=[x] dedicated=true master=true host=n1 list=n1,n2,n3 nodes=n1;n2;n3",
		"coord n2 args=[x] dedicated=true master=false host=n2 list=n1,n2,n3 nodes=n1;n2;n3",
		"coord n3 args=[x] dedicated=false master=false host=n3 list=n1,n2,n3 nodes=n1;n2;n3",
		"main n1 master=n1:6000",
	}
	if diff := cmp.Diff(want[3], got[len(got)-1]); diff != "" {
		t.Errorf("last (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got, cmpSortStrings); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	out, err := b.ReadTaskFile(context.Background(), "n1", "j1", "t1", "stdout.txt")
	if diff := cmp.Diff(sortedLines("coord n1\ncoord n2\ncoord n3\n"), sortedLines(string(out))); err != nil || diff != "" {
		t.Errorf("stdout (-want +got), %v:\n%s", err, diff)
	}

	coordinated.Add(3)
	a = attempt(2, "main")
	a.Nodes = []string{"n1", "n2", "n3"}
	a.CoordinationCommandLine = "coord fail"
	r := normalize(t, run(t, b, context.Background(), a))
	wantR := node.Result{Kind: task.OutcomeExited, ExitCode: ExitCodeError,
		FailureInfo: failure(task.UserError, task.FailureNonZeroExit, "coordinationCommandLine: n3 failed")}
	if diff := cmp.Diff(wantR, r); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range log {
		if strings.HasPrefix(l, "main") {
			t.Errorf("main ran after a failed coordination: %q", l)
		}
	}
}

var cmpSortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })

// sortedLines splits s into lines and sorts them.
func sortedLines(s string) []string {
	l := strings.SplitAfter(s, "\n")
	slices.Sort(l)
	return l
}

func TestDoneExactlyOnceUnderLoad(t *testing.T) {
	b := New()
	const nodes, perNode = 4, 500
	for i := range nodes {
		if err := b.AddNode(context.Background(), node.NodeInfo{PoolID: "p", NodeID: fmt.Sprint("n", i), Slots: 3}); err != nil {
			t.Fatal(err)
		}
	}
	mustRegister(t, b, "mix", func(ctx context.Context, tk *Task) error {
		switch tk.Attempt.ID % 4 {
		case 0:
			return nil
		case 1:
			return Exit(9)
		case 2:
			panic("p")
		default:
			<-ctx.Done()
			return ctx.Err()
		}
	})
	counts := make([]atomic.Int32, nodes*perNode)
	var wg sync.WaitGroup
	wg.Add(nodes * perNode)
	var starters sync.WaitGroup
	for n := range nodes {
		starters.Go(func() {
			for i := range perNode {
				id := uint64(n*perNode + i)
				ctx, cancel := context.WithCancel(context.Background())
				a := &node.Attempt{ID: id, Kind: node.KindTask, PoolID: "p", JobID: "j", TaskID: fmt.Sprint(id), NodeID: fmt.Sprint("n", n), CommandLine: "mix"}
				b.Start(ctx, a, func(r node.Result) {
					counts[id].Add(1)
					wantCode := [...]int{0, 9, ExitCodePanic, ExitCodeTerminated}[id%4]
					if r.ExitCode != wantCode {
						t.Errorf("attempt %d: exit %d, want %d", id, r.ExitCode, wantCode)
					}
					wg.Done()
				})
				if id%4 == 3 {
					cancel()
				} else {
					t.Cleanup(cancel)
				}
			}
		})
	}
	starters.Wait()
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for id := range counts {
		if n := counts[id].Load(); n != 1 {
			t.Errorf("attempt %d: done called %d times", id, n)
		}
	}
}

func TestCloseWaitsAndRejects(t *testing.T) {
	b := New()
	if err := b.AddNode(context.Background(), node.NodeInfo{NodeID: "n1", Slots: 1}); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var returned atomic.Bool
	mustRegister(t, b, "h", func(ctx context.Context, _ *Task) error {
		close(started)
		<-ctx.Done()
		returned.Store(true)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	rec := newRecorder(t)
	b.Start(ctx, attempt(1, "h"), rec.done)
	<-started
	cancel()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !returned.Load() {
		t.Error("Close returned before the handler")
	}
	<-rec.ch
	if got := run(t, b, context.Background(), attempt(2, "h")); got.ExitCode != ExitCodeNotRun {
		t.Errorf("Start after Close: %+v", got)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
