package pool_test

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// BenchmarkQueuedMemory reports the live heap the pool scheduling core
// holds per queued task (B/task): one million single-slot tasks, added in
// collections of 100 as the engine's AddTasks receives them, to one job of
// a pool with no nodes, so that every task stays queued. The engine keeps
// its queued tasks in the core, so this is the main term of its memory per
// queued task (target: ≤ 1 KiB per queued task in the engine). The task
// specs passed in are dropped after each AddTasks: what is measured is
// what the core keeps, the ids and command lines of its copies included.
//
//	go test -run '^$' -bench BenchmarkQueuedMemory -benchtime 1x ./pool
func BenchmarkQueuedMemory(b *testing.B) {
	const tasks, batch = 1_000_000, 100
	for range b.N {
		before := liveHeap()
		core, err := pool.NewScheduler(pool.Spec{ID: "p"}, pool.Config{Now: time.Unix(0, 0)})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Unix(1, 0)
		step := func(ev pool.Event) {
			if err := core.Step(now, ev); err != nil {
				b.Fatal(err)
			}
			core.Advance(core.Ready())
		}
		step(pool.AddJob{Spec: task.JobSpec{ID: "j", PoolInfo: task.PoolInformation{PoolID: "p"}}})
		specs := make([]task.TaskSpec, batch)
		for i := 0; i < tasks; i += batch {
			for k := range specs {
				specs[k] = task.TaskSpec{ID: strconv.Itoa(i + k), CommandLine: "/bin/true"}
			}
			step(pool.AddTasks{JobID: "j", Tasks: specs})
		}
		after := liveHeap()
		if c, err := core.TaskCounts("j"); err != nil || c.TaskCounts.Active != tasks {
			b.Fatalf("counts %+v, %v; want %d active", c, err, tasks)
		}
		runtime.KeepAlive(core)
		b.ReportMetric(float64(after-before)/tasks, "B/task")
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
