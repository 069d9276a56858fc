package autoscale

import "time"

// DefaultHistory is how much metric history a Sampler keeps unless told
// otherwise. Azure does not document its bound; its example formulas look
// back at most an hour, and a day covers any reasonable look-back at
// 2,880 samples per metric.
const DefaultHistory = 24 * time.Hour

// Sampler records metric values every SamplePeriod of (injected) time into
// a bounded history, the way the Batch service samples a pool for its
// autoscale formula. It implements Samples.
//
// The driver calls Record whenever it likes (typically at Next); Record
// takes at most one sample per 30-s slot, stamped with the slot's start
// (times are aligned to multiples of SamplePeriod since the Unix epoch).
// Slots with no call stay empty, which is how missing samples arise and
// lower GetSamplePercent, as they do on Azure. A Sampler is not safe for
// concurrent use.
type Sampler struct {
	capacity int       // samples kept per metric
	last     time.Time // slot of the last Record; zero before the first
	series   [metricEnd]ring
}

// ring is a bounded, oldest-first buffer of samples.
type ring struct {
	buf   []Sample
	start int // index of the oldest sample once buf is full
}

// NewSampler returns a Sampler that keeps the given span of history per
// metric (DefaultHistory when history <= 0), at least one sample.
func NewSampler(history time.Duration) *Sampler {
	if history <= 0 {
		history = DefaultHistory
	}
	return &Sampler{capacity: max(1, int(history/SamplePeriod))}
}

// slotOf returns the start of t's 30-s slot. (Truncate counts from year 1,
// which is a whole number of 30-s periods before the Unix epoch.)
func slotOf(t time.Time) time.Time { return t.Truncate(SamplePeriod) }

// Record takes one sample of each metric in values at now's slot, unless
// that slot (or a later one) was already sampled; it reports whether it
// recorded. Metrics missing from values get no sample in this slot.
func (s *Sampler) Record(now time.Time, values map[Metric]float64) bool {
	slot := slotOf(now)
	if !s.last.IsZero() && !slot.After(s.last) {
		return false
	}
	s.last = slot
	for _, m := range Metrics() {
		if v, ok := values[m]; ok {
			s.series[m].add(Sample{Time: slot, Value: v}, s.capacity)
		}
	}
	return true
}

// Next returns when the next sample is due: SamplePeriod after the last
// recorded slot, or the zero time before the first Record (due now).
func (s *Sampler) Next() time.Time {
	if s.last.IsZero() {
		return time.Time{}
	}
	return s.last.Add(SamplePeriod)
}

// Series returns a copy of m's history, oldest first.
func (s *Sampler) Series(m Metric) Series {
	if m <= metricInvalid || m >= metricEnd {
		return nil
	}
	r := &s.series[m]
	out := make(Series, 0, len(r.buf))
	out = append(out, r.buf[r.start:]...)
	return append(out, r.buf[:r.start]...)
}

func (r *ring) add(smp Sample, capacity int) {
	if len(r.buf) < capacity {
		r.buf = append(r.buf, smp)
		return
	}
	r.buf[r.start] = smp
	r.start = (r.start + 1) % len(r.buf)
}
