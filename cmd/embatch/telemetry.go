package main

import (
	"context"
	"errors"
	"os"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"

	"github.com/embatch/embatch/engine"
)

// telemetrySetup is the OpenTelemetry SDK the CLI configured from the
// standard OTEL_* environment variables, and how to flush it.
type telemetrySetup struct {
	options []engine.Option
	// tracerProvider is the configured provider, nil when traces are off.
	tracerProvider *sdktrace.TracerProvider
	shutdown       []func(context.Context) error
}

// setupTelemetry configures traces and metrics from the environment, the
// way every OpenTelemetry SDK does: OTEL_TRACES_EXPORTER (console, otlp,
// none), OTEL_METRICS_EXPORTER (console, otlp, prometheus, none) and the
// OTEL_EXPORTER_OTLP_* settings. With neither exporter variable set nothing
// is configured and the engine uses the no-op providers, so telemetry costs
// nothing by default.
func setupTelemetry(ctx context.Context) (*telemetrySetup, error) {
	ts := &telemetrySetup{}
	traces, metrics := os.Getenv("OTEL_TRACES_EXPORTER"), os.Getenv("OTEL_METRICS_EXPORTER")
	if traces == "" && metrics == "" {
		return ts, nil
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName("embatch")))
	if err != nil {
		res = resource.Default()
	}
	if fromEnv, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, fromEnv); err == nil {
			res = merged
		}
	}
	if traces != "" && traces != "none" {
		exp, err := spanExporter(ctx, traces)
		if err != nil {
			return nil, err
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		ts.options = append(ts.options, engine.WithTracerProvider(tp))
		ts.tracerProvider = tp
		ts.shutdown = append(ts.shutdown, tp.Shutdown)
	}
	if metrics != "" && metrics != "none" {
		reader, err := metricReader(ctx, metrics)
		if err != nil {
			_ = ts.close(ctx)
			return nil, err
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res))
		ts.options = append(ts.options, engine.WithMeterProvider(mp))
		ts.shutdown = append(ts.shutdown, mp.Shutdown)
	}
	return ts, nil
}

// spanExporter is autoexport's exporter for OTEL_TRACES_EXPORTER, except
// that "console" writes to stderr: stdout carries the command's own output
// (a report, --json lines) and must stay parseable.
func spanExporter(ctx context.Context, name string) (sdktrace.SpanExporter, error) {
	if name == "console" {
		return stdouttrace.New(stdouttrace.WithWriter(os.Stderr))
	}
	return autoexport.NewSpanExporter(ctx)
}

// metricReader is autoexport's reader for OTEL_METRICS_EXPORTER, except
// that "console" writes to stderr (see spanExporter).
func metricReader(ctx context.Context, name string) (sdkmetric.Reader, error) {
	if name == "console" {
		exp, err := stdoutmetric.New(stdoutmetric.WithWriter(os.Stderr))
		if err != nil {
			return nil, err
		}
		return sdkmetric.NewPeriodicReader(exp), nil
	}
	return autoexport.NewMetricReader(ctx)
}

// close flushes and stops the providers.
func (ts *telemetrySetup) close(ctx context.Context) error {
	var errs []error
	for _, f := range ts.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
