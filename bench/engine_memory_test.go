package bench

import (
	"context"
	"testing"
)

// queuedTasks is the size of the memory target: at most 1 KiB per queued
// task in the engine with one million queued tasks.
const queuedTasks = 1_000_000

// BenchmarkQueuedMemory reports the live heap per queued task (B/task)
// with one million no-op tasks queued in an in-memory account ("engine";
// "engine-subscribed" with an event subscription open) and in a bare
// scheduling core ("core"); the difference is what the account adds
// around the core. The time per op is not the point; run it once:
//
//	go test -run '^$' -bench QueuedMemory -benchtime 1x ./bench
func BenchmarkQueuedMemory(b *testing.B) {
	for _, c := range []struct {
		name       string
		subscribed bool
	}{{"engine", false}, {"engine-subscribed", true}} {
		b.Run(c.name, func(b *testing.B) {
			var per float64
			for range b.N {
				var err error
				if per, err = QueuedBytesPerTask(context.Background(), queuedTasks, c.subscribed); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(per, "B/task")
		})
	}
	b.Run("core", func(b *testing.B) {
		var per float64
		for range b.N {
			var err error
			if per, err = CoreQueuedBytesPerTask(queuedTasks); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(per, "B/task")
	})
}
