package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embatch/embatch/sim/workload"
)

// swfDir holds the shared Parallel Workloads Archive traces (read-only).
const swfDir = "../../shared/data/swf"

func loadTrace(t testing.TB, name string) *workload.Workload {
	t.Helper()
	f, err := os.Open(filepath.Join(swfDir, name))
	if err != nil {
		t.Skipf("trace not available: %v", err)
	}
	defer f.Close()
	w, err := workload.ParseSWF(name, f)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestLublinEASYBeatsFCFS: on the Lublin–Feitelson trace (10,000 jobs, 256
// single-slot nodes, exact estimates), EASY backfilling gives a lower mean
// bounded slowdown than FCFS, utilization never exceeds 1, and the
// reservation checks (the policy's own promises and the independent
// shadow-time check) stay silent.
func TestLublinEASYBeatsFCFS(t *testing.T) {
	w := loadTrace(t, "lublin_256.swf")
	results := map[string]*Result{}
	for _, policy := range []string{"fcfs", "easy"} {
		res, err := Run(Config{Policy: policy, Nodes: w.MaxProcs, Seed: 1, Check: true, Series: true}, w)
		if err != nil {
			t.Fatal(err)
		}
		if res.Completed != len(w.Tasks) || res.Skipped != 0 {
			t.Fatalf("%s: completed %d of %d tasks (%d skipped)", policy, res.Completed, len(w.Tasks), res.Skipped)
		}
		if len(res.Violations) > 0 {
			t.Errorf("%s: invariant violations:\n%s", policy, strings.Join(res.Violations, "\n"))
		}
		if res.Utilization > 1 {
			t.Errorf("%s: utilization %v > 1", policy, res.Utilization)
		}
		for _, p := range res.Series {
			if p.Busy > p.Avail {
				t.Fatalf("%s: at t=%vs %d slots busy of %d available", policy, p.T, p.Busy, p.Avail)
			}
		}
		checkLittle(t, res, true)
		t.Logf("%s: bsld %.2f, wait mean %.0fs, utilization %.3f, makespan %.0fs", policy, res.BsldMean, res.WaitMeanS, res.Utilization, res.MakespanS)
		results[policy] = res
	}
	if e, f := results["easy"].BsldMean, results["fcfs"].BsldMean; e >= f {
		t.Errorf("EASY bounded slowdown %.2f is not lower than FCFS's %.2f", e, f)
	}
}

// TestShadowCheckCatchesGreedy: the independent EASY check is not vacuous.
// Azure's ordering is greedy (a task that does not fit is skipped and later
// ones run), so on the same trace wide jobs are overtaken past their
// shadow time and the check reports it.
func TestShadowCheckCatchesGreedy(t *testing.T) {
	w := loadTrace(t, "lublin_256.swf")
	res, err := run(Config{Policy: "fcfs", Nodes: w.MaxProcs, Seed: 1, Check: true}, w, testHooks{forceShadowCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range res.Violations {
		if strings.Contains(v, "EASY reservation broken") {
			found = true
		}
	}
	if !found {
		t.Fatalf("the shadow-time check found nothing wrong with a greedy policy; violations: %v", res.Violations)
	}
}

// TestHPC2NPolicies runs the HPC2N prefix (real user estimates, some
// exceeded) with every policy under the checkers.
func TestHPC2NPolicies(t *testing.T) {
	w := loadTrace(t, "HPC2N-2002-2.2-prefix.swf")
	for _, policy := range PolicyNames {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			res, err := Run(Config{Policy: policy, Nodes: w.MaxProcs, Seed: 1, Check: true}, w)
			if err != nil {
				t.Fatal(err)
			}
			if res.Completed != len(w.Tasks) {
				t.Errorf("completed %d of %d", res.Completed, len(w.Tasks))
			}
			if len(res.Violations) > 0 {
				t.Errorf("violations:\n%s", strings.Join(res.Violations, "\n"))
			}
			if res.Utilization > 1 {
				t.Errorf("utilization %v > 1", res.Utilization)
			}
			checkLittle(t, res, true)
			t.Logf("bsld %.2f wait %.0fs util %.3f", res.BsldMean, res.WaitMeanS, res.Utilization)
		})
	}
}
