// Package scenario replays the scripted scenarios of the scheduling core
// (pool/testdata/scenarios, the files pool's data-driven tests run) through
// the simulator's driver (sim.Driver) in virtual time, and turns each
// scripted step into concrete inputs and a decision trace. The conformance
// test (engine/conformance_test.go) feeds the same inputs to the live
// engine with fake nodes and requires the same trace: the simulator and the
// engine run the same scheduler (DESIGN §1).
//
// The script language is pool's (see pool/scenario_test.go): commands such
// as "pool dedicated=2", "job", "tasks job=j", "ready-all", "exit job=j
// task=a code=1", "fail node=tvm-1", "tick", with arguments key=value and
// an optional JSON input, each followed by "----" and its expected output
// (which this package ignores: it compares drivers, not golden files).
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
