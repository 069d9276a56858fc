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
// keeping what a driver must remember (started attempts, nodes allocated
// but not yet ready) so that scripts can say "exit job=j task=a" or
// "ready-all".
type Runner struct {
	drv *sim.Driver
	now time.Duration
	// started holds attempts started and not yet reported exited.
	started map[uint64]pool.Attempt
	// allocated lists nodes allocated and not yet ready or released, in
	// allocation order.
	allocated []string
	steps     []Step
}

// NewRunner returns a runner with no pool yet.
func NewRunner() *Runner {
	return &Runner{started: map[uint64]pool.Attempt{}}
}

// Driver is the simulator's driver of the scenario's pool (nil before the
// pool directive).
func (r *Runner) Driver() *sim.Driver { return r.drv }

// RunFile plays a scenario file and returns every step.
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

// Run plays one directive and returns the steps it caused. An error means
// the script is wrong (unknown command or argument, bad JSON); the core's
// rejections are in the steps.
func (r *Runner) Run(d Directive) ([]Step, error) {
	r.steps = nil
	a := newArgs(d.Args)
	if t, ok, err := a.dur("t"); err != nil {
		return nil, fmt.Errorf("%s: %v", d.Pos, err)
	} else if ok {
		if err := r.advance(t); err != nil {
			return nil, fmt.Errorf("%s: %v", d.Pos, err)
		}
	}
	a.has("changes") // printing flag of pool's driver
	err := r.exec(d.Cmd, a, d.Input)
	if err == nil {
		err = a.unused()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", d.Pos, d.Cmd, err)
	}
	return r.steps, nil
}

// advance moves the clock to t, stepping a Tick at every deadline of the
// core on the way, as a live driver's timers would fire.
func (r *Runner) advance(t time.Duration) error {
	if t < r.now {
		return fmt.Errorf("time goes backwards: t=%v after t=%v", t, r.now)
	}
	for r.drv != nil {
		d, ok := r.drv.NextDeadline()
		if !ok || d > t {
			break
		}
		r.step(Input{At: max(d, r.now), Event: pool.Tick{}, Deadline: true})
	}
	r.now = t
	return nil
}

// step applies one input and records it.
func (r *Runner) step(in Input) {
	r.now = max(r.now, in.At)
	r.steps = append(r.steps, Step{Input: in})
	cur := &r.steps[len(r.steps)-1]
	if in.Create != nil {
		policy, err := sim.NewPolicy(in.Create.Policy)
		if err == nil {
			r.drv, err = sim.NewDriver(in.At, in.Create.Spec, policy, r)
		}
		cur.Rejected = err
		return
	}
	cur.Rejected = r.drv.Step(in.At, in.Event)
}

// event steps ev now.
func (r *Runner) event(ev pool.Event) { r.step(Input{At: r.now, Event: ev}) }

// Change implements sim.Handler.
func (r *Runner) Change(time.Duration, pool.Change) {}

// Action implements sim.Handler: it records the trace line and what a
// driver must remember.
func (r *Runner) Action(_ time.Duration, act pool.Action) {
	cur := &r.steps[len(r.steps)-1]
	cur.Actions = append(cur.Actions, ActionLine(act))
	switch act.Kind {
	case pool.ActAllocateNode:
		r.allocated = append(r.allocated, act.Node)
	case pool.ActReleaseNode:
		r.allocated = slices.DeleteFunc(r.allocated, func(x string) bool { return x == act.Node })
	case pool.ActStartAttempt:
		at := *act.Attempt
		at.Nodes = slices.Clone(at.Nodes)
		r.started[at.ID] = at
	}
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
			delete(r.started, id)
			ev.ID = id
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
		if d, ok := r.drv.NextDeadline(); ok {
			return r.advance(max(d, r.now))
		}
	case "step":
		r.event(pool.Tick{})
	case "deadline", "pool-state", "nodes", "jobs", "attempts", "reservations":
	case "tasks-state", "counts":
		_, err := a.mustStr("job")
		return err
	case "why":
		if _, err := a.mustStr("job"); err != nil {
			return err
		}
		_, _, err := a.str("task")
		return err
	default:
		return fmt.Errorf("unknown command %q", cmd)
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
			delete(r.started, id)
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
	delete(r.started, ev.ID)
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
	ids := make([]uint64, 0, len(r.started))
	for id := range r.started {
		ids = append(ids, id)
	}
	slices.Sort(ids)
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
