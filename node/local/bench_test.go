package local

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/embatch/embatch/node"
)

// BenchmarkAttempt measures one attempt of /bin/true end to end: directory
// creation, environment, fork/exec, wait and process group cleanup.
func BenchmarkAttempt(b *testing.B) {
	be, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	if err := be.AddNode(context.Background(), node.NodeInfo{PoolID: "pool", NodeID: "n1", Slots: 1}); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		a := taskAttempt(fmt.Sprintf("t%d", i), "/bin/true")
		var wg sync.WaitGroup
		wg.Add(1)
		be.Start(context.Background(), a, func(r node.Result) {
			if r.ExitCode != 0 {
				b.Errorf("exit %d: %+v", r.ExitCode, r.FailureInfo)
			}
			wg.Done()
		})
		wg.Wait()
	}
}

// BenchmarkAttemptBackgroundChild is BenchmarkAttempt for a command that
// leaves a background child, which the backend must kill and wait out.
func BenchmarkAttemptBackgroundChild(b *testing.B) {
	be, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	if err := be.AddNode(context.Background(), node.NodeInfo{PoolID: "pool", NodeID: "n1", Slots: 1}); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		a := taskAttempt(fmt.Sprintf("t%d", i), "/bin/sh -c 'sleep 1000 &'")
		var wg sync.WaitGroup
		wg.Add(1)
		be.Start(context.Background(), a, func(r node.Result) { wg.Done() })
		wg.Wait()
	}
}
