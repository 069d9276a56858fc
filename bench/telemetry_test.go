package bench

import (
	"context"
	"testing"
)

// BenchmarkEngineNoopTelemetryOn measures no-op tasks through the account
// with an SDK tracer and meter provider (spans recorded, then discarded).
// Compare with BenchmarkEngineNoopTelemetryOff, run in the same process.
func BenchmarkEngineNoopTelemetryOn(b *testing.B) {
	tasks := NoopTasks(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	d, err := EngineNoopTraced(context.Background(), tasks, benchSlots)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/d.Seconds(), "tasks/s")
}

// BenchmarkEngineNoopTelemetryOff is the same with nothing configured (the
// no-op global providers).
func BenchmarkEngineNoopTelemetryOff(b *testing.B) {
	tasks := NoopTasks(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := EngineNoopOpts(context.Background(), tasks, benchSlots, len(tasks))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/res.Elapsed.Seconds(), "tasks/s")
}
