package pool

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/embatch/embatch/task"
)

// autoDriver runs a scheduler in virtual time: nodes come up at once and
// every attempt exits 0 after runFor.
type autoDriver struct {
	t       *testing.T
	s       *Scheduler
	now     time.Time
	runFor  time.Duration
	exits   map[time.Time][]uint64
	targets []int // target dedicated nodes after each evaluation
}

func (d *autoDriver) step(ev Event) {
	d.t.Helper()
	if err := d.s.Step(d.now, ev); err != nil {
		d.t.Fatalf("step %T: %v", ev, err)
	}
	d.drain()
}

func (d *autoDriver) drain() {
	for {
		rd := d.s.Ready()
		if rd.Empty() {
			return
		}
		actions := append([]Action(nil), rd.Actions...)
		d.s.Advance(rd)
		for _, a := range actions {
			switch a.Kind {
			case ActAllocateNode:
				_ = d.s.Step(d.now, NodeReady{Node: a.Node})
			case ActStartAttempt:
				at := d.now.Add(d.runFor)
				d.exits[at] = append(d.exits[at], a.Attempt.ID)
			case ActKillAttempt:
				_ = d.s.Step(d.now, AttemptExited{ID: a.Attempt.ID, Outcome: task.OutcomeExited, ExitCode: 137})
			}
		}
	}
}

// advance moves virtual time to until, delivering exits and firing timers
// in time order.
func (d *autoDriver) advance(until time.Time) {
	for {
		next := d.s.NextDeadline()
		for at := range d.exits {
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if next.IsZero() || next.After(until) {
			d.now = until
			return
		}
		d.now = next
		if ids, ok := d.exits[next]; ok {
			delete(d.exits, next)
			for _, id := range ids {
				d.step(AttemptExited{ID: id, Outcome: task.OutcomeExited})
			}
		}
		before := d.s.LastAutoScaleRun()
		d.step(Tick{})
		if after := d.s.LastAutoScaleRun(); after != nil && (before == nil || !after.Timestamp.Equal(before.Timestamp)) {
			d.targets = append(d.targets, d.s.Pool().TargetDedicatedNodes)
		}
	}
}

const pendingFormula = `$samples = $PendingTasks.GetSample(TimeInterval_Minute);
$TargetDedicatedNodes = min(4, max($samples));
$NodeDeallocationOption = taskcompletion;`

func TestAutoScaleFollowsPendingTasks(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	minute := task.Duration(time.Minute)
	s, err := NewScheduler(Spec{ID: "auto", EnableAutoScale: true, AutoScaleFormula: pendingFormula, AutoScaleEvaluationInterval: &minute}, Config{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	d := &autoDriver{t: t, s: s, now: t0, runFor: 5 * time.Minute, exits: map[time.Time][]uint64{}}
	d.drain()
	if run := s.Pool().AutoScaleRun; run == nil || !strings.HasPrefix(run.Results, "$TargetDedicatedNodes=0;") {
		t.Fatalf("first run = %+v, want target 0 for an idle pool", run)
	}
	if err := s.Step(t0, Resize{TargetDedicatedNodes: 2}); !errors.Is(err, task.ErrOperationInvalidForState) {
		t.Errorf("manual resize of an autoscale pool: %v, want OperationInvalidForCurrentState", err)
	}
	d.step(AddJob{Spec: task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "auto"}}})
	var tasks []task.TaskSpec
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		tasks = append(tasks, task.TaskSpec{ID: id, CommandLine: "x"})
	}
	d.step(AddTasks{JobID: "j", Tasks: tasks})
	d.advance(t0.Add(30 * time.Minute))

	// The pool grows to the cap of 4 while tasks wait, then shrinks to 0
	// once the last minute's samples show no pending task.
	peak := 0
	for _, n := range d.targets {
		peak = max(peak, n)
	}
	if peak != 4 {
		t.Errorf("targets over time %v: peak %d, want 4", d.targets, peak)
	}
	if last := d.targets[len(d.targets)-1]; last != 0 {
		t.Errorf("targets over time %v: ends at %d, want 0", d.targets, last)
	}
	tc, _ := s.TaskCounts("j")
	if tc.TaskCounts.Succeeded != 6 {
		t.Errorf("succeeded = %d, want 6", tc.TaskCounts.Succeeded)
	}
	if n := len(s.Nodes()); n != 0 {
		t.Errorf("%d nodes left, want 0", n)
	}

	// A dry run changes nothing.
	before := s.Pool()
	run, err := s.EvaluateAutoScale("$TargetDedicatedNodes = 7;")
	if err != nil || !strings.HasPrefix(run.Results, "$TargetDedicatedNodes=7;") {
		t.Errorf("dry run = %+v, %v", run, err)
	}
	if after := s.Pool(); after.TargetDedicatedNodes != before.TargetDedicatedNodes || len(s.Ready().Actions) != 0 {
		t.Errorf("dry run changed the pool: target %d → %d", before.TargetDedicatedNodes, after.TargetDedicatedNodes)
	}
}

func TestAutoScaleBadInput(t *testing.T) {
	cases := []struct {
		name  string
		spec  Spec
		field string
	}{
		{"syntax", Spec{ID: "p", EnableAutoScale: true, AutoScaleFormula: "$TargetDedicatedNodes = = 1;"}, "autoScaleFormula"},
		{"missing formula", Spec{ID: "p", EnableAutoScale: true}, "autoScaleFormula"},
		{"targets with autoscale", Spec{ID: "p", EnableAutoScale: true, AutoScaleFormula: "$TargetDedicatedNodes = 1;", TargetDedicatedNodes: 2}, "targetDedicatedNodes"},
		{"formula without autoscale", Spec{ID: "p", AutoScaleFormula: "$TargetDedicatedNodes = 1;"}, "autoScaleFormula"},
		{"negative interval", Spec{ID: "p", EnableAutoScale: true, AutoScaleFormula: "$TargetDedicatedNodes = 1;", AutoScaleEvaluationInterval: task.Ptr(task.Duration(-time.Second))}, "autoScaleEvaluationInterval"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewScheduler(c.spec, Config{})
			var e *task.Error
			if !errors.As(err, &e) || e.Field != c.field {
				t.Fatalf("err = %v, want an error naming %s", err, c.field)
			}
		})
	}
	s, err := NewScheduler(Spec{ID: "p"}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Step(time.Time{}, EnableAutoScale{Formula: "$TargetDedicatedNodes = ;"}); err == nil {
		t.Error("bad formula accepted by EnableAutoScale")
	}
	if s.Pool().EnableAutoScale {
		t.Error("a rejected EnableAutoScale turned autoscaling on")
	}
	if err := s.Step(time.Time{}, EvaluateAutoScaleNow{}); !errors.Is(err, task.ErrOperationInvalidForState) {
		t.Errorf("evaluate without autoscale: %v", err)
	}
}

// TestAutoScaleFollowsADayOfLoad simulates a day in virtual time: bursts of
// 20-minute tasks arrive every 4 hours, and a task-based formula evaluated
// every 5 minutes sizes the pool. The pool must grow to meet each burst and
// shrink to nothing between bursts.
func TestAutoScaleFollowsADayOfLoad(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	every := task.Duration(5 * time.Minute)
	formula := `$pending = $PendingTasks.GetSample(TimeInterval_Minute * 5);
$TargetDedicatedNodes = min(10, max($pending));
$NodeDeallocationOption = taskcompletion;`
	s, err := NewScheduler(Spec{ID: "day", EnableAutoScale: true, AutoScaleFormula: formula, AutoScaleEvaluationInterval: &every}, Config{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	d := &autoDriver{t: t, s: s, now: t0, runFor: 20 * time.Minute, exits: map[time.Time][]uint64{}}
	d.drain()
	d.step(AddJob{Spec: task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "day"}}})
	bursts := []int{3, 12, 6, 0, 8, 2}
	total := 0
	type sample struct {
		at     time.Time
		target int
		nodes  int
	}
	var trace []sample
	for i, n := range bursts {
		start := t0.Add(time.Duration(i) * 4 * time.Hour)
		d.advance(start)
		if n > 0 {
			tasks := make([]task.TaskSpec, n)
			for k := range tasks {
				tasks[k] = task.TaskSpec{ID: fmt.Sprintf("b%d-%d", i, k), CommandLine: "work"}
			}
			d.step(AddTasks{JobID: "j", Tasks: tasks})
			total += n
		}
		// Watch the first hour of the burst, then the quiet rest.
		for m := 5; m <= 4*60; m += 5 {
			d.advance(start.Add(time.Duration(m) * time.Minute))
			trace = append(trace, sample{d.now, s.Pool().TargetDedicatedNodes, len(s.Nodes())})
		}
		peak := 0
		for _, smp := range trace[len(trace)-48:] {
			peak = max(peak, smp.target)
		}
		if want := min(10, n); peak != want {
			t.Errorf("burst %d of %d tasks: peak target %d, want %d", i, n, peak, want)
		}
		if last := trace[len(trace)-1]; last.target != 0 || last.nodes != 0 {
			t.Errorf("burst %d: 4 h later target %d with %d nodes, want an empty pool", i, last.target, last.nodes)
		}
	}
	tc, _ := s.TaskCounts("j")
	if tc.TaskCounts.Succeeded != total {
		t.Errorf("succeeded %d of %d tasks", tc.TaskCounts.Succeeded, total)
	}
}
