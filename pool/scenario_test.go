package pool

// Scripted scenarios for the scheduling core, in the style of etcd-io/raft's
// data-driven tests (github.com/cockroachdb/datadriven). Each file under
// testdata/scenarios is one scenario: a sequence of directives, each
//
//	<command> [key=value | key=(v1, v2) | flag]...
//	<optional input, e.g. JSON>
//	----
//	<expected output>
//
// Lines starting with # are comments. Regenerate expected output with
// `go test ./pool -run TestScenarios -rewrite` and then READ the diff: the
// golden files must say what Azure Batch would do, not what the code did.
//
// Time. The virtual clock starts at t=0 (scenarioEpoch) and only moves
// forward. `at t=90s` sets it for the following commands; any command also
// takes t=<duration> to set it first. `tick` moves it to the core's
// NextDeadline and steps a Tick. Durations are Go durations (90s, 5m, 1h30m);
// times are printed the same way, relative to t=0.
//
// Output. After every event command the driver calls Ready, prints each
// Action on its own line (Action.String, the decision trace) and calls
// Advance. A rejected event prints "error: <err>" first; the error is part of
// the expected output. With the flag `changes` a command also prints the
// Ready's Changes ("~ task j/t running"). Driver misuse (unknown command or
// argument, bad JSON) fails the test instead.
//
// Setup:
//
//	pool [id=p] [slots=N] [fill=spread|pack] [dedicated=N] [lowpriority=N] [resizeTimeout=5m]
//	     [policy=NAME]
//	    optional input: a JSON pool.Spec; the arguments override it. Creates
//	    the scheduler at the current time (only once per scenario), with
//	    NewPolicy(NAME) when policy is given (Azure's otherwise).
//	job
//	    input: a JSON task.JobSpec (poolInfo.poolId defaults to the pool).
//	tasks job=J
//	    input: a JSON array of task.TaskSpec, or one JSON object per line.
//	    commandLine defaults to "cmd" when the key is absent. Unknown JSON
//	    fields are an error of the scenario, not of the core.
//
// Events (one Step each, unless said otherwise):
//
//	ready node=N | nodes=(a, b)    NodeReady
//	ready-all                      NodeReady for every allocated node not yet reported ready, in allocation order
//	fail node=N [preempted] [reason=R]  NodeFailed; the driver forgets the node's attempts
//	    (a multi-instance attempt only once all its nodes are gone)
//	exit attempt=N | [job=J] [task=T] [node=N] [kind=K]  AttemptExited for the one started attempt that matches
//	    [code=C] [outcome=exited|preprocessing|fileupload] [failure=CODE]
//	    (kind: task, starttask, jobpreparation, jobrelease; code defaults to 0;
//	    failure sets FailureInfo.Code)
//	exit-all [code=C] [outcome=O] [job=J] [kind=K] [node=N]
//	    AttemptExited for every matching started attempt, in id order (attempts
//	    started by these exits are not included); prints "#N exited" before
//	    each one's actions.
//	resize [dedicated=N] [lowpriority=M] [option=O] [timeout=D]
//	stop-resize
//	remove-nodes nodes=(a, b) [option=O]
//	disable-node node=N [option=O] / enable-node node=N
//	terminate-task job=J task=T
//	terminate-job job=J [reason=R] / disable-job job=J [option=O] / enable-job job=J / delete-job job=J
//	delete-pool
//	tick                           Tick at NextDeadline (prints "t=<time>")
//	step                           Tick at the current time
//
// State (print only; nothing is stepped):
//
//	pool-state    pool <id> <state> <allocationState> target=D/L current=D/L free=<slots> [error=<code>]...
//	nodes         <id> <dedicated|lowpriority> <state> [scheduling=disabled] tasks=N slots=used/per-node
//	              run=<totalTasksRun> ok=<totalTasksSucceeded> [starttask=<state>/<result> exit=C retry=N]
//	jobs          <id> <state> prio=P [prev=<state>] [reason=<terminateReason>] [end=<time>]
//	tasks-state job=J
//	              <id> <state> [<result>] [exit=C] [failure=<code>] retry=N requeue=N [node=<id>]
//	              [start=<time>] [end=<time>] [(<why it is not running>)]
//	counts job=J  task counts and task slot counts
//	why job=J [task=T]  Scheduler.Why for one or every task ("-": running or completed)
//	attempts      the driver's started, not yet reported attempts, with deadlines and pending kills
//	deadline      NextDeadline
//	reservations  the policy's reservations (a Reserver: easy, conservative), "<job>/<task> at <time>"
//
// The driver (type scenario) uses only the exported API of the Scheduler and
// does not depend on testing.T, so that the simulator's conformance test can
// replay the same files: parseScenario reads a file into directives (no
// testing.T), scenario.run executes one and returns its output. To share it,
// move the driver as is into a package both tests import.
//
// TestScenariosDeterministic replays every file several times and requires
// identical traces (Changes included); TestSchedulerRandomWalk drives the core
// through the same driver with seeded random commands and checks internal
// invariants after each.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/task"
)

// scenarioEpoch is t=0 of every scenario.
var scenarioEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// scenario drives one Scheduler through a script. It plays the part of a
// driver: it remembers which attempts it was told to start (so that the
// script can report their exits) and which nodes it was told to allocate.
type scenario struct {
	s   *Scheduler
	now time.Time

	// started holds attempts the core started and the script has not yet
	// reported exited, by id.
	started map[uint64]Attempt
	// killing records the kill reason of started attempts.
	killing map[uint64]string
	// allocated lists nodes allocated and not yet reported ready or
	// released, in allocation order.
	allocated []string

	// trace, when set, receives everything: command, output and every
	// Change, so that determinism can be checked beyond the golden output.
	trace *strings.Builder
	// onReady, when set, sees every Ready before Advance (restore tests
	// persist its Changes through it).
	onReady func(Ready)
}

func newScenario() *scenario {
	return &scenario{
		now:     scenarioEpoch,
		started: make(map[uint64]Attempt),
		killing: make(map[uint64]string),
	}
}

// directive is one command of a scenario file.
type directive struct {
	Pos   string
	Cmd   string
	Args  []datadriven.CmdArg
	Input string
}

// parseScenario reads a scenario file into its directives, ignoring the
// expected output. It follows datadriven's syntax (comments, "\" line
// continuation, "----" separator, "----\n----" blocks).
func parseScenario(name, text string) ([]directive, error) {
	lines := strings.Split(text, "\n")
	var out []directive
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pos := fmt.Sprintf("%s:%d", name, i+1)
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i])
		}
		cmd, args, err := datadriven.ParseLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", pos, err)
		}
		var input []string
		sep := false
		for i++; i < len(lines); i++ {
			if lines[i] == "----" {
				sep = true
				break
			}
			input = append(input, lines[i])
		}
		if !sep {
			return nil, fmt.Errorf("%s: directive %q has no ---- separator", pos, cmd)
		}
		// Skip the expected output.
		if i+1 < len(lines) && lines[i+1] == "----" {
			i += 2
			for ; i < len(lines); i++ {
				if lines[i] == "----" && i+1 < len(lines) && lines[i+1] == "----" {
					i++
					break
				}
			}
		} else {
			for i++; i < len(lines) && lines[i] != ""; i++ {
			}
		}
		out = append(out, directive{Pos: pos, Cmd: cmd, Args: args, Input: strings.TrimSpace(strings.Join(input, "\n"))})
	}
	return out, nil
}

// scenarioArgs gives typed access to a directive's arguments and remembers
// which were used, so that a misspelt argument is an error, not a no-op.
type scenarioArgs struct {
	args []datadriven.CmdArg
	used []bool
}

func (a *scenarioArgs) find(key string) (datadriven.CmdArg, bool) {
	for i, arg := range a.args {
		if arg.Key == key {
			a.used[i] = true
			return arg, true
		}
	}
	return datadriven.CmdArg{}, false
}

func (a *scenarioArgs) has(key string) bool {
	_, ok := a.find(key)
	return ok
}

func (a *scenarioArgs) str(key string) (string, bool, error) {
	arg, ok := a.find(key)
	if !ok {
		return "", false, nil
	}
	if len(arg.Vals) != 1 {
		return "", true, fmt.Errorf("argument %s wants one value, got %d", key, len(arg.Vals))
	}
	return arg.Vals[0], true, nil
}

func (a *scenarioArgs) mustStr(key string) (string, error) {
	v, ok, err := a.str(key)
	if err == nil && !ok {
		err = fmt.Errorf("argument %s is required", key)
	}
	return v, err
}

func (a *scenarioArgs) num(key string) (int, bool, error) {
	v, ok, err := a.str(key)
	if !ok || err != nil {
		return 0, ok, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, true, fmt.Errorf("argument %s: %v", key, err)
	}
	return n, true, nil
}

func (a *scenarioArgs) dur(key string) (time.Duration, bool, error) {
	v, ok, err := a.str(key)
	if !ok || err != nil {
		return 0, ok, err
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, true, fmt.Errorf("argument %s: %v", key, err)
	}
	return d, true, nil
}

// list accepts key=(a, b) and key=a,b.
func (a *scenarioArgs) list(key string) ([]string, bool) {
	arg, ok := a.find(key)
	if !ok {
		return nil, false
	}
	var out []string
	for _, v := range arg.Vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out, true
}

func (a *scenarioArgs) unused() error {
	for i, arg := range a.args {
		if !a.used[i] {
			return fmt.Errorf("unknown argument %q", arg.Key)
		}
	}
	return nil
}

// fmtTime prints t relative to the scenario epoch.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Sub(scenarioEpoch).String()
}

// run executes one directive and returns its output. An error means the
// script itself is wrong (unknown command, bad argument, bad JSON); errors of
// the core are part of the output.
func (sc *scenario) run(cmd string, cmdArgs []datadriven.CmdArg, input string) (string, error) {
	a := &scenarioArgs{args: cmdArgs, used: make([]bool, len(cmdArgs))}
	if d, ok, err := a.dur("t"); err != nil {
		return "", err
	} else if ok {
		if err := sc.setTime(d); err != nil {
			return "", err
		}
	}
	showChanges := a.has("changes")
	var out strings.Builder
	err := sc.exec(&out, cmd, a, input, showChanges)
	if err == nil {
		err = a.unused()
	}
	if err != nil {
		return "", err
	}
	if sc.trace != nil {
		fmt.Fprintf(sc.trace, "> %s\n%s", cmd, out.String())
	}
	return out.String(), nil
}

func (sc *scenario) setTime(d time.Duration) error {
	t := scenarioEpoch.Add(d)
	if t.Before(sc.now) {
		return fmt.Errorf("time goes backwards: t=%s after t=%s", d, fmtTime(sc.now))
	}
	sc.now = t
	return nil
}

func (sc *scenario) needPool() error {
	if sc.s == nil {
		return errors.New("no pool yet: start the scenario with `pool`")
	}
	return nil
}

func (sc *scenario) exec(out *strings.Builder, cmd string, a *scenarioArgs, input string, showChanges bool) error {
	if cmd != "pool" && cmd != "at" {
		if err := sc.needPool(); err != nil {
			return err
		}
	}
	step := func(ev Event) error {
		sc.step(out, ev, showChanges)
		return nil
	}
	switch cmd {
	case "at":
		if !a.has("t") {
			return errors.New("at needs t=<duration>")
		}
		return nil // run already moved the clock

	case "pool":
		return sc.cmdPool(out, a, input, showChanges)

	case "job":
		var spec task.JobSpec
		if err := decodeStrict(input, &spec); err != nil {
			return fmt.Errorf("job: %v", err)
		}
		if spec.PoolInfo.PoolID == "" && spec.PoolInfo.AutoPoolSpecification == nil {
			spec.PoolInfo.PoolID = sc.s.Pool().ID
		}
		return step(AddJob{Spec: spec})

	case "tasks":
		job, err := a.mustStr("job")
		if err != nil {
			return err
		}
		specs, err := decodeTasks(input)
		if err != nil {
			return fmt.Errorf("tasks: %v", err)
		}
		return step(AddTasks{JobID: job, Tasks: specs})

	case "ready":
		nodes, ok := a.list("nodes")
		if n, ok2, err := a.str("node"); err != nil {
			return err
		} else if ok2 {
			nodes, ok = append(nodes, n), true
		}
		if !ok || len(nodes) == 0 {
			return errors.New("ready needs node= or nodes=")
		}
		for _, n := range nodes {
			sc.allocated = slices.DeleteFunc(sc.allocated, func(x string) bool { return x == n })
			sc.step(out, NodeReady{Node: n}, showChanges)
		}
		return nil

	case "ready-all":
		nodes := slices.Clone(sc.allocated)
		sc.allocated = sc.allocated[:0]
		for _, n := range nodes {
			sc.step(out, NodeReady{Node: n}, showChanges)
		}
		return nil

	case "fail":
		n, err := a.mustStr("node")
		if err != nil {
			return err
		}
		reason, _, err := a.str("reason")
		if err != nil {
			return err
		}
		// The node's processes are gone with it: the driver will never
		// report their exits. An attempt on other nodes too (a
		// multi-instance task) still runs there.
		for id, at := range sc.started {
			if !slices.Contains(at.Nodes, n) {
				continue
			}
			at.Nodes = slices.DeleteFunc(at.Nodes, func(x string) bool { return x == n })
			sc.started[id] = at
			if len(at.Nodes) == 0 {
				delete(sc.started, id)
				delete(sc.killing, id)
			}
		}
		sc.allocated = slices.DeleteFunc(sc.allocated, func(x string) bool { return x == n })
		return step(NodeFailed{Node: n, Preempted: a.has("preempted"), Reason: reason})

	case "exit":
		ev, err := sc.exitEvent(a)
		if err != nil {
			return err
		}
		var ids []uint64
		if id, ok, err := a.num("attempt"); err != nil {
			return err
		} else if ok {
			ids = []uint64{uint64(id)}
		} else {
			ids, err = sc.match(a)
			if err != nil {
				return err
			}
			if len(ids) != 1 {
				return fmt.Errorf("exit: %d started attempts match; say attempt=N", len(ids))
			}
		}
		ev.ID = ids[0]
		delete(sc.started, ev.ID)
		delete(sc.killing, ev.ID)
		return step(ev)

	case "exit-all":
		ev, err := sc.exitEvent(a)
		if err != nil {
			return err
		}
		ids, err := sc.match(a)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, ok := sc.started[id]; !ok {
				continue // written off meanwhile (its node failed)
			}
			ev.ID = id
			delete(sc.started, id)
			delete(sc.killing, id)
			fmt.Fprintf(out, "#%d exited\n", id)
			sc.step(out, ev, showChanges)
		}
		return nil

	case "resize":
		var e Resize
		var err error
		p := sc.s.Pool()
		e.TargetDedicatedNodes, e.TargetLowPriorityNodes = p.TargetDedicatedNodes, p.TargetLowPriorityNodes
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
		if e.Timeout, _, err = a.dur("timeout"); err != nil {
			return err
		}
		opt, _, err := a.str("option")
		if err != nil {
			return err
		}
		e.DeallocationOption = DeallocationOption(opt)
		return step(e)

	case "stop-resize":
		return step(StopResize{})

	case "remove-nodes":
		nodes, _ := a.list("nodes")
		opt, _, err := a.str("option")
		if err != nil {
			return err
		}
		return step(RemoveNodes{Nodes: nodes, DeallocationOption: DeallocationOption(opt)})

	case "disable-node", "enable-node":
		n, err := a.mustStr("node")
		if err != nil {
			return err
		}
		opt, _, err := a.str("option")
		if err != nil {
			return err
		}
		return step(SetNodeScheduling{Node: n, Enabled: cmd == "enable-node", Option: DeallocationOption(opt)})

	case "terminate-task":
		j, err := a.mustStr("job")
		if err != nil {
			return err
		}
		t, err := a.mustStr("task")
		if err != nil {
			return err
		}
		return step(TerminateTask{JobID: j, TaskID: t})

	case "terminate-job", "disable-job", "enable-job", "delete-job":
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
			return step(TerminateJob{JobID: j, Reason: reason})
		case "disable-job":
			opt, _, err := a.str("option")
			if err != nil {
				return err
			}
			return step(DisableJob{JobID: j, Option: DisableJobOption(opt)})
		case "enable-job":
			return step(EnableJob{JobID: j})
		default:
			return step(DeleteJob{JobID: j})
		}

	case "delete-pool":
		return step(DeletePool{})

	case "tick":
		d := sc.s.NextDeadline()
		if d.IsZero() {
			out.WriteString("no deadline\n")
			return nil
		}
		if d.After(sc.now) {
			sc.now = d
		}
		fmt.Fprintf(out, "t=%s\n", fmtTime(sc.now))
		return step(Tick{})

	case "step":
		return step(Tick{})

	case "deadline":
		fmt.Fprintf(out, "%s\n", fmtTime(sc.s.NextDeadline()))
		return nil

	case "reservations":
		r, ok := sc.s.policy.(Reserver)
		if !ok {
			return fmt.Errorf("policy %q makes no reservations", sc.s.PolicyName())
		}
		n := 0
		r.Reservations(func(res Reservation) bool {
			fmt.Fprintf(out, "%s/%s at %s\n", res.JobID, res.TaskID, fmtTime(res.At))
			n++
			return true
		})
		if n == 0 {
			out.WriteString("none\n")
		}
		return nil

	case "pool-state":
		sc.printPool(out)
		return nil
	case "nodes":
		p := sc.s.Pool()
		for _, n := range sc.s.Nodes() {
			out.WriteString(fmtNode(n, p.Slots()))
			out.WriteByte('\n')
		}
		return nil
	case "jobs":
		for _, j := range sc.s.Jobs() {
			out.WriteString(fmtJob(j))
			out.WriteByte('\n')
		}
		return nil
	case "tasks-state":
		j, err := a.mustStr("job")
		if err != nil {
			return err
		}
		if err := sc.s.RangeTasks(j, func(t *task.Task) bool {
			out.WriteString(sc.fmtTask(j, t))
			out.WriteByte('\n')
			return true
		}); err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
		}
		return nil
	case "counts":
		j, err := a.mustStr("job")
		if err != nil {
			return err
		}
		c, err := sc.s.TaskCounts(j)
		if err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
			return nil
		}
		fmt.Fprintf(out, "tasks: %s\nslots: %s\n", fmtCounts(c.TaskCounts), fmtCounts(c.TaskSlotCounts))
		return nil
	case "why":
		j, err := a.mustStr("job")
		if err != nil {
			return err
		}
		t, ok, err := a.str("task")
		if err != nil {
			return err
		}
		var ids []string
		if ok {
			ids = []string{t}
		} else if err := sc.s.RangeTasks(j, func(t *task.Task) bool {
			ids = append(ids, t.ID)
			return true
		}); err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
			return nil
		}
		for _, id := range ids {
			r, err := sc.s.Why(j, id)
			switch {
			case err != nil:
				fmt.Fprintf(out, "%s: error: %v\n", id, err)
			case r == ReasonNone:
				fmt.Fprintf(out, "%s: -\n", id)
			default:
				fmt.Fprintf(out, "%s: %s\n", id, r)
			}
		}
		return nil
	case "attempts":
		for _, id := range sc.startedIDs() {
			at := sc.started[id]
			fmt.Fprintf(out, "#%d %s", id, at.Kind)
			if at.JobID != "" {
				fmt.Fprintf(out, " %s/%s", at.JobID, at.TaskID)
			}
			fmt.Fprintf(out, " on %s start=%s", strings.Join(at.Nodes, ","), fmtTime(at.Start))
			if !at.Deadline.IsZero() {
				fmt.Fprintf(out, " deadline=%s", fmtTime(at.Deadline))
			}
			if r := sc.killing[id]; r != "" {
				fmt.Fprintf(out, " killing(%s)", r)
			}
			out.WriteByte('\n')
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func (sc *scenario) cmdPool(out *strings.Builder, a *scenarioArgs, input string, showChanges bool) error {
	if sc.s != nil {
		return errors.New("pool: the scenario already has a pool")
	}
	spec := Spec{ID: "pool"}
	if input != "" {
		if err := decodeStrict(input, &spec); err != nil {
			return fmt.Errorf("pool: %v", err)
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
		spec.TaskSchedulingPolicy = &TaskSchedulingPolicy{NodeFillType: NodeFillType(v)}
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
	cfg := Config{Now: sc.now, ReuseAttempts: true} // the harness copies every Attempt
	if name, ok, err := a.str("policy"); err != nil {
		return err
	} else if ok {
		p, err := NewPolicy(name)
		if err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
			return nil
		}
		cfg.Policy = p
	}
	s, err := NewScheduler(spec, cfg)
	if err != nil {
		fmt.Fprintf(out, "error: %v\n", err)
		return nil
	}
	sc.s = s
	sc.flush(out, showChanges)
	return nil
}

// step applies ev at the current time and prints the outcome.
func (sc *scenario) step(out *strings.Builder, ev Event, showChanges bool) {
	if err := sc.s.Step(sc.now, ev); err != nil {
		fmt.Fprintf(out, "error: %v\n", err)
	}
	sc.flush(out, showChanges)
}

// flush takes the Ready, records what the driver must remember, prints it
// and calls Advance.
func (sc *scenario) flush(out *strings.Builder, showChanges bool) {
	rd := sc.s.Ready()
	if sc.onReady != nil {
		sc.onReady(rd)
	}
	for _, c := range rd.Changes {
		line := fmtChange(c)
		if showChanges {
			fmt.Fprintf(out, "~ %s\n", line)
		}
		if sc.trace != nil {
			fmt.Fprintf(sc.trace, "~ %s\n", line)
		}
	}
	for _, act := range rd.Actions {
		switch act.Kind {
		case ActAllocateNode:
			sc.allocated = append(sc.allocated, act.Node)
		case ActReleaseNode:
			sc.allocated = slices.DeleteFunc(sc.allocated, func(x string) bool { return x == act.Node })
			for id, at := range sc.started {
				if slices.Contains(at.Nodes, act.Node) {
					// The core released a node with an attempt the
					// driver still runs: a broken invariant.
					fmt.Fprintf(out, "BUG: node %s released with attempt #%d running\n", act.Node, id)
				}
			}
		case ActStartAttempt:
			at := *act.Attempt
			at.Nodes = slices.Clone(at.Nodes)
			if _, dup := sc.started[at.ID]; dup {
				fmt.Fprintf(out, "BUG: attempt #%d started twice\n", at.ID)
			}
			sc.started[at.ID] = at
		case ActKillAttempt:
			if _, ok := sc.started[act.Attempt.ID]; ok {
				sc.killing[act.Attempt.ID] = act.Reason
			}
		}
		out.WriteString(act.String())
		out.WriteByte('\n')
	}
	sc.s.Advance(rd)
}

func fmtChange(c Change) string {
	switch c.Kind {
	case ChangePool:
		return "pool"
	case ChangeNode:
		return "node " + c.NodeID + " " + c.NodeState.String()
	case ChangeNodeRemoved:
		return "node " + c.NodeID + " removed"
	case ChangeJob:
		return "job " + c.JobID + " " + c.JobState.String()
	case ChangeJobDeleted:
		return "job " + c.JobID + " deleted"
	case ChangeTask:
		return "task " + c.JobID + "/" + c.TaskID + " " + c.TaskState.String()
	}
	return fmt.Sprintf("invalid change %d", c.Kind)
}

func (sc *scenario) exitEvent(a *scenarioArgs) (AttemptExited, error) {
	var ev AttemptExited
	ev.Outcome = task.OutcomeExited
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
func (sc *scenario) match(a *scenarioArgs) ([]uint64, error) {
	job, _, err := a.str("job")
	if err != nil {
		return nil, err
	}
	tk, _, err := a.str("task")
	if err != nil {
		return nil, err
	}
	node, _, err := a.str("node")
	if err != nil {
		return nil, err
	}
	kind, _, err := a.str("kind")
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, id := range sc.startedIDs() {
		at := sc.started[id]
		if job != "" && !strings.EqualFold(at.JobID, job) ||
			tk != "" && !strings.EqualFold(at.TaskID, tk) ||
			node != "" && !slices.Contains(at.Nodes, node) ||
			kind != "" && at.Kind.String() != kind {
			continue
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (sc *scenario) startedIDs() []uint64 {
	ids := make([]uint64, 0, len(sc.started))
	for id := range sc.started {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (sc *scenario) printPool(out *strings.Builder) {
	p := sc.s.Pool()
	fmt.Fprintf(out, "pool %s %s %s target=%d/%d current=%d/%d free=%d",
		p.ID, p.State, p.AllocationState, p.TargetDedicatedNodes, p.TargetLowPriorityNodes,
		p.CurrentDedicatedNodes, p.CurrentLowPriorityNodes, sc.s.FreeSlots())
	for _, e := range p.ResizeErrors {
		fmt.Fprintf(out, " error=%s", e.Code)
	}
	if sc.s.Deleted() {
		out.WriteString(" deleted")
	}
	out.WriteByte('\n')
}

func fmtNode(n Node, slotsPerNode int) string {
	var b strings.Builder
	kind := "dedicated"
	if !n.IsDedicated {
		kind = "lowpriority"
	}
	fmt.Fprintf(&b, "%s %s %s", n.ID, kind, n.State)
	if n.SchedulingState != SchedulingEnabled {
		fmt.Fprintf(&b, " scheduling=%s", n.SchedulingState)
	}
	fmt.Fprintf(&b, " tasks=%d slots=%d/%d run=%d ok=%d", n.RunningTasksCount, n.RunningTaskSlotsCount, slotsPerNode, n.TotalTasksRun, n.TotalTasksSucceeded)
	if st := n.StartTaskInfo; st != nil {
		fmt.Fprintf(&b, " starttask=%s", st.State)
		if st.Result != "" {
			fmt.Fprintf(&b, "/%s", st.Result)
		}
		if st.ExitCode != nil {
			fmt.Fprintf(&b, " exit=%d", *st.ExitCode)
		}
		fmt.Fprintf(&b, " retry=%d", st.RetryCount)
	}
	return b.String()
}

func fmtJob(j task.Job) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s prio=%d", j.ID, j.State, j.Priority)
	if j.PreviousState != task.JobStateInvalid {
		fmt.Fprintf(&b, " prev=%s", j.PreviousState)
	}
	if r := j.ExecutionInfo.TerminationReason; r != "" {
		fmt.Fprintf(&b, " reason=%s", r)
	}
	if e := j.ExecutionInfo.EndTime; !e.IsZero() {
		fmt.Fprintf(&b, " end=%s", fmtTime(e))
	}
	return b.String()
}

func (sc *scenario) fmtTask(jobID string, t *task.Task) string {
	var b strings.Builder
	x := t.ExecutionInfo
	fmt.Fprintf(&b, "%s %s", t.ID, t.State)
	if x.Result != "" && t.State == task.TaskCompleted {
		fmt.Fprintf(&b, " %s", x.Result)
	}
	if x.ExitCode != nil {
		fmt.Fprintf(&b, " exit=%d", *x.ExitCode)
	}
	if f := x.FailureInfo; f != nil {
		fmt.Fprintf(&b, " failure=%s", f.Code)
	}
	fmt.Fprintf(&b, " retry=%d requeue=%d", x.RetryCount, x.RequeueCount)
	if t.NodeInfo != nil {
		fmt.Fprintf(&b, " node=%s", t.NodeInfo.NodeID)
	}
	if !x.StartTime.IsZero() {
		fmt.Fprintf(&b, " start=%s", fmtTime(x.StartTime))
	}
	if !x.EndTime.IsZero() {
		fmt.Fprintf(&b, " end=%s", fmtTime(x.EndTime))
	}
	if t.State == task.TaskActive {
		if r, err := sc.s.Why(jobID, t.ID); err == nil && r != ReasonNone {
			fmt.Fprintf(&b, " (%s)", r)
		}
	}
	return b.String()
}

func fmtCounts(c task.TaskCounts) string {
	return fmt.Sprintf("active=%d running=%d completed=%d succeeded=%d failed=%d", c.Active, c.Running, c.Completed, c.Succeeded, c.Failed)
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

const scenarioDir = "testdata/scenarios"

// TestScenarios runs every scenario file against its golden output.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scenarioDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios in " + scenarioDir)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			sc := newScenario()
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				out, err := sc.run(d.Cmd, d.CmdArgs, d.Input)
				if err != nil {
					t.Fatalf("%s: %v", d.Pos, err)
				}
				if strings.Contains(out, "BUG:") {
					t.Errorf("%s: driver saw a broken invariant:\n%s", d.Pos, out)
				}
				return out
			})
		})
	}
}

// replayScenario runs a scenario file from scratch and returns its full
// trace: every command, its output and every Change the core emitted.
func replayScenario(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	dirs, err := parseScenario(filepath.Base(path), string(data))
	if err != nil {
		return "", err
	}
	sc := newScenario()
	sc.trace = &strings.Builder{}
	for _, d := range dirs {
		if _, err := sc.run(d.Cmd, d.Args, d.Input); err != nil {
			return "", fmt.Errorf("%s: %v", d.Pos, err)
		}
	}
	return sc.trace.String(), nil
}

// TestScenariosDeterministic runs every scenario twice and requires
// byte-identical traces, Changes included. Go randomizes map iteration, so
// any dependence of the core on map order shows up here.
func TestScenariosDeterministic(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scenarioDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			first, err := replayScenario(path)
			if err != nil {
				t.Fatal(err)
			}
			if first == "" {
				t.Fatal("empty trace")
			}
			for range 3 {
				again, err := replayScenario(path)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(first, again); diff != "" {
					t.Fatalf("second run differs (-first +again):\n%s", diff)
				}
			}
		})
	}
}

// TestParseScenarioMatchesDatadriven checks that parseScenario, which the
// simulator's conformance test will use, reads the same directives as
// datadriven does.
func TestParseScenarioMatchesDatadriven(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scenarioDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseScenario(filepath.Base(path), string(data))
			if err != nil {
				t.Fatal(err)
			}
			var want []directive
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				want = append(want, directive{Cmd: d.Cmd, Args: d.CmdArgs, Input: d.Input})
				return d.Expected
			})
			for i := range got {
				got[i].Pos = ""
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parseScenario differs from datadriven (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScenarioDriverRejectsMisuse checks that the driver catches mistakes in
// scripts instead of silently ignoring them.
func TestScenarioDriverRejectsMisuse(t *testing.T) {
	// Each case is a list of directives (command line plus input); the
	// last one must fail.
	cases := []struct {
		name string
		dirs []string
		want string
	}{
		{"unknown command", []string{"pool", "frobnicate"}, `unknown command "frobnicate"`},
		{"unknown argument", []string{"pool dedicate=2"}, `unknown argument "dedicate"`},
		{"no pool", []string{"jobs"}, "no pool yet"},
		{"unknown JSON field", []string{"pool", "job\n{\"id\":\"j\",\"priorty\":3}"}, "unknown field"},
		{"time backwards", []string{"at t=10s", "at t=5s"}, "time goes backwards"},
		{"ambiguous exit", []string{"pool dedicated=2", "ready-all", "job\n{\"id\":\"j\"}", "tasks job=j\n{\"id\":\"a\"}\n{\"id\":\"b\"}", "exit job=j"}, "2 started attempts match"},
		{"second pool", []string{"pool", "pool"}, "already has a pool"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			script := strings.Join(tc.dirs, "\n----\n\n") + "\n----\n"
			dirs, err := parseScenario("inline", script)
			if err != nil {
				t.Fatal(err)
			}
			if len(dirs) != len(tc.dirs) {
				t.Fatalf("parsed %d directives, want %d", len(dirs), len(tc.dirs))
			}
			sc := newScenario()
			for i, d := range dirs {
				_, err := sc.run(d.Cmd, d.Args, d.Input)
				if i < len(dirs)-1 {
					if err != nil {
						t.Fatalf("directive %d: %v", i, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got error %v, want one containing %q", err, tc.want)
				}
			}
		})
	}
}
