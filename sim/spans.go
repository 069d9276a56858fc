package sim

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/embatch/embatch/pool"
)

// spans exports a simulated run as OpenTelemetry spans with virtual
// timestamps (Epoch plus virtual time), with the engine's span names and
// attributes (embatch.job, embatch.task.attempt; see docs/telemetry.md), so
// that a simulated run can be looked at in the same trace viewer as a live
// one. It is nil when Config.Tracer is nil, and then costs nothing.
type spans struct {
	tracer   trace.Tracer
	jobs     map[string]trace.Span
	attempts map[uint64]trace.Span
}

// Span and attribute names shared with the engine (engine/telemetry.go).
const (
	spanJob         = "embatch.job"
	spanTaskAttempt = "embatch.task.attempt"
	attrPool        = "embatch.pool.id"
	attrJob         = "embatch.job.id"
	attrTask        = "embatch.task.id"
	attrNode        = "embatch.node.id"
	attrAttempt     = "embatch.attempt.id"
	attrAttemptKind = "embatch.attempt.kind"
	attrRetry       = "embatch.task.retry_count"
	attrExitCode    = "embatch.task.exit_code"
	attrResult      = "embatch.task.result"
	attrKillReason  = "embatch.task.kill_reason"
)

func newSpans(t trace.Tracer) *spans {
	if t == nil {
		return nil
	}
	return &spans{tracer: t, jobs: map[string]trace.Span{}, attempts: map[uint64]trace.Span{}}
}

func at(now time.Duration) trace.SpanStartEventOption { return trace.WithTimestamp(Epoch.Add(now)) }

// started opens an attempt's span under its job's (opened on first use).
func (sp *spans) started(now time.Duration, poolID string, a *pool.Attempt) {
	if sp == nil {
		return
	}
	parent := context.Background()
	if a.JobID != "" {
		js := sp.jobs[a.JobID]
		if js == nil {
			_, js = sp.tracer.Start(context.Background(), spanJob, at(now),
				trace.WithAttributes(attribute.String(attrPool, poolID), attribute.String(attrJob, a.JobID)))
			sp.jobs[a.JobID] = js
		}
		parent = trace.ContextWithSpan(parent, js)
	}
	_, s := sp.tracer.Start(parent, spanTaskAttempt, at(now), trace.WithAttributes(
		attribute.String(attrPool, poolID),
		attribute.String(attrNode, a.Nodes[0]),
		attribute.Int64(attrAttempt, int64(a.ID)),
		attribute.String(attrAttemptKind, a.Kind.String()),
		attribute.String(attrJob, a.JobID),
		attribute.String(attrTask, a.TaskID),
		attribute.Int(attrRetry, a.Retry),
	))
	sp.attempts[a.ID] = s
}

// killed notes why an attempt is being killed.
func (sp *spans) killed(now time.Duration, id uint64, reason string) {
	if sp == nil {
		return
	}
	if s := sp.attempts[id]; s != nil {
		s.AddEvent("kill", at(now), trace.WithAttributes(attribute.String(attrKillReason, reason)))
	}
}

// exited closes an attempt's span.
func (sp *spans) exited(now time.Duration, id uint64, code int) {
	if sp == nil {
		return
	}
	s := sp.attempts[id]
	if s == nil {
		return
	}
	delete(sp.attempts, id)
	result := "success"
	if code != 0 {
		result = "failure"
		s.SetStatus(codes.Error, "non-zero exit")
	}
	s.SetAttributes(attribute.Int(attrExitCode, code), attribute.String(attrResult, result))
	s.End(trace.WithTimestamp(Epoch.Add(now)))
}

// end closes every span still open at the end of the run: attempts written
// off by a node loss or a restart, and every job.
func (sp *spans) end(now time.Duration) {
	if sp == nil {
		return
	}
	for id, s := range sp.attempts {
		s.AddEvent("written off", at(now))
		s.End(trace.WithTimestamp(Epoch.Add(now)))
		delete(sp.attempts, id)
	}
	for id, s := range sp.jobs {
		s.End(trace.WithTimestamp(Epoch.Add(now)))
		delete(sp.jobs, id)
	}
}
