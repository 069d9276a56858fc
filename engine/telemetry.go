package engine

import (
	"context"
	"reflect"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// ScopeName is the OpenTelemetry instrumentation scope of the engine.
const ScopeName = "github.com/embatch/embatch/engine"

// Telemetry names. They are stable: dashboards and alerts may depend on
// them. docs/telemetry.md lists them with their meaning.
const (
	// Span names.
	SpanJob         = "embatch.job"
	SpanTaskAttempt = "embatch.task.attempt"

	// Attribute keys.
	AttrPool          = "embatch.pool.id"
	AttrJob           = "embatch.job.id"
	AttrTask          = "embatch.task.id"
	AttrNode          = "embatch.node.id"
	AttrAttempt       = "embatch.attempt.id"
	AttrAttemptKind   = "embatch.attempt.kind"
	AttrRetry         = "embatch.task.retry_count"
	AttrExitCode      = "embatch.task.exit_code"
	AttrResult        = "embatch.task.result"
	AttrFailureCode   = "embatch.task.failure_code"
	AttrKillReason    = "embatch.task.kill_reason"
	AttrState         = "embatch.state"
	AttrJobEndReason  = "embatch.job.terminate_reason"
	AttrQueueWaitSecs = "embatch.task.queue_wait_s"

	// Metric names.
	MetricTasks          = "embatch.tasks"
	MetricQueueWait      = "embatch.task.queue_wait"
	MetricRunTime        = "embatch.task.run_time"
	MetricSlotsUsed      = "embatch.pool.slots.used"
	MetricSlotsAvailable = "embatch.pool.slots.available"
	MetricNodes          = "embatch.pool.nodes"
	MetricBatchLatency   = "embatch.scheduler.batch.duration"
	MetricCommitLatency  = "embatch.store.commit.duration"
	MetricCommitBatch    = "embatch.store.commit.size"
)

// WithTracerProvider sets the tracer provider; nil is ignored and the
// default is otel.GetTracerProvider().
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(o *options) {
		if tp != nil {
			o.tracerProvider = tp
		}
	})
}

// WithMeterProvider sets the meter provider; nil is ignored and the
// default is otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(o *options) {
		if mp != nil {
			o.meterProvider = mp
		}
	})
}

// telemetry holds the account's instruments.
type telemetry struct {
	tracer trace.Tracer
	// idleTracers and idleMeters are the OTel global providers when the
	// account uses them and they are still the API's initial delegates,
	// which record nothing until otel.SetTracerProvider or
	// otel.SetMeterProvider is called; nil otherwise. See tracing and
	// metering.
	idleTracers   trace.TracerProvider
	idleMeters    metric.MeterProvider
	queueWait     metric.Float64Histogram
	runTime       metric.Float64Histogram
	batchLatency  metric.Float64Histogram
	commitLatency metric.Float64Histogram
	commitBatch   metric.Int64Histogram
	registration  metric.Registration
}

func newTelemetry(o *options, a *Account) (*telemetry, error) {
	tp := o.tracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	mp := o.meterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(ScopeName)
	t := &telemetry{tracer: tp.Tracer(ScopeName)}
	if o.tracerProvider == nil && isOTelDelegate(tp) {
		t.idleTracers = tp
	}
	if o.meterProvider == nil && isOTelDelegate(mp) {
		t.idleMeters = mp
	}
	var err error
	secs := []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600}
	if t.queueWait, err = m.Float64Histogram(MetricQueueWait, metric.WithUnit("s"),
		metric.WithDescription("Time a task attempt waited from becoming ready to being placed."), metric.WithExplicitBucketBoundaries(secs...)); err != nil {
		return nil, err
	}
	if t.runTime, err = m.Float64Histogram(MetricRunTime, metric.WithUnit("s"),
		metric.WithDescription("Run time of task attempts, from start to exit."), metric.WithExplicitBucketBoundaries(secs...)); err != nil {
		return nil, err
	}
	if t.batchLatency, err = m.Float64Histogram(MetricBatchLatency, metric.WithUnit("s"),
		metric.WithDescription("Time one scheduling round took: applying a batch of events and computing decisions."),
		metric.WithExplicitBucketBoundaries(0.00001, 0.0001, 0.001, 0.01, 0.1, 1)); err != nil {
		return nil, err
	}
	if t.commitLatency, err = m.Float64Histogram(MetricCommitLatency, metric.WithUnit("s"),
		metric.WithDescription("Time a store commit (one batch, one sync) took."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 1)); err != nil {
		return nil, err
	}
	if t.commitBatch, err = m.Int64Histogram(MetricCommitBatch, metric.WithUnit("{record}"),
		metric.WithDescription("Records written by one store commit.")); err != nil {
		return nil, err
	}
	tasks, err := m.Int64ObservableGauge(MetricTasks, metric.WithUnit("{task}"), metric.WithDescription("Tasks by state."))
	if err != nil {
		return nil, err
	}
	used, err := m.Int64ObservableGauge(MetricSlotsUsed, metric.WithUnit("{slot}"), metric.WithDescription("Task slots in use per pool."))
	if err != nil {
		return nil, err
	}
	avail, err := m.Int64ObservableGauge(MetricSlotsAvailable, metric.WithUnit("{slot}"), metric.WithDescription("Free task slots on nodes that can take tasks, per pool."))
	if err != nil {
		return nil, err
	}
	nodes, err := m.Int64ObservableGauge(MetricNodes, metric.WithUnit("{node}"), metric.WithDescription("Compute nodes by state, per pool."))
	if err != nil {
		return nil, err
	}
	t.registration, err = m.RegisterCallback(func(ctx context.Context, obs metric.Observer) error {
		a.observe(obs, tasks, used, avail, nodes)
		return nil
	}, tasks, used, avail, nodes)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// isOTelDelegate reports whether p is one of the OTel API's own global
// providers, the delegates otel.GetTracerProvider and
// otel.GetMeterProvider return until a provider is set. Their spans and
// instruments record nothing until then.
func isOTelDelegate(p any) bool {
	t := reflect.TypeOf(p)
	return t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// tracing reports whether attempt spans may record anything. It is false
// only while the account uses the global tracer provider and no provider
// has been set there yet: such spans would be non-recording no-ops, and
// skipping them saves several allocations per attempt. Once
// otel.SetTracerProvider is called, the global returns the new provider
// and tracing turns on, for attempts started from then on.
func (t *telemetry) tracing() bool {
	return t.idleTracers == nil || otel.GetTracerProvider() != t.idleTracers
}

// metering is tracing for the meter provider: false only while the
// account's instruments are the global's and record nothing.
func (t *telemetry) metering() bool {
	return t.idleMeters == nil || otel.GetMeterProvider() != t.idleMeters
}

// observe reports the gauges from every pool's core.
func (a *Account) observe(obs metric.Observer, tasks, used, avail, nodes metric.Int64ObservableGauge) {
	a.mu.RLock()
	runners := make([]*runner, 0, len(a.pools))
	for _, r := range a.pools {
		runners = append(runners, r)
	}
	a.mu.RUnlock()
	for _, r := range runners {
		r.peek(func(c *pool.Scheduler) {
			poolAttr := attribute.String(AttrPool, r.id)
			var counts task.TaskCounts
			for _, j := range c.Jobs() {
				tc, _ := c.TaskCounts(j.ID)
				counts.Active += tc.TaskCounts.Active
				counts.Running += tc.TaskCounts.Running
				counts.Completed += tc.TaskCounts.Completed
			}
			obs.ObserveInt64(tasks, int64(counts.Active), metric.WithAttributes(poolAttr, attribute.String(AttrState, "active")))
			obs.ObserveInt64(tasks, int64(counts.Running), metric.WithAttributes(poolAttr, attribute.String(AttrState, "running")))
			obs.ObserveInt64(tasks, int64(counts.Completed), metric.WithAttributes(poolAttr, attribute.String(AttrState, "completed")))
			byState := map[pool.NodeState]int64{}
			var inUse int64
			for _, n := range c.Nodes() {
				byState[n.State]++
				inUse += int64(n.RunningTaskSlotsCount)
			}
			for st, n := range byState {
				obs.ObserveInt64(nodes, n, metric.WithAttributes(poolAttr, attribute.String(AttrState, st.String())))
			}
			obs.ObserveInt64(used, inUse, metric.WithAttributes(poolAttr))
			obs.ObserveInt64(avail, int64(c.FreeSlots()), metric.WithAttributes(poolAttr))
		})
	}
}

// poolTelemetry is one runner's span bookkeeping; only the runner's loop
// goroutine touches it.
type poolTelemetry struct {
	t      *telemetry
	poolID string
	// poolOpt is the pool attribute, built once, in a slice so that
	// recording a measurement does not allocate the variadic argument.
	poolOpt  []metric.RecordOption
	jobs     map[string]trace.Span // by folded job id
	attempts map[uint64]attemptSpan
}

type attemptSpan struct {
	span  trace.Span // nil when the attempt started while !tracing()
	start time.Time
	kind  pool.AttemptKind
	job   string
	kill  string
}

func (t *telemetry) forPool(poolID string) *poolTelemetry {
	return &poolTelemetry{t: t, poolID: poolID, jobs: map[string]trace.Span{}, attempts: map[uint64]attemptSpan{},
		poolOpt: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(AttrPool, poolID)))}}
}

// jobChange is a job change of a round, for jobChanges: endReason is the
// job's terminateReason when it completed (read from the core when the
// round was stepped).
type jobChange struct {
	pool.Change
	endReason string
}

// jobChanges starts and ends job spans as jobs appear and complete.
func (pt *poolTelemetry) jobChanges(now time.Time, changes []jobChange) {
	for _, c := range changes {
		switch c.Kind {
		case pool.ChangeJob:
			key := task.FoldID(c.JobID)
			sp := pt.jobs[key]
			if sp == nil && c.JobState != task.JobCompleted {
				_, sp = pt.t.tracer.Start(context.Background(), SpanJob, trace.WithTimestamp(now),
					trace.WithAttributes(attribute.String(AttrPool, pt.poolID), attribute.String(AttrJob, c.JobID)))
				pt.jobs[key] = sp
			}
			if sp == nil {
				continue
			}
			sp.AddEvent("job "+c.JobState.String(), trace.WithTimestamp(now))
			if c.JobState == task.JobCompleted {
				if c.endReason != "" {
					sp.SetAttributes(attribute.String(AttrJobEndReason, c.endReason))
				}
				sp.End(trace.WithTimestamp(now))
				delete(pt.jobs, key)
			}
		case pool.ChangeJobDeleted:
			key := task.FoldID(c.JobID)
			if sp := pt.jobs[key]; sp != nil {
				sp.AddEvent("job deleted", trace.WithTimestamp(now))
				sp.End(trace.WithTimestamp(now))
				delete(pt.jobs, key)
			}
		}
	}
}

// started opens an attempt's span, as a child of its job's span, and puts
// the W3C trace context in the attempt's environment (TRACEPARENT) so the
// task's own instrumentation joins the trace.
func (pt *poolTelemetry) started(now time.Time, pa *pool.Attempt, na *node.Attempt) {
	tracing, metering := pt.t.tracing(), pt.t.metering()
	if metering && !pa.Queued.IsZero() && pa.Kind == pool.AttemptTask {
		pt.t.queueWait.Record(context.Background(), now.Sub(pa.Queued).Seconds(), pt.poolOpt...)
	}
	if !tracing {
		if metering {
			// For the run time metric when the attempt exits.
			pt.attempts[pa.ID] = attemptSpan{start: now, kind: pa.Kind, job: pa.JobID}
		}
		return
	}
	parent := context.Background()
	if js := pt.jobs[task.FoldID(pa.JobID)]; js != nil {
		parent = trace.ContextWithSpan(parent, js)
	}
	ctx, sp := pt.t.tracer.Start(parent, SpanTaskAttempt, trace.WithTimestamp(now))
	pt.attempts[pa.ID] = attemptSpan{span: sp, start: now, kind: pa.Kind, job: pa.JobID}
	if !sp.IsRecording() {
		return // nothing configured: no attributes, no events, no allocations
	}
	sp.SetAttributes(
		attribute.String(AttrPool, pt.poolID),
		attribute.String(AttrNode, na.NodeID),
		attribute.Int64(AttrAttempt, int64(pa.ID)),
		attribute.String(AttrAttemptKind, pa.Kind.String()),
	)
	if pa.JobID != "" {
		sp.SetAttributes(attribute.String(AttrJob, pa.JobID), attribute.String(AttrTask, pa.TaskID), attribute.Int(AttrRetry, pa.Retry))
	}
	if !pa.Queued.IsZero() {
		sp.SetAttributes(attribute.Float64(AttrQueueWaitSecs, now.Sub(pa.Queued).Seconds()))
		sp.AddEvent("queued", trace.WithTimestamp(pa.Queued))
	}
	sp.AddEvent("placed", trace.WithTimestamp(now))
	if sp.SpanContext().IsValid() {
		carrier := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(ctx, carrier)
		if tp := carrier["traceparent"]; tp != "" {
			na.Env = append(append([]task.EnvironmentSetting(nil), na.Env...), task.EnvironmentSetting{Name: "TRACEPARENT", Value: tp})
		}
	}
}

// round records how long one scheduling round took.
func (pt *poolTelemetry) round(start, end time.Time) {
	pt.t.batchLatency.Record(context.Background(), end.Sub(start).Seconds(), pt.poolOpt...)
}

// committed records one store commit as this pool's round saw it: the
// wait for durability (its share of a group commit) and its record count.
func (pt *poolTelemetry) committed(d time.Duration, records int) {
	pt.t.commitLatency.Record(context.Background(), d.Seconds(), pt.poolOpt...)
	pt.t.commitBatch.Record(context.Background(), int64(records), pt.poolOpt...)
}

// killed notes why an attempt is being killed.
func (pt *poolTelemetry) killed(now time.Time, id uint64, reason string) {
	if as, ok := pt.attempts[id]; ok {
		as.kill = reason
		pt.attempts[id] = as
		if as.span == nil {
			return
		}
		as.span.AddEvent("kill", trace.WithTimestamp(now), trace.WithAttributes(attribute.String(AttrKillReason, reason)))
	}
}

// exited closes an attempt's span with its outcome.
func (pt *poolTelemetry) exited(now time.Time, e pool.AttemptExited) {
	as, ok := pt.attempts[e.ID]
	if !ok {
		return
	}
	delete(pt.attempts, e.ID)
	if as.kind == pool.AttemptTask {
		pt.t.runTime.Record(context.Background(), now.Sub(as.start).Seconds(), pt.poolOpt...)
	}
	sp := as.span
	if sp == nil {
		return
	}
	if !sp.IsRecording() {
		sp.End()
		return
	}
	attrs := []attribute.KeyValue{attribute.Int(AttrExitCode, e.ExitCode)}
	failed := e.Outcome != task.OutcomeExited || e.ExitCode != 0 || e.Failure != nil || as.kill != ""
	result := task.ResultSuccess
	if failed {
		result = task.ResultFailure
	}
	attrs = append(attrs, attribute.String(AttrResult, string(result)))
	if as.kill != "" {
		attrs = append(attrs, attribute.String(AttrKillReason, as.kill))
	}
	if e.Failure != nil {
		attrs = append(attrs, attribute.String(AttrFailureCode, e.Failure.Code))
	}
	sp.SetAttributes(attrs...)
	sp.AddEvent("exited", trace.WithTimestamp(now))
	if failed {
		msg := "exit code " + strconv.Itoa(e.ExitCode)
		if e.Failure != nil && e.Failure.Message != "" {
			msg = e.Failure.Message
		}
		sp.SetStatus(codes.Error, msg)
	}
	sp.End(trace.WithTimestamp(now))
}

// shutdown ends spans still open when the pool stops.
func (pt *poolTelemetry) shutdown(now time.Time) {
	for id, as := range pt.attempts {
		delete(pt.attempts, id)
		if as.span == nil {
			continue
		}
		as.span.AddEvent("account closed", trace.WithTimestamp(now))
		as.span.End(trace.WithTimestamp(now))
	}
	for k, sp := range pt.jobs {
		sp.End(trace.WithTimestamp(now))
		delete(pt.jobs, k)
	}
}
