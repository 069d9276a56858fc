package bench

import (
	"context"
	"testing"
)

// BenchmarkLocalTrue measures /bin/true tasks on a local-process node.
// Compare with BenchmarkExecTrue.
func BenchmarkLocalTrue(b *testing.B) {
	tasks := TrueTasks(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	d, err := LocalTrue(context.Background(), b.TempDir(), tasks, benchSlots)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/d.Seconds(), "tasks/s")
}

// BenchmarkExecTrue is the floor: a bare os/exec loop, same concurrency.
func BenchmarkExecTrue(b *testing.B) {
	b.ReportAllocs()
	d, err := ExecTrue(context.Background(), b.N, benchSlots)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/d.Seconds(), "tasks/s")
}

// TestRunMedianAndRatio checks the harness: medians over alternating
// rounds and the ratio of the medians.
func TestRunMedianAndRatio(t *testing.T) {
	i, j := 0, 0
	ours := []float64{10, 30, 20}
	base := []float64{5, 5, 50}
	c := Case{Name: "x", Unit: "u", BaselineName: "b",
		Ours:     func(context.Context) (float64, error) { v := ours[i]; i++; return v, nil },
		Baseline: func(context.Context) (float64, error) { v := base[j]; j++; return v, nil },
	}
	r, err := Run(context.Background(), c, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ours != 20 || r.Baseline != 5 || r.Ratio != 4 {
		t.Errorf("result = %+v; want ours 20, baseline 5, ratio 4", r)
	}
	if _, err := Run(context.Background(), c, 0); err == nil {
		t.Error("0 rounds accepted")
	}
}
