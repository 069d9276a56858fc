// Package scenario is the one driver of the scheduling core's scripted
// scenarios (pool/testdata/scenarios, in the style of etcd-io/raft's
// data-driven tests, github.com/cockroachdb/datadriven). It parses a
// scenario file into directives (Parse) and plays them through the
// simulator's driver (sim.Driver, in virtual time) with a Runner, which
// prints each directive's output and turns each scripted step into
// concrete inputs and a decision trace.
//
// Three tests run the files through it: pool's data-driven test
// (pool/scenario_ext_test.go) checks every directive's output against the
// golden file, in the core's time (NewGoldenRunner); this package's test
// checks the decisions made in live time (NewRunner) against the same
// files; and the conformance test (engine/conformance_test.go) feeds the
// live-time inputs to the live engine with fake nodes and requires the same
// decisions: the simulator and the engine run the same scheduler (DESIGN
// §1).
//
// A file is a sequence of directives, each
//
//	<command> [key=value | key=(v1, v2) | flag]...
//	<optional input, e.g. JSON>
//	----
//	<expected output>
//
// Lines starting with # are comments; "\" continues a command line;
// "----\n----" blocks hold output with blank lines.
//
// Time. The virtual clock starts at t=0 (sim.Epoch) and only moves
// forward. `at t=90s` sets it for the following commands; any command also
// takes t=<duration> to set it first. `tick` moves it to the core's
// NextDeadline (printing "t=<time>", or "no deadline") and steps a Tick.
// In the core's time moving the clock steps nothing: timers that fell due
// fire with the next event. In live time the runner steps a Tick at every
// deadline the clock passes, as a live driver's timers fire. Durations are
// Go durations (90s, 5m, 1h30m); times are printed the same way, relative
// to t=0.
//
// Output. After every event the runner prints each Action on its own line
// (pool.Action.String, the decision trace). A rejected event prints "error:
// <err>" first; the error is part of the expected output. With the flag
// `changes` a command also prints the Ready's Changes ("~ task j/t
// running"). An action no driver could carry out prints a line starting
// "BUG:". Script mistakes (unknown command or argument, bad JSON, time
// going backwards) are errors of Run instead.
//
// Setup:
//
//	pool [id=p] [slots=N] [fill=spread|pack] [dedicated=N] [lowpriority=N] [resizeTimeout=5m]
//	     [policy=NAME]
//	    optional input: a JSON pool.Spec; the arguments override it. Creates
//	    the scheduler at the current time (only once per scenario), with
//	    pool.NewPolicy(NAME) when policy is given (Azure's otherwise).
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
//	fail node=N [preempted] [reason=R]  NodeFailed; the runner forgets the node's attempts
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
//	pool-state    pool <id> <state> <allocationState> target=D/L current=D/L free=<slots> [error=<code>]... [deleted]
//	nodes         <id> <dedicated|lowpriority> <state> [scheduling=disabled] tasks=N slots=used/per-node
//	              run=<totalTasksRun> ok=<totalTasksSucceeded> [starttask=<state>/<result> exit=C retry=N]
//	jobs          <id> <state> prio=P [prev=<state>] [reason=<terminateReason>] [end=<time>]
//	tasks-state job=J
//	              <id> <state> [<result>] [exit=C] [failure=<code>] retry=N requeue=N [node=<id>]
//	              [start=<time>] [end=<time>] [(<why it is not running>)]
//	counts job=J  task counts and task slot counts
//	why job=J [task=T]  Scheduler.Why for one or every task ("-": running or completed)
//	attempts      the runner's started, not yet reported attempts, with deadlines and pending kills
//	deadline      NextDeadline
//	reservations  the policy's reservations (a pool.Reserver: easy, conservative), "<job>/<task> at <time>"
package scenario

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/datadriven"
)

// Directive is one command of a scenario file.
type Directive struct {
	// Pos is "file:line", for errors.
	Pos   string
	Cmd   string
	Args  []datadriven.CmdArg
	Input string
}

// Parse reads a scenario file into its directives, ignoring the expected
// output. It follows datadriven's syntax: comments (#), "\" line
// continuation, the "----" separator, and "----\n----" blocks for output
// with blank lines.
func Parse(name, text string) ([]Directive, error) {
	lines := strings.Split(text, "\n")
	var out []Directive
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
		out = append(out, Directive{Pos: pos, Cmd: cmd, Args: args, Input: strings.TrimSpace(strings.Join(input, "\n"))})
	}
	return out, nil
}

// args gives typed access to a directive's arguments and remembers which
// were used, so that a misspelt argument is an error, not a no-op.
type args struct {
	list []datadriven.CmdArg
	used []bool
}

func newArgs(list []datadriven.CmdArg) *args {
	return &args{list: list, used: make([]bool, len(list))}
}

func (a *args) find(key string) (datadriven.CmdArg, bool) {
	for i, arg := range a.list {
		if arg.Key == key {
			a.used[i] = true
			return arg, true
		}
	}
	return datadriven.CmdArg{}, false
}

func (a *args) has(key string) bool {
	_, ok := a.find(key)
	return ok
}

func (a *args) str(key string) (string, bool, error) {
	arg, ok := a.find(key)
	if !ok {
		return "", false, nil
	}
	if len(arg.Vals) != 1 {
		return "", true, fmt.Errorf("argument %s wants one value, got %d", key, len(arg.Vals))
	}
	return arg.Vals[0], true, nil
}

func (a *args) mustStr(key string) (string, error) {
	v, ok, err := a.str(key)
	if err == nil && !ok {
		err = fmt.Errorf("argument %s is required", key)
	}
	return v, err
}

func (a *args) num(key string) (int, bool, error) {
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

func (a *args) dur(key string) (time.Duration, bool, error) {
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

// strList accepts key=(a, b) and key=a,b.
func (a *args) strList(key string) ([]string, bool) {
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

func (a *args) unused() error {
	for i, arg := range a.list {
		if !a.used[i] {
			return fmt.Errorf("unknown argument %q", arg.Key)
		}
	}
	return nil
}

var errNoPool = errors.New("no pool yet: start the scenario with `pool`")
