package inprocess

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/alitto/pond/v2"

	"github.com/embatch/embatch/node"
)

// noop is the work both sides of BenchmarkNoop run.
func noop(context.Context, *Task) error { return nil }

// BenchmarkNoop compares running b.N no-op attempts through Start and done
// on one node with GOMAXPROCS slots against submitting the same no-op closure
// to a raw pond pool of the same size. The difference is the backend's
// per-attempt overhead: the closure, the Task, command-line lookup, two
// time.Now calls and the Result.
//
//	go test -run '^$' -bench Noop -benchmem ./node/inprocess
func BenchmarkNoop(b *testing.B) {
	slots := runtime.GOMAXPROCS(0)
	pondVsBackend(b, slots, func(b *testing.B) int { return b.N })
	b.Run("inprocess-cancelable", func(b *testing.B) {
		// As the engine calls it: each attempt with its own cancellable ctx.
		be, a := noopNode(b, slots)
		var wg sync.WaitGroup
		runInBatches(b, b.N, &wg, func() {
			ctx, cancel := context.WithCancel(context.Background())
			be.Start(ctx, a, func(node.Result) { cancel(); wg.Done() })
		})
	})
}

// BenchmarkRounds is BenchmarkNoop in the engine's pattern: attempts are
// started a node's worth (slots) at a time, and the next ones only once
// all of those are done, as the engine starts new attempts when earlier
// ones report. Workers go idle between rounds, so pond lets them exit and
// starts a new goroutine per attempt; the backend's deeper call chain
// (handler lookup, result, done callback) then grows each new goroutine's
// stack, which is most of the difference between the two.
//
//	go test -run '^$' -bench Rounds -benchmem ./node/inprocess
func BenchmarkRounds(b *testing.B) {
	slots := runtime.GOMAXPROCS(0)
	pondVsBackend(b, slots, func(*testing.B) int { return slots })
}

// pondVsBackend runs the sub-benchmarks "pond" (the no-op closure on a raw
// pond pool of slots workers) and "inprocess" (the noop handler through
// Start on a node of slots slots), starting batch(b) at a time.
func pondVsBackend(b *testing.B, slots int, batch func(*testing.B) int) {
	ctx := context.Background()
	b.Run("pond", func(b *testing.B) {
		p := pond.NewPool(slots)
		defer p.StopAndWait()
		var wg sync.WaitGroup
		runInBatches(b, batch(b), &wg, func() {
			p.Go(func() {
				_ = noop(ctx, nil)
				wg.Done()
			})
		})
	})
	b.Run("inprocess", func(b *testing.B) {
		be, a := noopNode(b, slots)
		var wg sync.WaitGroup
		done := func(node.Result) { wg.Done() }
		runInBatches(b, batch(b), &wg, func() { be.Start(ctx, a, done) })
	})
}

// noopNode returns a backend (closed when b ends) with one node "n" of
// slots slots and the noop handler, and an attempt that runs noop there.
func noopNode(b *testing.B, slots int) (*Backend, *node.Attempt) {
	be := New()
	b.Cleanup(func() { be.Close() })
	if err := be.AddNode(context.Background(), node.NodeInfo{PoolID: "p", NodeID: "n", Slots: slots, Dedicated: true}); err != nil {
		b.Fatal(err)
	}
	if err := be.Register("noop", noop); err != nil {
		b.Fatal(err)
	}
	return be, &node.Attempt{ID: 1, Kind: node.KindTask, PoolID: "p", JobID: "j", TaskID: "t", NodeID: "n", CommandLine: "noop"}
}

// runInBatches calls start b.N times, batch calls at a time, and waits on
// wg for each batch (start's work calls wg.Done when done) before the
// next; with batch b.N everything is started at once. It reports
// allocations. The loops use b.N rather than b.Loop so that waiting for the
// last work, and its allocations, are measured.
func runInBatches(b *testing.B, batch int, wg *sync.WaitGroup, start func()) {
	b.ReportAllocs()
	for n := 0; n < b.N; n += batch {
		k := min(batch, b.N-n)
		wg.Add(k)
		for range k {
			start()
		}
		wg.Wait()
	}
}
