package sim

import (
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/embatch/embatch/sim/workload"
)

// TestSpansHaveVirtualTimestamps: a simulated run exports the engine's
// spans, one per attempt under its job's span, stamped in virtual time.
func TestSpansHaveVirtualTimestamps(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	w, err := workload.Synthetic{Arrival: "const:10", Runtime: "const:30", Tasks: 5}.Generate(Rand(1, StreamWorkload))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(Config{Nodes: 2, Seed: 1, Tracer: tp.Tracer("test")}, w)
	if err != nil {
		t.Fatal(err)
	}
	var attempts, jobs int
	for _, s := range rec.Ended() {
		switch s.Name() {
		case spanTaskAttempt:
			attempts++
			if d := s.EndTime().Sub(s.StartTime()); d != 30*time.Second {
				t.Errorf("attempt span lasts %v, want the 30 s virtual run time", d)
			}
			if s.StartTime().Before(Epoch) || s.StartTime().After(Epoch.Add(time.Hour)) {
				t.Errorf("attempt starts at %v, want virtual time after %v", s.StartTime(), Epoch)
			}
			if s.Parent().SpanID() == ([8]byte{}) {
				t.Error("attempt span has no parent job span")
			}
		case spanJob:
			jobs++
		}
	}
	if attempts != res.Completed || attempts != 5 || jobs == 0 {
		t.Errorf("spans: %d attempts, %d jobs; want 5 attempts (completed %d) under job spans", attempts, jobs, res.Completed)
	}
}
