package engine_test

import (
	"strings"
	"testing"

	"github.com/embatch/embatch/pool"
)

func TestAutoScalePoolThroughTheAccount(t *testing.T) {
	ctx := ctxT(t)
	acct := newAccount(t, nil)
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", EnableAutoScale: true, AutoScaleFormula: "$TargetDedicatedNodes = 2;"}); err != nil {
		t.Fatal(err)
	}
	if err := acct.WaitPoolSteady(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	p, err := acct.GetPool(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if p.CurrentDedicatedNodes != 2 || p.AutoScaleRun == nil || !strings.HasPrefix(p.AutoScaleRun.Results, "$TargetDedicatedNodes=2;") {
		t.Fatalf("pool = %d nodes, run %+v; want 2 nodes from the formula", p.CurrentDedicatedNodes, p.AutoScaleRun)
	}
	run, err := acct.EvaluateAutoScale(ctx, "p", "$TargetDedicatedNodes = $CurrentDedicatedNodes * 3;")
	if err != nil || !strings.HasPrefix(run.Results, "$TargetDedicatedNodes=6;") {
		t.Errorf("dry run = %+v, %v; want 6", run, err)
	}
	if err := acct.EnableAutoScale(ctx, "p", "$TargetDedicatedNodes = 1;", 0); err != nil {
		t.Fatal(err)
	}
	if err := acct.WaitPoolSteady(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	nodes, _ := acct.ListNodes(ctx, "p")
	if len(nodes) != 1 {
		t.Errorf("%d nodes after the new formula, want 1", len(nodes))
	}
	if err := acct.DisableAutoScale(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if err := acct.ResizePool(ctx, "p", pool.Resize{TargetDedicatedNodes: 3}); err != nil {
		t.Errorf("manual resize after disabling autoscale: %v", err)
	}
}
