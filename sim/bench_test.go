package sim

import (
	"fmt"
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

// BenchmarkScaling reports the simulator's cost per task (ns/task of event
// loop wall time) for ThroughputWorkload as the workload grows (10,000 to
// 1,000,000 tasks on 1,000 nodes) and as the pool grows (10 to 10,000
// nodes, 100,000 tasks). The target is a flat cost per task, within 2×
// across either range: no per-event scan over all tasks or all nodes.
// bare-ns/task is the floor at each size, BareHeapLoop with as many events
// and one queued per node: more nodes mean more tasks in flight, a bigger
// heap and working set, and so more cache misses per event even with no
// scan at all.
//
//	go test -run '^$' -bench 'BenchmarkScaling' -benchtime 1x ./sim
func BenchmarkScaling(b *testing.B) {
	type size struct{ tasks, nodes int }
	sizes := []size{
		{10_000, 1000}, {100_000, 1000}, {1_000_000, 1000},
		{100_000, 10}, {100_000, 100}, {100_000, 10_000},
	}
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("tasks=%d/nodes=%d", sz.tasks, sz.nodes), func(b *testing.B) {
			w, cfg, err := ThroughputWorkload(sz.tasks, sz.nodes, 1)
			if err != nil {
				b.Fatal(err)
			}
			cfg.Clock = time.Now
			var loop time.Duration
			var events uint64
			for range b.N {
				res, err := Run(cfg, w)
				if err != nil {
					b.Fatal(err)
				}
				loop += time.Duration(res.WallS * float64(time.Second))
				events += res.Events
			}
			b.StopTimer()
			start := time.Now()
			BareHeapLoop(events/uint64(b.N), sz.nodes, 1)
			bare := time.Since(start)
			b.ReportMetric(float64(loop.Nanoseconds())/float64(sz.tasks*b.N), "ns/task")
			b.ReportMetric(float64(events)/loop.Seconds(), "events/s")
			// The floor at this size: a bare heap loop with as many
			// events, and one queued per node (the running tasks).
			b.ReportMetric(float64(bare.Nanoseconds())/float64(sz.tasks), "bare-ns/task")
		})
	}
}
