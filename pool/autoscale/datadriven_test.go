package autoscale

// Data-driven tests (github.com/cockroachdb/datadriven) over the files in
// testdata. Each directive is
//
//	<command> [key=value]...
//	<optional input>
//	----
//	<expected output>
//
// Commands:
//
//	env [now=RFC3339] [dedicated=N] [lowpriority=N] [target=D/L] [slots=N]
//	    [delay=DUR] [rand=F] [option=O] [reset]
//	    sets Env fields (reset first clears Env and the samples); prints nothing.
//	samples metric=$Name [end=DUR]
//	    input: values oldest first, one per 30 s, the newest at Now+end
//	    (end defaults to 0; use a negative duration to end earlier). "-" is
//	    a missing sample and "v*n" repeats v n times. Replaces the metric's
//	    series; prints nothing.
//	eval [applied]
//	    input: a formula. Prints the results string (Result.String); on error
//	    first "error (<code>): <err>". With applied, also prints the applied
//	    targets, option and whether stop() ran.
//	parse
//	    input: a formula. Prints Formula.String() or the error.
//
// Regenerate with -rewrite only to see a diff, then check every changed line
// against the source the file cites: expected outputs say what Azure does,
// not what the code did.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		d := &driver{}
		d.reset()
		datadriven.RunTest(t, path, d.run)
	})
}

// fixedRand is a Rand that always returns v.
type fixedRand struct{ v float64 }

func (r fixedRand) Float64() float64 { return r.v }

type driver struct {
	env     Env
	samples SeriesMap
}

func (d *driver) reset() {
	d.samples = SeriesMap{}
	d.env = Env{Now: time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC), Samples: d.samples}
}

func (d *driver) run(t *testing.T, td *datadriven.TestData) string {
	switch td.Cmd {
	case "env":
		d.setEnv(t, td)
		return ""
	case "samples":
		d.setSamples(t, td)
		return ""
	case "eval":
		r, err := Eval(td.Input, d.env)
		var b strings.Builder
		if err != nil {
			fmt.Fprintf(&b, "error (%s): %v\n", errorCode(err), err)
		}
		b.WriteString(r.String())
		b.WriteByte('\n')
		if td.HasArg("applied") {
			fmt.Fprintf(&b, "applied: dedicated=%d lowpriority=%d option=%s stopped=%t\n",
				r.TargetDedicatedNodes, r.TargetLowPriorityNodes, r.NodeDeallocationOption, r.Stopped)
		}
		return b.String()
	case "parse":
		f, err := Parse(td.Input)
		if err != nil {
			return fmt.Sprintf("error (%s): %v\n", errorCode(err), err)
		}
		return f.String()
	}
	td.Fatalf(t, "unknown command %q", td.Cmd)
	return ""
}

func errorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "no code"
}

func (d *driver) setEnv(t *testing.T, td *datadriven.TestData) {
	if td.HasArg("reset") {
		d.reset()
	}
	for _, arg := range td.CmdArgs {
		if arg.Key == "reset" {
			continue
		}
		v := arg.SingleVal(t)
		var err error
		switch arg.Key {
		case "now":
			d.env.Now, err = time.Parse(time.RFC3339, v)
		case "dedicated":
			d.env.CurrentDedicatedNodes, err = strconv.Atoi(v)
		case "lowpriority":
			d.env.CurrentLowPriorityNodes, err = strconv.Atoi(v)
		case "slots":
			d.env.TaskSlotsPerNode, err = strconv.Atoi(v)
		case "target":
			_, err = fmt.Sscanf(v, "%d/%d", &d.env.TargetDedicatedNodes, &d.env.TargetLowPriorityNodes)
		case "delay":
			d.env.SampleDelay, err = time.ParseDuration(v)
		case "rand":
			var f float64
			f, err = strconv.ParseFloat(v, 64)
			d.env.Rand = fixedRand{f}
		case "option":
			d.env.NodeDeallocationOption = NodeDeallocationOption(v)
		default:
			td.Fatalf(t, "unknown env argument %q", arg.Key)
		}
		if err != nil {
			td.Fatalf(t, "env %s=%s: %v", arg.Key, v, err)
		}
	}
}

func (d *driver) setSamples(t *testing.T, td *datadriven.TestData) {
	var name string
	td.ScanArgs(t, "metric", &name)
	m, ok := metricByName[name]
	if !ok {
		td.Fatalf(t, "unknown metric %q", name)
	}
	var end time.Duration
	if td.HasArg("end") {
		var s string
		td.ScanArgs(t, "end", &s)
		var err error
		if end, err = time.ParseDuration(s); err != nil {
			td.Fatalf(t, "end=%s: %v", s, err)
		}
	}
	var vals []*float64 // nil: missing
	for _, f := range strings.Fields(td.Input) {
		text, n := f, 1
		if before, after, ok := strings.Cut(f, "*"); ok {
			var err error
			if n, err = strconv.Atoi(after); err != nil {
				td.Fatalf(t, "bad repeat %q", f)
			}
			text = before
		}
		var v *float64
		if text != "-" {
			x, err := strconv.ParseFloat(text, 64)
			if err != nil {
				td.Fatalf(t, "bad sample %q", f)
			}
			v = &x
		}
		for range n {
			vals = append(vals, v)
		}
	}
	newest := d.env.Now.Add(end)
	var s Series
	for i, v := range vals {
		if v != nil {
			s = append(s, Sample{Time: newest.Add(-time.Duration(len(vals)-1-i) * SamplePeriod), Value: *v})
		}
	}
	d.samples[m] = s
}
