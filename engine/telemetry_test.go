package engine_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/inprocess"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// TestTelemetryForScriptedJob runs a job of one succeeding and one failing
// task and checks the spans (names, parents, attributes, TRACEPARENT in the
// task's environment) and metric values the SDK's in-memory exporters see.
func TestTelemetryForScriptedJob(t *testing.T) {
	ctx := ctxT(t)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	traceparent := make(chan string, 1)
	acct, err := engine.New(
		engine.WithTracerProvider(tp), engine.WithMeterProvider(mp),
		engine.WithBackend("inprocess", func(pool.Spec) (node.Backend, error) {
			b := inprocess.New()
			if err := b.Register("ok", func(_ context.Context, tk *inprocess.Task) error {
				traceparent <- tk.Getenv("TRACEPARENT")
				return nil
			}); err != nil {
				return nil, err
			}
			return b, b.Register("fail", func(context.Context, *inprocess.Task) error { return inprocess.Exit(4) })
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}, OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddTasks(ctx, "j", []task.TaskSpec{{ID: "good", CommandLine: "ok"}, {ID: "bad", CommandLine: "fail"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.WaitJob(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	tp0 := <-traceparent
	var live metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &live); err != nil {
		t.Fatal(err)
	}
	gauges := map[string]int64{}
	for _, sm := range live.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok {
				for _, dp := range g.DataPoints {
					st, _ := dp.Attributes.Value(attribute.Key(engine.AttrState))
					gauges[m.Name+"/"+st.AsString()] += dp.Value
				}
			}
		}
	}
	wantGauges := map[string]int64{
		engine.MetricTasks + "/active": 0, engine.MetricTasks + "/running": 0, engine.MetricTasks + "/completed": 2,
		engine.MetricNodes + "/idle": 1, engine.MetricSlotsUsed + "/": 0, engine.MetricSlotsAvailable + "/": 1,
	}
	if diff := cmp.Diff(wantGauges, gauges); diff != "" {
		t.Errorf("gauges (-want +got):\n%s", diff)
	}
	acct.Close() // ends the loops, so every span has ended

	type spanView struct {
		Name   string
		Parent string
		Attrs  map[string]string
		Error  bool
	}
	byID := map[string]string{}
	ended := spans.Ended()
	for _, s := range ended {
		byID[s.SpanContext().SpanID().String()] = s.Name()
	}
	var got []spanView
	var jobTrace string
	for _, s := range ended {
		v := spanView{Name: s.Name(), Parent: byID[s.Parent().SpanID().String()], Attrs: map[string]string{}, Error: s.Status().Code.String() == "Error"}
		for _, kv := range s.Attributes() {
			switch string(kv.Key) {
			case engine.AttrJob, engine.AttrTask, engine.AttrResult, engine.AttrExitCode, engine.AttrJobEndReason, engine.AttrPool:
				v.Attrs[string(kv.Key)] = kv.Value.Emit()
			}
		}
		if s.Name() == engine.SpanJob {
			jobTrace = s.SpanContext().TraceID().String()
		}
		got = append(got, v)
	}
	want := []spanView{
		{Name: engine.SpanTaskAttempt, Parent: engine.SpanJob, Attrs: map[string]string{"embatch.pool.id": "p", "embatch.job.id": "j", "embatch.task.id": "good", "embatch.task.result": "success", "embatch.task.exit_code": "0"}},
		{Name: engine.SpanTaskAttempt, Parent: engine.SpanJob, Error: true, Attrs: map[string]string{"embatch.pool.id": "p", "embatch.job.id": "j", "embatch.task.id": "bad", "embatch.task.result": "failure", "embatch.task.exit_code": "4"}},
		{Name: engine.SpanJob, Attrs: map[string]string{"embatch.pool.id": "p", "embatch.job.id": "j", "embatch.job.terminate_reason": "AllTasksComplete"}},
	}
	sortViews := cmp.Transformer("sort", func(in []spanView) []spanView {
		out := append([]spanView(nil), in...)
		key := func(v spanView) string { return v.Name + v.Attrs["embatch.task.id"] }
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if key(out[j]) < key(out[i]) {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return out
	})
	if diff := cmp.Diff(want, got, sortViews); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	if parts := strings.Split(tp0, "-"); len(parts) != 4 || parts[1] != jobTrace {
		t.Errorf("TRACEPARENT = %q, want the job's trace %s", tp0, jobTrace)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != engine.ScopeName {
			t.Errorf("scope = %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				for _, dp := range h.DataPoints {
					counts[m.Name] += dp.Count
					if v, _ := dp.Attributes.Value(attribute.Key(engine.AttrPool)); v.AsString() != "p" {
						t.Errorf("%s pool attribute = %q", m.Name, v.AsString())
					}
				}
			}
		}
	}
	if counts[engine.MetricQueueWait] != 2 || counts[engine.MetricRunTime] != 2 || counts[engine.MetricBatchLatency] == 0 {
		t.Errorf("histogram counts = %v; want 2 queue waits, 2 run times, some batches", counts)
	}
}

// TestStoreCommitMetrics: a durable account records the commit duration
// and size histograms.
func TestStoreCommitMetrics(t *testing.T) {
	ctx := ctxT(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	acct := openDurable(t, t.TempDir(), map[string]inprocess.Handler{"ok": func(context.Context, *inprocess.Task) error { return nil }},
		engine.WithMeterProvider(mp))
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "t", CommandLine: "ok"}); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.WaitTask(ctx, "j", "t"); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var commits uint64
	var records int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch h := m.Data.(type) {
			case metricdata.Histogram[float64]:
				if m.Name == engine.MetricCommitLatency {
					for _, dp := range h.DataPoints {
						commits += dp.Count
					}
				}
			case metricdata.Histogram[int64]:
				if m.Name == engine.MetricCommitBatch {
					for _, dp := range h.DataPoints {
						records += dp.Sum
					}
				}
			}
		}
	}
	// At least: the pool, the job, the task added, running, completed.
	if commits == 0 || records < 4 {
		t.Errorf("commits = %d, records = %d; want commits recorded with the records they wrote", commits, records)
	}
}

// TestGlobalProvidersSetLater: an account made without
// WithTracerProvider and WithMeterProvider uses the OTel globals, and
// providers set there after the account was made record the attempts
// started from then on.
func TestGlobalProvidersSetLater(t *testing.T) {
	// Only the API's initial global providers forward to providers set
	// later; once a test (or an earlier run with -count) has set them, a
	// new account keeps what it got at New.
	for _, p := range []any{otel.GetTracerProvider(), otel.GetMeterProvider()} {
		if rt := reflect.TypeOf(p); rt.Kind() != reflect.Pointer || rt.Elem().PkgPath() != "go.opentelemetry.io/otel/internal/global" {
			t.Skip("the OTel global providers were already set in this process")
		}
	}
	ctx := ctxT(t)
	acct := newAccount(t, map[string]inprocess.Handler{"ok": func(context.Context, *inprocess.Task) error { return nil }})
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}}); err != nil {
		t.Fatal(err)
	}
	if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "before", CommandLine: "ok"}); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.WaitTask(ctx, "j", "before"); err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	t.Cleanup(func() { otel.SetTracerProvider(tracenoop.NewTracerProvider()) })
	reader := sdkmetric.NewManualReader()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	t.Cleanup(func() { otel.SetMeterProvider(metricnoop.NewMeterProvider()) })
	if err := acct.AddTask(ctx, "j", task.TaskSpec{ID: "after", CommandLine: "ok"}); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.WaitTask(ctx, "j", "after"); err != nil {
		t.Fatal(err)
	}
	acct.Close()
	var got []string
	for _, s := range spans.Ended() {
		if s.Name() != engine.SpanTaskAttempt {
			continue
		}
		for _, kv := range s.Attributes() {
			if kv.Key == engine.AttrTask {
				got = append(got, kv.Value.AsString())
			}
		}
	}
	if diff := cmp.Diff([]string{"after"}, got); diff != "" {
		t.Errorf("attempt spans by task (-want +got):\n%s", diff)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				for _, dp := range h.DataPoints {
					counts[m.Name] += dp.Count
				}
			}
		}
	}
	if counts[engine.MetricQueueWait] != 1 || counts[engine.MetricRunTime] != 1 {
		t.Errorf("histogram counts = %v; want the queue wait and run time of the one attempt started after the provider was set", counts)
	}
}
