package scenario

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/google/go-cmp/cmp"
)

// scenarioDir holds the core's scripted scenarios.
const scenarioDir = "../../pool/testdata/scenarios"

func scenarioFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(scenarioDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios in " + scenarioDir)
	}
	return files
}

// actionLines picks the decision trace out of a golden output, in the
// form of ActionLine (no slots, no kill reasons).
func actionLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "allocate "), strings.HasPrefix(l, "release "):
		case strings.HasPrefix(l, "start #"):
			l = slotsRE.ReplaceAllString(l, "")
		case strings.HasPrefix(l, "kill #"):
			if i := strings.Index(l, " ("); i >= 0 {
				l = l[:i]
			}
		default:
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

var slotsRE = regexp.MustCompile(` slots=\d+`)

// TestRunnerMatchesGoldenTraces: driven through sim.Driver, every scenario
// makes, directive by directive, the decisions its golden file records
// (pool's data-driven test checks the golden files against the core
// driven directly). The one difference allowed is when a timer fires: the
// runner steps a Tick at each deadline the clock passes, as live timers
// fire, where pool's driver fires them with the next event; so the traces
// are compared as sets per directive.
func TestRunnerMatchesGoldenTraces(t *testing.T) {
	for _, path := range scenarioFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			r := NewRunner()
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				steps, err := r.Run(Directive{Pos: d.Pos, Cmd: d.Cmd, Args: d.CmdArgs, Input: d.Input})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, s := range steps {
					got = append(got, s.Actions...)
				}
				want := actionLines(d.Expected)
				slices.Sort(got)
				slices.Sort(want)
				if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })); diff != "" {
					t.Errorf("%s: %s: decisions differ from the golden file (-golden +runner):\n%s", d.Pos, d.Cmd, diff)
				}
				return d.Expected
			})
		})
	}
}

// TestParseMatchesDatadriven: Parse reads the same directives as
// datadriven.
func TestParseMatchesDatadriven(t *testing.T) {
	for _, path := range scenarioFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(filepath.Base(path), string(data))
		if err != nil {
			t.Fatal(err)
		}
		var want []Directive
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			want = append(want, Directive{Cmd: d.Cmd, Args: d.CmdArgs, Input: d.Input})
			return d.Expected
		})
		for i := range got {
			got[i].Pos = ""
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: Parse differs from datadriven (-want +got):\n%s", path, diff)
		}
	}
}

// TestRunFileDeterministic: replaying a scenario gives the same steps.
func TestRunFileDeterministic(t *testing.T) {
	for _, path := range scenarioFiles(t) {
		first, err := RunFile(path)
		if err != nil {
			t.Fatal(err)
		}
		again, err := RunFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(first) == 0 {
			t.Fatalf("%s: no steps", path)
		}
		if diff := cmp.Diff(first, again, cmp.Comparer(func(a, b error) bool { return (a == nil) == (b == nil) }), cmp.AllowUnexported()); diff != "" {
			t.Errorf("%s: replays differ:\n%s", path, diff)
		}
	}
}

func TestRunnerRejectsMisuse(t *testing.T) {
	for _, tc := range []struct{ script, want string }{
		{"pool\n----\n\nfrobnicate\n----\n", `unknown command "frobnicate"`},
		{"pool dedicate=2\n----\n", `unknown argument "dedicate"`},
		{"jobs\n----\n", "no pool yet"},
		{"at t=10s\n----\n\nat t=5s\n----\n", "time goes backwards"},
		{"pool\n----\n\npool\n----\n", "already has a pool"},
	} {
		dirs, err := Parse("inline", tc.script)
		if err != nil {
			t.Fatal(err)
		}
		r := NewRunner()
		var last error
		for _, d := range dirs {
			if _, last = r.Run(d); last != nil {
				break
			}
		}
		if last == nil || !strings.Contains(last.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.script, last, tc.want)
		}
	}
}
