package autoscale

import (
	"slices"
	"time"
)

// SamplePeriod is how often Azure Batch samples each metric. A time window
// of length d can hold at most d/SamplePeriod samples; sample percentages
// are counted against that.
const SamplePeriod = 30 * time.Second

// Metric is a sampled (read-only) service variable such as $PendingTasks.
// Formulas read metrics only through their methods (GetSample, ...). The
// zero value is invalid.
type Metric int

// The sampled metrics, with Azure's meaning (units as Azure documents them).
const (
	metricInvalid      Metric = iota
	CPUPercent                // $CPUPercent: average CPU usage, percent
	WallClockSeconds          // $WallClockSeconds: seconds consumed
	MemoryBytes               // $MemoryBytes: average memory used (Azure says megabytes)
	DiskBytes                 // $DiskBytes: average local disk used (Azure says gigabytes)
	DiskReadBytes             // $DiskReadBytes: bytes read
	DiskWriteBytes            // $DiskWriteBytes: bytes written
	DiskReadOps               // $DiskReadOps: disk read operations
	DiskWriteOps              // $DiskWriteOps: disk write operations
	NetworkInBytes            // $NetworkInBytes: inbound bytes
	NetworkOutBytes           // $NetworkOutBytes: outbound bytes
	SampleNodeCount           // $SampleNodeCount: count of compute nodes
	ActiveTasks               // $ActiveTasks: active tasks whose dependencies are satisfied
	RunningTasks              // $RunningTasks: running tasks
	PendingTasks              // $PendingTasks: $ActiveTasks + $RunningTasks
	SucceededTasks            // $SucceededTasks: tasks that finished successfully
	FailedTasks               // $FailedTasks: tasks that failed
	PreemptedNodeCount        // $PreemptedNodeCount: nodes in the preempted state
	metricEnd
)

var metricNames = [...]string{"", "$CPUPercent", "$WallClockSeconds", "$MemoryBytes", "$DiskBytes",
	"$DiskReadBytes", "$DiskWriteBytes", "$DiskReadOps", "$DiskWriteOps", "$NetworkInBytes",
	"$NetworkOutBytes", "$SampleNodeCount", "$ActiveTasks", "$RunningTasks", "$PendingTasks",
	"$SucceededTasks", "$FailedTasks", "$PreemptedNodeCount"}

// String returns the metric's formula name, such as "$PendingTasks".
func (m Metric) String() string {
	if m > metricInvalid && m < metricEnd {
		return metricNames[m]
	}
	return "Metric(invalid)"
}

// Metrics returns every metric, in declaration order.
func Metrics() []Metric {
	ms := make([]Metric, 0, metricEnd-1)
	for m := metricInvalid + 1; m < metricEnd; m++ {
		ms = append(ms, m)
	}
	return ms
}

// metricByName maps "$PendingTasks" to PendingTasks.
var metricByName = func() map[string]Metric {
	byName := map[string]Metric{}
	for _, m := range Metrics() {
		byName[m.String()] = m
	}
	return byName
}()

// Sample is one recorded value of a metric.
type Sample struct {
	Time  time.Time
	Value float64
}

// Series is a metric's history, oldest first.
type Series []Sample

// Samples gives each metric's recorded history. Evaluate does not modify
// what Series returns and does not keep it.
type Samples interface {
	Series(m Metric) Series
}

// SeriesMap is a Samples held in a map, handy for tests and replays.
type SeriesMap map[Metric]Series

// Series returns m's history.
func (s SeriesMap) Series(m Metric) Series { return s[m] }

// history is one metric's samples as a formula sees them: only those
// already available at evaluation time, oldest first.
type history []Sample

// visibleHistory filters and sorts a series: samples later than now-delay
// are not available yet (Azure's propagation delay).
func visibleHistory(s Series, now time.Time, delay time.Duration) history {
	cutoff := now.Add(-delay)
	h := make(history, 0, len(s))
	for _, smp := range s {
		if !smp.Time.After(cutoff) {
			h = append(h, smp)
		}
	}
	slices.SortStableFunc(h, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	return h
}

// last returns the values of the n most recent samples, oldest first.
func (h history) last(n int) []float64 {
	n = min(n, len(h))
	return values(h[len(h)-n:])
}

// window returns the samples in (from, to] (from and to in either order)
// and the percentage of the samples such a window can hold that are
// present: n / max(1, floor(length/SamplePeriod)), capped at 100.
func (h history) window(a, b time.Time) (vals []float64, percent float64) {
	from, to := a, b
	if to.Before(from) {
		from, to = to, from
	}
	var in []Sample
	for _, s := range h {
		if s.Time.After(from) && !s.Time.After(to) {
			in = append(in, s)
		}
	}
	possible := max(1, int64(to.Sub(from)/SamplePeriod))
	percent = min(100, 100*float64(len(in))/float64(possible))
	return values(in), percent
}

func values(ss []Sample) []float64 {
	vs := make([]float64, len(ss))
	for i, s := range ss {
		vs[i] = s.Value
	}
	return vs
}

// oldest returns the time of the oldest sample.
func (h history) oldest() (time.Time, bool) {
	if len(h) == 0 {
		return time.Time{}, false
	}
	return h[0].Time, true
}
