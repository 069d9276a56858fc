package autoscale

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSamplerSlots(t *testing.T) {
	s := NewSampler(time.Hour)
	if !s.Next().IsZero() {
		t.Errorf("Next before the first Record = %v, want zero (due now)", s.Next())
	}
	t0 := time.Date(2024, 1, 15, 12, 0, 10, 0, time.UTC)
	if !s.Record(t0, map[Metric]float64{PendingTasks: 1, CPUPercent: 50}) {
		t.Fatal("first Record did not record")
	}
	slot := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	if got, want := s.Next(), slot.Add(SamplePeriod); !got.Equal(want) {
		t.Errorf("Next = %v, want %v", got, want)
	}
	if s.Record(t0.Add(19*time.Second), map[Metric]float64{PendingTasks: 2}) {
		t.Error("a second Record in the same 30-s slot recorded")
	}
	if s.Record(t0.Add(-time.Minute), map[Metric]float64{PendingTasks: 2}) {
		t.Error("a Record in an earlier slot recorded")
	}
	if !s.Record(s.Next(), map[Metric]float64{PendingTasks: 3}) {
		t.Error("Record at Next did not record")
	}
	// Skip a slot: the gap stays a missing sample.
	if !s.Record(slot.Add(90*time.Second+time.Millisecond), map[Metric]float64{PendingTasks: 4}) {
		t.Error("Record after a gap did not record")
	}
	want := Series{{slot, 1}, {slot.Add(30 * time.Second), 3}, {slot.Add(90 * time.Second), 4}}
	if diff := cmp.Diff(want, s.Series(PendingTasks)); diff != "" {
		t.Errorf("PendingTasks series (-want +got):\n%s", diff)
	}
	// Only the metrics given get a sample.
	if diff := cmp.Diff(Series{{slot, 50}}, s.Series(CPUPercent)); diff != "" {
		t.Errorf("CPUPercent series (-want +got):\n%s", diff)
	}
	if got := s.Series(DiskBytes); len(got) != 0 {
		t.Errorf("DiskBytes series = %v, want none", got)
	}
	if s.Series(metricInvalid) != nil || s.Series(metricEnd) != nil {
		t.Error("Series of an invalid metric is not nil")
	}
	// Series returns a copy.
	s.Series(PendingTasks)[0].Value = 99
	if s.Series(PendingTasks)[0].Value != 1 {
		t.Error("modifying a returned Series changed the Sampler")
	}
}

func TestSamplerBound(t *testing.T) {
	s := NewSampler(2 * time.Minute) // 4 samples
	t0 := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	for i := range 6 {
		s.Record(t0.Add(time.Duration(i)*SamplePeriod), map[Metric]float64{ActiveTasks: float64(i)})
	}
	var got []float64
	for _, smp := range s.Series(ActiveTasks) {
		got = append(got, smp.Value)
	}
	if diff := cmp.Diff([]float64{2, 3, 4, 5}, got); diff != "" {
		t.Errorf("bounded history (-want +got):\n%s", diff)
	}
	if got := NewSampler(0).capacity; got != int(DefaultHistory/SamplePeriod) {
		t.Errorf("default capacity = %d, want %d", got, DefaultHistory/SamplePeriod)
	}
	if got := NewSampler(time.Second).capacity; got != 1 {
		t.Errorf("capacity of a 1-s history = %d, want 1", got)
	}
}

// TestSamplerFeedsFormulas drives a Sampler with an injected clock, as the
// engine and the simulator do, and evaluates a formula over it.
func TestSamplerFeedsFormulas(t *testing.T) {
	s := NewSampler(0)
	now := time.Date(2024, 1, 15, 11, 50, 0, 0, time.UTC)
	for i := range 21 { // 11:50:00 to 12:00:00
		if i != 7 { // the driver missed one slot
			s.Record(now, map[Metric]float64{PendingTasks: float64(i)})
		}
		now = now.Add(SamplePeriod)
	}
	now = now.Add(-SamplePeriod)
	r, err := Eval(`p = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10);
		n = $PendingTasks.Count();
		last = val($PendingTasks.GetSample(1), 0);
		b = $PendingTasks.HistoryBeginTime()`, Env{Now: now, Samples: s})
	if err != nil {
		t.Fatal(err)
	}
	// (11:50, 12:00] holds 20 slots, one missing: 95%.
	if got, want := r.String(), "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;b=2024-01-15T11:50:00.000Z;last=20;n=20;p=95"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestSlotOf(t *testing.T) {
	tests := []struct{ in, want time.Time }{
		{time.Date(2024, 1, 15, 12, 0, 29, 999999999, time.UTC), time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)},
		{time.Date(2024, 1, 15, 12, 0, 30, 0, time.UTC), time.Date(2024, 1, 15, 12, 0, 30, 0, time.UTC)},
		{time.Unix(45, 0), time.Unix(30, 0)},
		{time.Unix(-15, 0), time.Unix(-30, 0)},
		// Slots are absolute: a time in another zone lands in the same slot.
		{time.Date(2024, 1, 15, 13, 0, 40, 0, time.FixedZone("X", 3600+15)), time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := slotOf(tt.in); !got.Equal(tt.want) {
			t.Errorf("slotOf(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFormatDouble(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{96.66666666666667, "96.6667"}, // 29 of 30 samples, as a real pool reports
		{0.5, "0.5"},
		{3, "3"},
		{10 * 1.1, "11"},
		{123456, "123456"},
		{1234567, "1.23457e+06"},
		{1e6, "1e+06"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{-2.5, "-2.5"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
	}
	for _, tt := range tests {
		if got := formatDouble(tt.in); got != tt.want {
			t.Errorf("formatDouble(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatInterval(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "00:00:00"},
		{90 * time.Second, "00:01:30"},
		{26 * time.Hour, "1.02:00:00"},
		{1500 * time.Millisecond, "00:00:01.5000000"},
		{-time.Second, "-00:00:01"},
		{100 * time.Nanosecond, "00:00:00.0000001"},
		{50 * time.Nanosecond, "00:00:00"}, // below a .NET tick
		{math.MinInt64, "-106751.23:47:16.8547758"},
		{math.MaxInt64, "106751.23:47:16.8547758"},
	}
	for _, tt := range tests {
		if got := formatInterval(tt.in); got != tt.want {
			t.Errorf("formatInterval(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValueAccessors(t *testing.T) {
	r, err := Eval(`d = 1.5; v = $CPUPercent.GetSample(3); s = "x"; ts = time(); ti = TimeInterval_Minute`, baseEnv())
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) Value {
		v, ok := r.Var(name)
		if !ok {
			t.Fatalf("no variable %s", name)
		}
		return v
	}
	if v := get("d"); v.Type() != TypeDouble || v.Double() != 1.5 || v.Text() != "" {
		t.Errorf("d = %#v", v)
	}
	v := get("v")
	vec := v.DoubleVec()
	if v.Type() != TypeDoubleVec || !cmp.Equal(vec, []float64{1, 2, 3}) {
		t.Errorf("v = %#v", v)
	}
	vec[0] = 9
	if v.DoubleVec()[0] != 1 {
		t.Error("DoubleVec does not return a copy")
	}
	if v := get("s"); v.Type() != TypeString || v.Text() != "x" {
		t.Errorf("s = %#v", v)
	}
	if v := get("ts"); v.Type() != TypeTimestamp || !v.Timestamp().Equal(testNow) {
		t.Errorf("ts = %#v", v)
	}
	if v := get("ti"); v.Type() != TypeTimeInterval || v.TimeInterval() != time.Minute {
		t.Errorf("ti = %#v", v)
	}
	for typ, want := range map[Type]string{typeInvalid: "invalid", TypeDouble: "double", TypeDoubleVec: "doubleVec",
		TypeString: "string", TypeTimestamp: "timestamp", TypeTimeInterval: "timeinterval", Type(99): "Type(99)"} {
		if got := typ.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", typ, got, want)
		}
	}
	if (Value{}).String() != "" {
		t.Error("zero Value formats as non-empty")
	}
}

func TestMetrics(t *testing.T) {
	ms := Metrics()
	if len(ms) != 17 {
		t.Errorf("%d metrics, want the 17 Azure documents", len(ms))
	}
	seen := map[string]bool{}
	for _, m := range ms {
		name := m.String()
		if seen[name] || name[0] != '$' || metricByName[name] != m {
			t.Errorf("metric %d: name %q", m, name)
		}
		seen[name] = true
	}
	if metricInvalid.String() != "Metric(invalid)" {
		t.Errorf("invalid metric name %q", metricInvalid.String())
	}
}
