package sim

import (
	"runtime"
	"testing"
)

// BenchmarkMemory reports the simulator's live heap per task (B/task) for
// ThroughputWorkload: one million single-slot tasks on 10,000 nodes, FCFS,
// measured after a full collection once the last task was submitted (the
// end of arrivals; at 90% load nearly every task has completed by then, so
// this is about the peak). The workload itself, an input the caller holds,
// is reported apart (workload-B/task): the simulator keeps pointers into
// it instead of copies.
//
//	go test -run '^$' -bench BenchmarkMemory -benchtime 1x ./sim
func BenchmarkMemory(b *testing.B) {
	const tasks, nodes = 1_000_000, 10_000
	for range b.N {
		empty := liveHeap()
		w, cfg, err := ThroughputWorkload(tasks, nodes, 1)
		if err != nil {
			b.Fatal(err)
		}
		before := liveHeap()
		var arrived int64
		if _, err := run(cfg, w, testHooks{arrived: func() { arrived = liveHeap() }}); err != nil {
			b.Fatal(err)
		}
		if arrived == 0 {
			b.Fatal("the arrivals never ended")
		}
		runtime.KeepAlive(w)
		b.ReportMetric(float64(arrived-before)/tasks, "B/task")
		b.ReportMetric(float64(before-empty)/tasks, "workload-B/task")
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
