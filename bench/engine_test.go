package bench

import (
	"context"
	"testing"
)

// benchSlots is the concurrency of both sides: the node's slots and the
// pond pool's workers.
const benchSlots = 8

// BenchmarkEngineNoop measures no-op tasks through the whole account.
// Compare with BenchmarkPondNoop (benchstat); tasks/s is reported too.
func BenchmarkEngineNoop(b *testing.B) {
	tasks := NoopTasks(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	d, err := EngineNoop(context.Background(), tasks, benchSlots)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/d.Seconds(), "tasks/s")
}

// BenchmarkPondNoop is the floor: the same closures on raw pond.
func BenchmarkPondNoop(b *testing.B) {
	b.ReportAllocs()
	d := PondNoop(b.N, benchSlots)
	b.ReportMetric(float64(b.N)/d.Seconds(), "tasks/s")
}
