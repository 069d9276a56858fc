package autoscale

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that every error is an *Error
// with a parse code, that a parsed formula survives a round trip through
// Formula.String, and that evaluating it never panics and fails only with
// an evaluation code.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"$TargetDedicatedNodes = 1",
		"x = 1 ? 2 : 3 ? 4 : 5; y = !x && -x || x",
		`t = time("Mon, 15 Jan 2024 12:00:00 GMT") + TimeInterval_Hour; h = t.hour; d = time() - t`,
		"v = $CPUPercent.GetSample(TimeInterval_Minute * 10, 50); p = percentile(v, 90); q = val(v, 0)",
		"a = avg(); b = lg(0); c = std(1); d = norm(1, 2); e = range(3); f = len(); g = sum(1)",
		"$NodeDeallocationOption = taskcompletion; stop(); $TargetLowPriority = 2",
		"x = rand(); /* c */ y = $PendingTasks.GetSamplePercent(time(), TimeInterval_Day) // c",
		"x = TimeInterval_Year * 1e300",
		"x = $ActiveTasks.HistoryBeginTime(); y = $ActiveTasks.Count(); z = $ActiveTasks.GetSamplePeriod()",
		"x = 1e999", "x = \"", "/*", "$", "x = (((", "x = 1 +* 2", "\xff",
	}
	// The formulas of Azure's documentation.
	if data, err := os.ReadFile("testdata/docs.txt"); err == nil {
		for _, block := range strings.Split(string(data), "\neval") {
			if formula, _, ok := strings.Cut(block, "\n----\n"); ok {
				if _, rest, ok := strings.Cut(formula, "\n"); ok {
					seeds = append(seeds, rest)
				}
			}
		}
	}
	for _, s := range seeds {
		f.Add(s)
	}
	end := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	samples := SeriesMap{}
	for _, m := range Metrics() {
		if m != DiskBytes { // one metric without history
			samples[m] = seriesEnding(end, 3, 0, -1, 7, 2, 5, 5, 1)
		}
	}
	env := Env{Now: end, Rand: fixedRand{0.5}, Samples: samples, TargetDedicatedNodes: 2, CurrentDedicatedNodes: 2, TaskSlotsPerNode: 4}

	f.Fuzz(func(t *testing.T, src string) {
		formula, err := Parse(src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Code != CodeSyntaxError && e.Code != CodeTooLong) {
				t.Fatalf("Parse error %#v is not a parse *Error", err)
			}
			return
		}
		canonical := formula.String()
		if utf8.RuneCountInString(canonical) <= MaxFormulaLength {
			again, err := Parse(canonical)
			if err != nil {
				t.Fatalf("canonical form does not parse: %v\n%s", err, canonical)
			}
			if again.String() != canonical {
				t.Fatalf("round trip changed the formula:\n%s\n%s", canonical, again.String())
			}
		}
		r, err := formula.Evaluate(env)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Code != CodeEvaluationFailed && e.Code != CodeInsufficientSampleData) {
				t.Fatalf("Evaluate error %#v is not an evaluation *Error", err)
			}
		}
		_ = r.String()
	})
}
