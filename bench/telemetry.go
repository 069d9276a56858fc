package bench

import (
	"context"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/task"
)

// EngineNoopTraced is EngineNoop with telemetry on: an SDK tracer
// provider that records every span and hands it to a discarding exporter,
// and an SDK meter provider with a reader that is never collected. It
// measures what instrumentation costs the engine.
func EngineNoopTraced(ctx context.Context, tasks []task.TaskSpec, slots int) (time.Duration, error) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer tp.Shutdown(context.WithoutCancel(ctx))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(context.WithoutCancel(ctx))
	res, err := EngineNoopOpts(ctx, tasks, slots, len(tasks), engine.WithTracerProvider(tp), engine.WithMeterProvider(mp))
	return res.Elapsed, err
}
