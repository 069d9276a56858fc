package pool_test

// Scripted scenarios for the scheduling core, in the style of etcd-io/raft's
// data-driven tests (github.com/cockroachdb/datadriven): each file under
// testdata/scenarios is one scenario, a sequence of directives with their
// expected output. The script language and its one driver live in package
// sim/scenario (see its documentation); this test runs the driver in the
// core's time (scenario.NewGoldenRunner) and checks every directive's
// output against the golden file. The simulator's and the engine's
// conformance tests replay the same files through the same driver.
//
// Regenerate expected output with `go test ./pool -run TestScenarios
// -rewrite` and then READ the diff: the golden files must say what Azure
// Batch would do, not what the code did.
//
// This is an external test package because sim/scenario imports pool.
// The checks that need the core's internals (the random walks' invariants,
// the restore walk's store) stay in package pool and are reached through
// export_test.go.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/sim/scenario"
)

const scenarioDir = "testdata/scenarios"

func scenarioFiles(t *testing.T) []string {
	t.Helper()
	files, err := scenario.Files(scenarioDir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestScenarios runs every scenario file against its golden output.
func TestScenarios(t *testing.T) {
	for _, path := range scenarioFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			r := scenario.NewGoldenRunner()
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				if _, err := r.Run(scenario.Directive{Pos: d.Pos, Cmd: d.Cmd, Args: d.CmdArgs, Input: d.Input}); err != nil {
					t.Fatal(err)
				}
				out := r.Output()
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
	dirs, err := scenario.Parse(filepath.Base(path), string(data))
	if err != nil {
		return "", err
	}
	r := scenario.NewGoldenRunner()
	r.Trace = &strings.Builder{}
	for _, d := range dirs {
		if _, err := r.Run(d); err != nil {
			return "", err
		}
	}
	return r.Trace.String(), nil
}

// TestScenariosDeterministic runs every scenario several times and requires
// byte-identical traces, Changes included. Go randomizes map iteration, so
// any dependence of the core on map order shows up here.
func TestScenariosDeterministic(t *testing.T) {
	for _, path := range scenarioFiles(t) {
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
