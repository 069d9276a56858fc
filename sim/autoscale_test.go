package sim

import (
	"testing"

	"github.com/embatch/embatch/sim/workload"
)

// TestAutoScaleInVirtualTime runs the same workload on a static pool and
// on a pool sized by a task-based autoscale formula with the same
// ceiling: the formula's pool finishes every task, uses fewer node-hours,
// and keeps the invariants.
func TestAutoScaleInVirtualTime(t *testing.T) {
	formula := `$pending = $PendingTasks.GetSample(TimeInterval_Minute * 5);
$TargetDedicatedNodes = min(20, max($pending));
$NodeDeallocationOption = taskcompletion;`
	run := func(auto string) *Result {
		t.Helper()
		w, err := workload.Synthetic{Arrival: "poisson:0.05", Runtime: "exp:300", Tasks: 2000}.Generate(Rand(1, StreamWorkload))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(Config{Nodes: 20, Seed: 1, PriceDedicated: 1, Check: true, AutoScaleFormula: auto, AutoScaleIntervalS: 300}, w)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Violations) > 0 {
			t.Fatalf("violations: %v", res.Violations)
		}
		return res
	}
	static, auto := run(""), run(formula)
	if auto.Completed != auto.Tasks {
		t.Fatalf("autoscaled pool completed %d of %d tasks", auto.Completed, auto.Tasks)
	}
	if auto.NodeHoursDedicated >= static.NodeHoursDedicated {
		t.Errorf("node-hours: autoscaled %.1f, static %.1f; the formula should save node-hours", auto.NodeHoursDedicated, static.NodeHoursDedicated)
	}
	if _, err := Run(Config{Nodes: 2, AutoScaleFormula: "$TargetDedicatedNodes = = 1;"}, &workload.Workload{}); err == nil {
		t.Error("a formula that does not parse was accepted")
	}
}
