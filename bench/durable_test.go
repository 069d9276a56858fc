package bench

import (
	"context"
	"testing"

	"github.com/embatch/embatch/engine"
)

// BenchmarkDurable measures no-op tasks added (in collections of 100) and
// completed through a whole account, in memory and durable (Badger in a
// temporary directory, group commit), in the same run, so that the ratio
// is the cost of durability on this machine. It reports tasks/s and, for
// the durable account, syncs and records written per thousand tasks. A
// round of a pool's owner loop waits for its sync before it starts the
// tasks it placed, so durable throughput is about (tasks finished per
// round) / (sync latency); measure the machine's sync latency with, for
// example, dd oflag=dsync to read the numbers.
//
//	go test -run '^$' -bench BenchmarkDurable -benchtime 20000x ./bench
func BenchmarkDurable(b *testing.B) {
	cases := []struct {
		name    string
		durable bool
		slots   int
	}{
		{"memory", false, benchSlots},
		{"durable", true, benchSlots},
		// More slots: more task exits per round, so more per sync.
		{"durable-64slots", true, 64},
		{"memory-256slots", false, 256},
		{"durable-256slots", true, 256},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tasks := NoopTasks(b.N)
			var opts []engine.Option
			if c.durable {
				opts = append(opts, engine.WithDataDir(b.TempDir()))
			}
			b.ReportAllocs()
			b.ResetTimer()
			res, err := EngineNoopOpts(context.Background(), tasks, c.slots, 100, opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/res.Elapsed.Seconds(), "tasks/s")
			if c.durable {
				b.ReportMetric(float64(res.Store.Syncs)*1000/float64(b.N), "syncs/1k-tasks")
				b.ReportMetric(float64(res.Store.Records)*1000/float64(b.N), "records/1k-tasks")
			}
		})
	}
}
