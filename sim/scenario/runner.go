package scenario

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/sim"
	"github.com/embatch/embatch/task"
)

// CreatePool is the input that creates the scenario's pool.
type CreatePool struct {
	Spec pool.Spec
	// Policy is a pool.NewPolicy name; "" is Azure's default.
	Policy string
}

// Input is one thing that happens to the pool at virtual time At (since
// the scenario's start): its creation, or one event stepped into the core.
type Input struct {
	At     time.Duration
	Create *CreatePool
	Event  pool.Event
	// Deadline marks a Tick the runner stepped because a timer of the core
	// fell due (the scenario's clock passed it): a live driver sees it as
	// its own timer firing.
	Deadline bool
}

// String describes the input for messages.
func (in Input) String() string {
	switch {
	case in.Create != nil:
		return fmt.Sprintf("t=%v create pool %s", in.At, in.Create.Spec.ID)
	case in.Deadline:
		return fmt.Sprintf("t=%v deadline", in.At)
	}
	return fmt.Sprintf("t=%v %T%+v", in.At, in.Event, in.Event)
}

// Step is an input and what the core decided: whether it rejected it, and
// the trace line of every Action, in order.
type Step struct {
	Input    Input
	Rejected error
	Actions  []string
}

// Runner plays a scenario through a sim.Driver, one directive at a time,
// keeping what a driver must remember (started attempts, their pending
// kills, nodes allocated but not yet ready) so that scripts can say "exit
// job=j task=a" or "ready-all". It is the one driver of the scenario files:
// pool's data-driven test checks its output against the golden files
// (NewGoldenRunner), the simulator's and the engine's conformance tests
// compare its decisions (NewRunner).
type Runner struct {
	drv *sim.Driver
	// policy is the core's policy object, for the reservations command.
	policy pool.Policy
	// live fires the core's timers as the clock passes them (NewRunner).
	live bool
	// restored is the core Restart hands to step.
	restored *pool.Scheduler
	now      time.Duration
	// started holds attempts started and not yet reported exited.
	started map[uint64]pool.Attempt
	// killing records the kill reason of started attempts.
	killing map[uint64]string
	// allocated lists nodes allocated and not yet ready or released, in
	// allocation order.
	allocated []string

	// steps, out (what it printed) and showChanges belong to the
	// directive being run; stepOut and changes to the step being taken.
	steps       []Step
	out         strings.Builder
	showChanges bool
	stepOut     strings.Builder
	changes     []pool.Change

	// Trace, when set, receives everything: each directive's command and
	// output and every Change, printed or not, so that determinism can be
	// checked beyond the golden output.
	Trace *strings.Builder
	// OnChanges, when set, sees the Changes of every Ready the core hands
	// out, with the core to read their records from (restore tests persist
	// them through it).
	OnChanges func(core *pool.Scheduler, changes []pool.Change)
}

// NewRunner returns a runner with no pool yet, in live time: moving the
// clock (at, t=, tick) steps a Tick at every deadline of the core it
// passes, as a live driver's timers fire. The conformance tests use it.
func NewRunner() *Runner {
	r := NewGoldenRunner()
	r.live = true
	return r
}

// NewGoldenRunner returns a runner with no pool yet, in the core's time,
// the one the golden files are written in: moving the clock steps nothing,
// timers that fell due fire with the next event (pool.Scheduler.Step fires
// them first), and tick jumps to the core's NextDeadline.
func NewGoldenRunner() *Runner {
	return &Runner{started: map[uint64]pool.Attempt{}, killing: map[uint64]string{}}
}

// Driver is the simulator's driver of the scenario's pool (nil before the
// pool directive).
func (r *Runner) Driver() *sim.Driver { return r.drv }

// Now is the scenario's clock, since its start.
func (r *Runner) Now() time.Duration { return r.now }

// Started lists the ids of the attempts started and not yet reported
// exited, in order.
func (r *Runner) Started() []uint64 {
	ids := make([]uint64, 0, len(r.started))
	for id := range r.started {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Allocated lists the nodes allocated and not yet reported ready or
// released, in allocation order.
func (r *Runner) Allocated() []string { return slices.Clone(r.allocated) }

// Output is what the latest Run printed: the golden output of its
// directive.
func (r *Runner) Output() string { return r.out.String() }

// Restart continues the scenario on core, a scheduler restored from what
// was persisted (pool.Restore) whose clock is at the runner's: every node
// and attempt of the old core is forgotten and core's pending Ready is
// handled. It returns what handling it printed. The reservations command
// is not available after a restart.
func (r *Runner) Restart(core *pool.Scheduler) string {
	r.started = map[uint64]pool.Attempt{}
	r.killing = map[uint64]string{}
	r.allocated = nil
	r.policy = nil
	r.steps = r.steps[:0]
	r.out.Reset()
	r.showChanges = false
	r.restored = core
	r.step(Input{At: r.now})
	return r.out.String()
}

// Files lists the scenario files (*.txt) in dir; none is an error.
func Files(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no scenarios in %s", dir)
	}
	return files, err
}

// RunFile plays a scenario file in live time (NewRunner) and returns every
// step.
func RunFile(path string) ([]Step, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dirs, err := Parse(filepath.Base(path), string(data))
	if err != nil {
		return nil, err
	}
	r := NewRunner()
	var all []Step
	for _, d := range dirs {
		steps, err := r.Run(d)
		if err != nil {
			return nil, err
		}
		all = append(all, steps...)
	}
	return all, nil
}

// Run plays one directive and returns the steps it caused; Output is what
// it printed. An error means the script is wrong (unknown command or
// argument, bad JSON); the core's rejections are in the steps and the
// output ("error: ...").
func (r *Runner) Run(d Directive) ([]Step, error) {
	r.steps = nil
	r.out.Reset()
	a := newArgs(d.Args)
	if t, ok, err := a.dur("t"); err != nil {
		return nil, fmt.Errorf("%s: %v", d.Pos, err)
	} else if ok {
		if err := r.advance(t); err != nil {
			return nil, fmt.Errorf("%s: %v", d.Pos, err)
		}
	}
	r.showChanges = a.has("changes")
	err := r.exec(d.Cmd, a, d.Input)
	if err == nil {
		err = a.unused()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", d.Pos, d.Cmd, err)
	}
	if r.Trace != nil {
		fmt.Fprintf(r.Trace, "> %s\n%s", d.Cmd, r.out.String())
	}
	return r.steps, nil
}

// advance moves the clock to t; in live time it steps a Tick at every
// deadline of the core on the way, as a live driver's timers would fire.
func (r *Runner) advance(t time.Duration) error {
	if t < r.now {
		return fmt.Errorf("time goes backwards: t=%v after t=%v", t, r.now)
	}
	for r.live && r.drv != nil {
		d, ok := r.drv.NextDeadline()
		if !ok || d > t {
			break
		}
		r.step(Input{At: max(d, r.now), Event: pool.Tick{}, Deadline: true})
	}
	r.now = t
	return nil
}

// step applies one input, records it and prints its outcome: the core's
// error, then (with the changes flag) every Change, then every Action.
func (r *Runner) step(in Input) {
	r.now = max(r.now, in.At)
	r.steps = append(r.steps, Step{Input: in})
	r.stepOut.Reset()
	r.changes = r.changes[:0]
	var err error
	switch {
	case in.Create != nil:
		var p pool.Policy
		if p, err = sim.NewPolicy(in.Create.Policy); err == nil {
			if r.drv, err = sim.NewDriver(in.At, in.Create.Spec, p, r); err == nil {
				r.policy = p
			}
		}
	case r.restored != nil:
		r.drv = sim.DriverFor(in.At, r.restored, r)
		r.restored = nil
	default:
		err = r.drv.Step(in.At, in.Event)
	}
	r.steps[len(r.steps)-1].Rejected = err
	if err != nil {
		fmt.Fprintf(&r.out, "error: %v\n", err)
	}
	r.out.WriteString(r.stepOut.String())
	if r.OnChanges != nil && r.drv != nil {
		r.OnChanges(r.drv.Core(), r.changes)
	}
}

// event steps ev now.
func (r *Runner) event(ev pool.Event) { r.step(Input{At: r.now, Event: ev}) }

// Change implements sim.Handler.
func (r *Runner) Change(_ time.Duration, c pool.Change) {
	r.changes = append(r.changes, c)
	line := ChangeLine(c)
	if r.showChanges {
		fmt.Fprintf(&r.stepOut, "~ %s\n", line)
	}
	if r.Trace != nil {
		fmt.Fprintf(r.Trace, "~ %s\n", line)
	}
}

// Action implements sim.Handler: it records the trace line and what a
// driver must remember, and prints the action. An action a driver cannot
// carry out (releasing a node an attempt still runs on, starting an
// attempt twice) prints a line starting "BUG:".
func (r *Runner) Action(_ time.Duration, act pool.Action) {
	cur := &r.steps[len(r.steps)-1]
	cur.Actions = append(cur.Actions, ActionLine(act))
	switch act.Kind {
	case pool.ActAllocateNode:
		r.allocated = append(r.allocated, act.Node)
	case pool.ActReleaseNode:
		r.allocated = slices.DeleteFunc(r.allocated, func(x string) bool { return x == act.Node })
		for _, id := range r.Started() {
			if slices.Contains(r.started[id].Nodes, act.Node) {
				fmt.Fprintf(&r.stepOut, "BUG: node %s released with attempt #%d running\n", act.Node, id)
			}
		}
	case pool.ActStartAttempt:
		at := *act.Attempt
		at.Nodes = slices.Clone(at.Nodes)
		if _, dup := r.started[at.ID]; dup {
			fmt.Fprintf(&r.stepOut, "BUG: attempt #%d started twice\n", at.ID)
		}
		r.started[at.ID] = at
	case pool.ActKillAttempt:
		if _, ok := r.started[act.Attempt.ID]; ok {
			r.killing[act.Attempt.ID] = act.Reason
		}
	}
	r.stepOut.WriteString(act.String())
	r.stepOut.WriteByte('\n')
}

// forget drops a started attempt the script reported exited.
func (r *Runner) forget(id uint64) {
	delete(r.started, id)
	delete(r.killing, id)
}

func (r *Runner) exec(cmd string, a *args, input string) error {
	if cmd != "pool" && cmd != "at" && r.drv == nil {
		return errNoPool
	}
	switch cmd {
	case "at":
		if !a.has("t") {
			return errors.New("at needs t=<duration>")
		}
		return nil // Run moved the clock
	case "pool":
		return r.cmdPool(a, input)
	case "job":
		var spec task.JobSpec
		if err := decodeStrict(input, &spec); err != nil {
			return err
		}
		if spec.PoolInfo.PoolID == "" && spec.PoolInfo.AutoPoolSpecification == nil {
			spec.PoolInfo.PoolID = r.drv.Core().Pool().ID
		}
		r.event(pool.AddJob{Spec: spec})
	case "tasks":
		job, err := a.mustStr("job")
		if err != nil {
			return err
		}
		specs, err := decodeTasks(input)
		if err != nil {
			return err
		}
		r.event(pool.AddTasks{JobID: job, Tasks: specs})
	case "ready":
		nodes, _ := a.strList("nodes")
		if n, ok, err := a.str("node"); err != nil {
			return err
		} else if ok {
			nodes = append(nodes, n)
		}
		if len(nodes) == 0 {
			return errors.New("ready needs node= or nodes=")
		}
		for _, n := range nodes {
			r.allocated = slices.DeleteFunc(r.allocated, func(x string) bool { return x == n })
			r.event(pool.NodeReady{Node: n})
		}
	case "ready-all":
		nodes := slices.Clone(r.allocated)
		r.allocated = r.allocated[:0]
		for _, n := range nodes {
			r.event(pool.NodeReady{Node: n})
		}
	case "fail":
		return r.cmdFail(a)
	case "exit":
		return r.cmdExit(a)
	case "exit-all":
		ev, err := exitEvent(a)
		if err != nil {
			return err
		}
		ids, err := r.match(a)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, ok := r.started[id]; !ok {
				continue // written off meanwhile (its node failed)
			}
			r.forget(id)
			ev.ID = id
			fmt.Fprintf(&r.out, "#%d exited\n", id)
			r.event(ev)
		}
	case "resize":
		return r.cmdResize(a)
	case "stop-resize":
		r.event(pool.StopResize{})
	case "remove-nodes":
		nodes, _ := a.strList("nodes")
		opt, _, err := a.str("option")
		if err != nil {
			return err
		}
		r.event(pool.RemoveNodes{Nodes: nodes, DeallocationOption: pool.DeallocationOption(opt)})
	case "disable-node", "enable-node":
		n, err := a.mustStr("node")
		if err != nil {
			return err
		}
		opt, _, err := a.str("option")
		if err != nil {
			return err
		}
		r.event(pool.SetNodeScheduling{Node: n, Enabled: cmd == "enable-node", Option: pool.DeallocationOption(opt)})
	case "terminate-task":
		j, err := a.mustStr("job")
		if err != nil {
			return err
		}
		t, err := a.mustStr("task")
		if err != nil {
			return err
		}
		r.event(pool.TerminateTask{JobID: j, TaskID: t})
	case "terminate-job", "disable-job", "enable-job", "delete-job":
		return r.cmdJob(cmd, a)
	case "delete-pool":
		r.event(pool.DeletePool{})
	case "tick":
		d, ok := r.drv.NextDeadline()
		if !ok {
			r.out.WriteString("no deadline\n")
			return nil
		}
		d = max(d, r.now)
		fmt.Fprintf(&r.out, "t=%v\n", d)
		if r.live {
			return r.advance(d)
		}
		r.now = d
		r.event(pool.Tick{})
	case "step":
		r.event(pool.Tick{})
	default:
		return r.print(cmd, a)
	}
	return nil
}

func (r *Runner) cmdPool(a *args, input string) error {
	if r.drv != nil {
		return errors.New("the scenario already has a pool")
	}
	spec := pool.Spec{ID: "pool"}
	if input != "" {
		if err := decodeStrict(input, &spec); err != nil {
			return err
		}
	}
	if v, ok, err := a.str("id"); err != nil {
		return err
	} else if ok {
		spec.ID = v
	}
	if n, ok, err := a.num("slots"); err != nil {
		return err
	} else if ok {
		spec.TaskSlotsPerNode = &n
	}
	if v, ok, err := a.str("fill"); err != nil {
		return err
	} else if ok {
		spec.TaskSchedulingPolicy = &pool.TaskSchedulingPolicy{NodeFillType: pool.NodeFillType(v)}
	}
	if n, ok, err := a.num("dedicated"); err != nil {
		return err
	} else if ok {
		spec.TargetDedicatedNodes = n
	}
	if n, ok, err := a.num("lowpriority"); err != nil {
		return err
	} else if ok {
		spec.TargetLowPriorityNodes = n
	}
	if d, ok, err := a.dur("resizeTimeout"); err != nil {
		return err
	} else if ok {
		td := task.Duration(d)
		spec.ResizeTimeout = &td
	}
	policy, _, err := a.str("policy")
	if err != nil {
		return err
	}
	r.step(Input{At: r.now, Create: &CreatePool{Spec: spec, Policy: policy}})
	return nil
}

func (r *Runner) cmdFail(a *args) error {
	n, err := a.mustStr("node")
	if err != nil {
		return err
	}
	reason, _, err := a.str("reason")
	if err != nil {
		return err
	}
	// The node's processes are gone with it; an attempt on other nodes
	// too (a multi-instance task) still runs there.
	for id, at := range r.started {
		if !slices.Contains(at.Nodes, n) {
			continue
		}
		at.Nodes = slices.DeleteFunc(at.Nodes, func(x string) bool { return x == n })
		r.started[id] = at
		if len(at.Nodes) == 0 {
			r.forget(id)
		}
	}
	r.allocated = slices.DeleteFunc(r.allocated, func(x string) bool { return x == n })
	r.event(pool.NodeFailed{Node: n, Preempted: a.has("preempted"), Reason: reason})
	return nil
}

func (r *Runner) cmdExit(a *args) error {
	ev, err := exitEvent(a)
	if err != nil {
		return err
	}
	var ids []uint64
	if id, ok, err := a.num("attempt"); err != nil {
		return err
	} else if ok {
		ids = []uint64{uint64(id)}
	} else {
		if ids, err = r.match(a); err != nil {
			return err
		}
		if len(ids) != 1 {
			return fmt.Errorf("%d started attempts match; say attempt=N", len(ids))
		}
	}
	ev.ID = ids[0]
	r.forget(ev.ID)
	r.event(ev)
	return nil
}

func (r *Runner) cmdResize(a *args) error {
	p := r.drv.Core().Pool()
	e := pool.Resize{TargetDedicatedNodes: p.TargetDedicatedNodes, TargetLowPriorityNodes: p.TargetLowPriorityNodes}
	if n, ok, err := a.num("dedicated"); err != nil {
		return err
	} else if ok {
		e.TargetDedicatedNodes = n
	}
	if n, ok, err := a.num("lowpriority"); err != nil {
		return err
	} else if ok {
		e.TargetLowPriorityNodes = n
	}
	var err error
	if e.Timeout, _, err = a.dur("timeout"); err != nil {
		return err
	}
	opt, _, err := a.str("option")
	if err != nil {
		return err
	}
	e.DeallocationOption = pool.DeallocationOption(opt)
	r.event(e)
	return nil
}

func (r *Runner) cmdJob(cmd string, a *args) error {
	j, err := a.mustStr("job")
	if err != nil {
		return err
	}
	switch cmd {
	case "terminate-job":
		reason, _, err := a.str("reason")
		if err != nil {
			return err
		}
		r.event(pool.TerminateJob{JobID: j, Reason: reason})
	case "disable-job":
		opt, _, err := a.str("option")
		if err != nil {
			return err
		}
		r.event(pool.DisableJob{JobID: j, Option: pool.DisableJobOption(opt)})
	case "enable-job":
		r.event(pool.EnableJob{JobID: j})
	default:
		r.event(pool.DeleteJob{JobID: j})
	}
	return nil
}

// exitEvent reads an exit's code, outcome and failure arguments.
func exitEvent(a *args) (pool.AttemptExited, error) {
	ev := pool.AttemptExited{Outcome: task.OutcomeExited}
	code, _, err := a.num("code")
	if err != nil {
		return ev, err
	}
	ev.ExitCode = code
	if o, ok, err := a.str("outcome"); err != nil {
		return ev, err
	} else if ok {
		switch o {
		case "exited":
		case "preprocessing":
			ev.Outcome = task.OutcomePreProcessingError
		case "fileupload":
			ev.Outcome = task.OutcomeFileUploadError
		default:
			return ev, fmt.Errorf("outcome %q: want exited, preprocessing or fileupload", o)
		}
	}
	if f, ok, err := a.str("failure"); err != nil {
		return ev, err
	} else if ok {
		ev.Failure = &task.FailureInfo{Category: task.UserError, Code: f, Message: f}
	}
	return ev, nil
}

// match returns the started attempts matching the job, task, node and kind
// arguments, in id order.
func (r *Runner) match(a *args) ([]uint64, error) {
	var want [4]string
	for i, key := range []string{"job", "task", "node", "kind"} {
		v, _, err := a.str(key)
		if err != nil {
			return nil, err
		}
		want[i] = v
	}
	ids := r.Started()
	out := ids[:0]
	for _, id := range ids {
		at := r.started[id]
		if want[0] != "" && !strings.EqualFold(at.JobID, want[0]) ||
			want[1] != "" && !strings.EqualFold(at.TaskID, want[1]) ||
			want[2] != "" && !slices.Contains(at.Nodes, want[2]) ||
			want[3] != "" && at.Kind.String() != want[3] {
			continue
		}
		out = append(out, id)
	}
	return out, nil
}

// decodeStrict decodes one JSON value, rejecting unknown fields and
// trailing data.
func decodeStrict(input string, v any) error {
	dec := json.NewDecoder(strings.NewReader(input))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// decodeTasks reads a JSON array of task specs or one spec per line, and
// fills commandLine with "cmd" where the key is absent.
func decodeTasks(input string) ([]task.TaskSpec, error) {
	var raws []json.RawMessage
	trimmed := strings.TrimSpace(input)
	if strings.HasPrefix(trimmed, "[") {
		if err := json.Unmarshal([]byte(trimmed), &raws); err != nil {
			return nil, err
		}
	} else {
		for _, line := range strings.Split(trimmed, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				raws = append(raws, json.RawMessage(line))
			}
		}
	}
	specs := make([]task.TaskSpec, len(raws))
	for i, raw := range raws {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(raw, &keys); err != nil {
			return nil, fmt.Errorf("task %d: %v", i, err)
		}
		if _, ok := keys["commandLine"]; !ok {
			keys["commandLine"] = json.RawMessage(`"cmd"`)
			raw, _ = json.Marshal(keys)
		}
		if err := decodeStrict(string(raw), &specs[i]); err != nil {
			return nil, fmt.Errorf("task %d: %v", i, err)
		}
	}
	return specs, nil
}
