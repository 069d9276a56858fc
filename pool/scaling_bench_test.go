package pool

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkScaling reports the core's cost per task (ns/task, wall time;
// cpu-ns/task, the process's CPU time) as the workload and the pool grow,
// with the same vtDriver and "single" workload as BenchmarkPolicies (single-slot
// tasks queued 10,000 a second; see there). The target is a flat cost per
// task: within 2× from 10,000 to 1,000,000 tasks (on 1,000 nodes), and
// from 10 to 10,000 nodes (100,000 tasks), which rules out per-event scans
// over all tasks or all nodes.
//
//	go test ./pool -run '^$' -bench 'BenchmarkScaling' -benchtime 1x -cpu 1
func BenchmarkScaling(b *testing.B) {
	type size struct{ tasks, nodes int }
	sizes := []size{
		{10_000, 1000}, {100_000, 1000}, {1_000_000, 1000},
		{100_000, 10}, {100_000, 100}, {100_000, 10_000},
	}
	for _, policy := range []string{"fcfs", "easy"} {
		for _, sz := range sizes {
			b.Run(fmt.Sprintf("%s/tasks=%d/nodes=%d", policy, sz.tasks, sz.nodes), func(b *testing.B) {
				arrivals := singleWorkload(sz.tasks)
				var cpu time.Duration
				for range b.N {
					b.StopTimer()
					d := newVTDriver(policy, sz.nodes, 1, benchJobs)
					d.arrivals = arrivals
					d.runtime = benchRuntime
					c0 := cpuTime()
					b.StartTimer()
					if err := d.run(0); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					cpu += cpuTime() - c0
					if d.started < sz.tasks {
						b.Fatalf("%d of %d tasks started", d.started, sz.tasks)
					}
					b.StartTimer()
				}
				n := float64(sz.tasks) * float64(b.N)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/task")
				b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/task")
			})
		}
	}
}
