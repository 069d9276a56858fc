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
	files, err := Files(scenarioDir)
	if err != nil {
		t.Fatal(err)
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
				if out := r.Output(); strings.Contains(out, "BUG:") {
					t.Errorf("%s: driver saw a broken invariant:\n%s", d.Pos, out)
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

// TestParseScenarioMatchesDatadriven: Parse reads the same directives as
// datadriven.
func TestParseScenarioMatchesDatadriven(t *testing.T) {
	for _, path := range scenarioFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
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
				t.Errorf("Parse differs from datadriven (-want +got):\n%s", diff)
			}
		})
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

// TestScenarioDriverRejectsMisuse checks that the runner catches mistakes
// in scripts instead of silently ignoring them, in both times.
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
		{"no reservations", []string{"pool", "reservations"}, "makes no reservations"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			script := strings.Join(tc.dirs, "\n----\n\n") + "\n----\n"
			dirs, err := Parse("inline", script)
			if err != nil {
				t.Fatal(err)
			}
			if len(dirs) != len(tc.dirs) {
				t.Fatalf("parsed %d directives, want %d", len(dirs), len(tc.dirs))
			}
			for _, r := range []*Runner{NewGoldenRunner(), NewRunner()} {
				for i, d := range dirs {
					_, err := r.Run(d)
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
			}
		})
	}
}
