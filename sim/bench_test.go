package sim

import (
	"testing"
	"time"
)

// BenchmarkKernel reports the events per second of the kernel driving the
// full scheduler (FCFS, 100,000 tasks on 1,000 nodes) next to a bare
// event-heap loop of the same event count (the floor).
//
//	go test -run XXX -bench Kernel -benchtime 3x ./sim
func BenchmarkKernel(b *testing.B) {
	w, cfg, err := ThroughputWorkload(100_000, 1000, 1)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Clock = time.Now
	var events uint64
	var loop time.Duration
	b.ResetTimer()
	for range b.N {
		res, err := Run(cfg, w)
		if err != nil {
			b.Fatal(err)
		}
		events += res.Events
		loop += time.Duration(res.WallS * float64(time.Second))
	}
	b.ReportMetric(float64(events)/loop.Seconds(), "events/s")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

// BenchmarkBareHeap is the floor of BenchmarkKernel: the same number of
// events (200,001 per op: an arrival and an exit per task) through the same heap, with 1,000 queued,
// doing nothing else.
func BenchmarkBareHeap(b *testing.B) {
	const events = 200_001
	for range b.N {
		BareHeapLoop(events, 1000, 1)
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMillionTasks is the wall time of 1,000,000 single-slot tasks on
// 10,000 nodes with FCFS, and of the bare loop with the same events.
//
//	go test -run XXX -bench MillionTasks -benchtime 1x ./sim
func BenchmarkMillionTasks(b *testing.B) {
	for range b.N {
		t, err := MeasureThroughput(1_000_000, 10_000, time.Now)
		if err != nil {
			b.Fatal(err)
		}
		b.Log(t)
		b.ReportMetric(t.RunWall.Seconds(), "run-s")
		b.ReportMetric(t.SimEventsPerS(), "events/s")
		b.ReportMetric(t.BareEventsPerS(), "bare-events/s")
	}
}

// TestBareHeapLoopOrders checks the floor loop does what it says: time only
// moves forward.
func TestBareHeapLoopOrders(t *testing.T) {
	var k kernel
	r := Rand(1, 1)
	for range 100 {
		k.push(event{at: time.Duration(r.IntN(1000)), kind: evNop})
	}
	last := time.Duration(-1)
	for k.len() > 0 {
		e := k.pop()
		if e.at < last {
			t.Fatalf("popped %v after %v", e.at, last)
		}
		last = e.at
	}
	if BareHeapLoop(1000, 10, 1) <= 0 {
		t.Error("the bare loop did not move time")
	}
}
