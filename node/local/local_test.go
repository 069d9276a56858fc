package local

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/nodetest"
	"github.com/embatch/embatch/task"
)

// testNodes are the ids of the conformance suite's nodes.
var testNodes = []string{"n1", "n2", "n3"}

func newBackend(t *testing.T, opts ...Option) *Backend {
	t.Helper()
	b, err := New(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func addNodes(t *testing.T, b *Backend, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := b.AddNode(context.Background(), node.NodeInfo{PoolID: nodetest.Pool, NodeID: id, Slots: 1, Dedicated: true}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConformance runs the process backends' shared behaviour tests
// (node/nodetest) against local processes. A local backend reaps an
// attempt's whole process group before reporting its result, so the suite
// checks for leftover processes at once.
func TestConformance(t *testing.T) {
	nodetest.Run(t, nodetest.Env{
		Start: func(t *testing.T, n int, o nodetest.Options) nodetest.Backend {
			b := newBackend(t, WithDeleteNodeFiles(o.DeleteNodeFiles))
			addNodes(t, b, testNodes[:n]...)
			return b
		},
		Nodes:  testNodes,
		Layout: func(b nodetest.Backend, nodeID string) node.Layout { return b.(*Backend).NodeLayout(nodeID) },
		// The i-th node added gets 127.0.0.(i+1).
		HostAddrs:   []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"},
		LinkRefusal: "path escapes",
	})
}

func TestLookPath(t *testing.T) {
	wd := t.TempDir()
	if err := os.MkdirAll(filepath.Join(wd, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(wd, "bin", "tool")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wd, "here"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
		wantErr          bool
	}{
		{"bin/tool", "", prog, false},
		{"tool", "/nonexistent:bin", prog, false},
		{"tool", "/nonexistent", "", true},
		{"here", "/usr/bin:/bin", "", true}, // wd is not searched
		{"here", "/usr/bin::/bin", filepath.Join(wd, "here"), false},
		{"sh", "/usr/bin:/bin", "", false},
	}
	for _, tt := range tests {
		got, err := lookPath(tt.name, wd, tt.path)
		if (err != nil) != tt.wantErr {
			t.Errorf("lookPath(%q, PATH=%q): err %v, want error %v", tt.name, tt.path, err, tt.wantErr)
			continue
		}
		if tt.want != "" && got != tt.want {
			t.Errorf("lookPath(%q, PATH=%q) = %q, want %q", tt.name, tt.path, got, tt.want)
		}
	}
}

func TestKillGrace(t *testing.T) {
	tests := []struct {
		name, taskID, line string
		grace              time.Duration
		exitCode           int
	}{
		{"task exits on SIGTERM", "polite", `/bin/sh -c 'trap "exit 7" TERM; sleep 1000 & echo $$ $! > "$FIFO"; wait'`, nodetest.Timeout, 7},
		{"task ignores SIGTERM", "stubborn", `/bin/sh -c 'trap "" TERM; echo $$ > "$FIFO"; while :; do :; done'`, 50 * time.Millisecond, 128 + int(syscall.SIGKILL)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, WithKillGrace(tt.grace))
			addNodes(t, b, "n1")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, pids := nodetest.StartRunning(ctx, t, b, nodetest.TaskAttempt("n1", tt.taskID, tt.line))
			cancel()
			r := nodetest.Wait(t, ch)
			nodetest.WantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
			if r.ExitCode != tt.exitCode {
				t.Errorf("ExitCode = %d, want %d", r.ExitCode, tt.exitCode)
			}
			nodetest.WantNoLiveProcesses(t, pids[0], pids[1:]...)
		})
	}
}
