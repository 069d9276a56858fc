package local

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/nodetest"
)

// BenchmarkAttempt measures one attempt of /bin/true end to end: directory
// creation, environment, fork/exec, wait and process group cleanup.
func BenchmarkAttempt(b *testing.B) {
	benchAttempts(b, "/bin/true", true)
}

// BenchmarkAttemptBackgroundChild is BenchmarkAttempt for a command that
// leaves a background child, which the backend must kill and wait out.
func BenchmarkAttemptBackgroundChild(b *testing.B) {
	benchAttempts(b, "/bin/sh -c 'sleep 1000 &'", false)
}

// benchAttempts runs commandLine on one node, one attempt at a time, and
// with wantZero fails on a non-zero exit.
func benchAttempts(b *testing.B, commandLine string, wantZero bool) {
	be, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	if err := be.AddNode(context.Background(), node.NodeInfo{PoolID: nodetest.Pool, NodeID: "n1", Slots: 1}); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		a := nodetest.TaskAttempt("n1", fmt.Sprintf("t%d", i), commandLine)
		var wg sync.WaitGroup
		wg.Add(1)
		be.Start(context.Background(), a, func(r node.Result) {
			if wantZero && r.ExitCode != 0 {
				b.Errorf("exit %d: %+v", r.ExitCode, r.FailureInfo)
			}
			wg.Done()
		})
		wg.Wait()
	}
}
