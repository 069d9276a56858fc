package ssh

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/nodetest"
	"github.com/embatch/embatch/node/ssh/internal/sshtest"
	"github.com/embatch/embatch/task"
)

// Fast health settings for the tests: a silent host is lost within
// keepalive × (count+1) = 800ms.
var fastHealth = []Option{
	WithKeepalive(200*time.Millisecond, 3),
	WithDialTimeout(2 * time.Second),
	WithReconnectBackoff(50*time.Millisecond, 200*time.Millisecond),
}

// wantLostThenResult waits for the attempt on ch and checks the order the
// engine relies on: its node was reported lost before the result, which
// carries NodeLost. It returns when the node was reported lost.
func (f *fixture) wantLostThenResult(t *testing.T, ch <-chan node.Result) time.Time {
	t.Helper()
	r := nodetest.Wait(t, ch)
	var e nodeEventAt
	select {
	case e = <-f.events: // sent before done was called, if at all
	default:
		t.Fatalf("the attempt ended (%+v) before its node was reported lost", r.FailureInfo)
	}
	if e.NodeID != "tvm-1" || e.Health != node.NodeLost {
		t.Fatalf("event %+v, want tvm-1 lost", e)
	}
	t.Logf("node reported lost: %s", e.Reason)
	nodetest.WantFailure(t, r, task.OutcomeExited, task.FailureNodeLost)
	if r.FailureInfo.Category != task.ServerError {
		t.Errorf("failure category %s, want servererror", r.FailureInfo.Category)
	}
	return e.at
}

func TestHostThatStopsAnsweringIsLostAndComesBack(t *testing.T) {
	f := newFixture(t, nil, fastHealth...)
	srv := f.servers[0]
	ch, pids := nodetest.StartRunning(context.Background(), t, f.b, taskAttempt("long", `/bin/sh -c 'echo $$ > "$FIFO"; sleep 1000'`))

	// Freeze sshd: the TCP connection stays open but nothing answers, as
	// when a host hangs or the network drops packets.
	srv.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	thawed := false
	defer func() {
		if !thawed {
			srv.Signal(syscall.SIGCONT)
		}
	}()
	lost := f.wantLostThenResult(t, ch)
	t.Logf("silent host declared lost %v after it stopped answering (bound: 200ms × (3+1))", lost.Sub(stopped))

	// While it is lost, attempts on it end at once with NodeLost.
	nodetest.WantFailure(t, nodetest.RunAttempt(t, f.b, taskAttempt("meanwhile", "/bin/true")), task.OutcomeExited, task.FailureNodeLost)

	srv.Signal(syscall.SIGCONT)
	thawed = true
	f.wantEvent(t, "tvm-1", node.NodeBack, nodetest.Timeout)
	// The lost attempt's command does not outlive it: the frozen sshd
	// woke to a closed connection (the wrapper's watcher fires) and the
	// reconnection killed the recorded group.
	wantGone(t, pids...)
	nodetest.WantExit(t, nodetest.RunAttempt(t, f.b, taskAttempt("after", "/bin/echo back")), 0)
}

func TestHostWhoseSSHDDiesIsLostAndComesBack(t *testing.T) {
	f := newFixture(t, nil, fastHealth...)
	srv := f.servers[0]
	ch, pids := nodetest.StartRunning(context.Background(), t, f.b, taskAttempt("long", `/bin/sh -c 'sleep 1000 & echo $$ $! > "$FIFO"; wait'`))

	srv.Kill() // sshd and its per-connection processes, not the sessions' commands
	f.wantLostThenResult(t, ch)
	// Nothing killed the task's processes but the wrapper's watcher,
	// which saw the session's input end with sshd.
	wantGone(t, pids...)

	srv.Restart()
	f.wantEvent(t, "tvm-1", node.NodeBack, nodetest.Timeout)
	nodetest.WantExit(t, nodetest.RunAttempt(t, f.b, taskAttempt("after", "/bin/echo back")), 0)
}

func TestUnreachableHostFailsAddNodeThenComesBack(t *testing.T) {
	keys := sshtest.NewKeys(t)
	srv := sshtest.Start(t, keys, sshtest.Options{})
	srv.Kill()
	b, err := New(Config{Hosts: []string{srv.Host}, IdentityFile: keys.Identity, KnownHostsFile: keys.KnownHosts, Root: t.TempDir()},
		append([]Option{WithLogger(testLogger(t))}, fastHealth...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	events := make(chan node.NodeEvent, 10)
	b.WatchNodes(func(e node.NodeEvent) { events <- e })
	err = b.AddNode(context.Background(), node.NodeInfo{PoolID: testPool, NodeID: "tvm-1", Slots: 1})
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("AddNode with sshd down: %v, want a connection error", err)
	}
	srv.Restart()
	select {
	case e := <-events:
		if e.Health != node.NodeBack || e.NodeID != "tvm-1" {
			t.Fatalf("event %+v, want tvm-1 back", e)
		}
	case <-time.After(nodetest.Timeout):
		t.Fatal("the node was not reported back")
	}
	l := b.NodeLayout(testPool, "tvm-1")
	if _, err := os.Stat(l.StartupDir()); err != nil {
		t.Errorf("node directories not created on the way back: %v", err)
	}
}

// TestLeftoverGroupsAreKilled plays a backend that died while its attempts
// ran: a new backend on the same node root kills the groups recorded in
// the pgid files, but only when the group still carries the attempt's
// token, so a recycled pid is left alone.
func TestLeftoverGroupsAreKilled(t *testing.T) {
	f := newFixture(t, nil)
	l := f.b.NodeLayout(testPool, "tvm-1")
	ours := exec.Command("/usr/bin/setsid", "/bin/sleep", "1000")
	ours.Env = []string{"EMBATCH_ATTEMPT_TOKEN=deadbeef"}
	stranger := exec.Command("/usr/bin/setsid", "/bin/sleep", "1000")
	for _, c := range []*exec.Cmd{ours, stranger} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer c.Process.Kill()
	}
	// Reap them as they die, so that they do not linger as zombies of ours.
	oursDone := make(chan error, 1)
	go func() { oursDone <- ours.Wait() }()
	go stranger.Wait()
	dir := filepath.Join(l.Root, ".embatch")
	nodetest.WriteFile(t, filepath.Join(dir, "101.pgid"), fmt.Sprintf("%d deadbeef\n", ours.Process.Pid))
	nodetest.WriteFile(t, filepath.Join(dir, "102.pgid"), fmt.Sprintf("%d cafebabe\n", stranger.Process.Pid))
	nodetest.WriteFile(t, filepath.Join(dir, "103.pgid"), "garbage\n")

	b2, err := New(Config{Hosts: []string{f.servers[0].Host}, IdentityFile: f.keys.Identity, KnownHostsFile: f.keys.KnownHosts, Root: f.root}, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if err := b2.AddNode(context.Background(), node.NodeInfo{PoolID: testPool, NodeID: "tvm-1", Slots: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-oursDone:
	case <-time.After(nodetest.Timeout):
		t.Fatal("the leftover group was not killed")
	}
	if err := stranger.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("a process whose pid merely matched a pgid file was killed: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("pgid files left: %v", entries)
	}
}
