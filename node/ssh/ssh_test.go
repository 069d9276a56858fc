package ssh

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/nodetest"
	"github.com/embatch/embatch/node/ssh/internal/sshtest"
	"github.com/embatch/embatch/task"
)

// testPool is the pool id of the tests' nodes.
const testPool = "pool"

// testLogger sends the backend's log to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// fixture is sshd's on loopback and a backend over them.
type fixture struct {
	keys    *sshtest.Keys
	servers []*sshtest.Server
	b       *Backend
	root    string
	events  chan nodeEventAt
}

// nodeEventAt is a node event and when the backend reported it.
type nodeEventAt struct {
	node.NodeEvent
	at time.Time
}

// newFixture starts one sshd per IP (127.0.0.1 when none) and a backend
// with a node on each, tvm-1, tvm-2, ...
func newFixture(t *testing.T, ips []string, opts ...Option) *fixture {
	t.Helper()
	if len(ips) == 0 {
		ips = []string{"127.0.0.1"}
	}
	f := &fixture{keys: sshtest.NewKeys(t), root: t.TempDir(), events: make(chan nodeEventAt, 100)}
	var hosts []string
	for _, ip := range ips {
		s := sshtest.Start(t, f.keys, sshtest.Options{IP: ip})
		f.servers = append(f.servers, s)
		hosts = append(hosts, s.Host)
	}
	opts = append([]Option{WithLogger(testLogger(t)), WithMaxSessions(32)}, opts...)
	b, err := New(Config{Hosts: hosts, IdentityFile: f.keys.Identity, KnownHostsFile: f.keys.KnownHosts, Root: f.root}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.WatchNodes(func(e node.NodeEvent) { f.events <- nodeEventAt{e, time.Now()} })
	f.b = b
	for i := range ips {
		if err := b.AddNode(context.Background(), node.NodeInfo{PoolID: testPool, NodeID: nodeID(i), Slots: 4, Dedicated: true}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func nodeID(i int) string { return "tvm-" + strconv.Itoa(i+1) }

// sshNodes are the ids of the conformance suite's nodes: the engine numbers
// a pool's nodes tvm-1, tvm-2, ... and tvm-N goes to the N-th host.
var sshNodes = []string{"tvm-1", "tvm-2", "tvm-3"}

// multiIPs are the loopback addresses of the three sshd's of the
// multi-node tests: Linux routes all of 127/8 to the loopback interface,
// so each "host" gets its own address on this machine.
var multiIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}

// TestConformance runs the process backends' shared behaviour tests
// (node/nodetest) against SSH hosts: one sshd on 127.0.0.1 for one node,
// one per address of multiIPs for more. Every test skips without sshd
// (fails under EMBATCH_REQUIRE_SSHD=1).
func TestConformance(t *testing.T) {
	nodetest.Run(t, nodetest.Env{
		Start: func(t *testing.T, n int, o nodetest.Options) nodetest.Backend {
			var ips []string
			if n > 1 {
				ips = multiIPs[:n]
			}
			var opts []Option
			if o.DeleteNodeFiles {
				opts = append(opts, WithDeleteNodeFiles(true))
			}
			return newFixture(t, ips, opts...).b
		},
		Nodes:       sshNodes,
		Layout:      func(b nodetest.Backend, id string) node.Layout { return b.(*Backend).NodeLayout(testPool, id) },
		HostAddrs:   multiIPs,
		LinkRefusal: "is a symbolic link",
		CheckEnv:    checkSSHEnv,
		// The host's processes die after the session ends: wait for them.
		WantGone: func(t *testing.T, pgid int, pids ...int) { wantGone(t, append([]int{pgid}, pids...)...) },
	})
}

// checkSSHEnv checks what the ssh backend adds to a command's environment
// on node id: the command ran through that node's host's sshd, under
// <root>/<pool>/<node>, with the token that marks its process group.
func checkSSHEnv(t *testing.T, nb nodetest.Backend, id string, env map[string]string) {
	t.Helper()
	b := nb.(*Backend)
	if want := filepath.Join(b.Root(), testPool, id); env["AZ_BATCH_NODE_ROOT_DIR"] != want {
		t.Errorf("node %s: root %q, want <root>/<pool>/<node> = %s", id, env["AZ_BATCH_NODE_ROOT_DIR"], want)
	}
	if env["EMBATCH_ATTEMPT_TOKEN"] == "" {
		t.Errorf("node %s: EMBATCH_ATTEMPT_TOKEN is not set", id)
	}
	i := slices.Index(sshNodes, id)
	if hosts := b.Hosts(); i < 0 || i >= len(hosts) {
		t.Errorf("node %s: not one of the %d hosts %v", id, len(hosts), hosts)
	} else if conn := env["SSH_CONNECTION"]; !strings.Contains(conn, " "+hosts[i].Name+" ") {
		t.Errorf("node %s: SSH_CONNECTION %q, want the host %s", id, conn, hosts[i].Name)
	}
}

// taskAttempt is a plain task attempt on tvm-1.
func taskAttempt(taskID, commandLine string) *node.Attempt {
	return nodetest.TaskAttempt("tvm-1", taskID, commandLine)
}

// wantGone checks that the processes have exited, waiting for their exit
// (SIGKILL is delivered asynchronously) for at most a few seconds.
func wantGone(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if !sshtest.WaitGone(pid, 10*time.Second) {
			stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			t.Errorf("process %d left behind on the host: %s", pid, stat)
		}
	}
}

// wantEvent waits for the next node event and checks it.
func (f *fixture) wantEvent(t *testing.T, nodeID string, h node.NodeHealth, within time.Duration) node.NodeEvent {
	t.Helper()
	select {
	case e := <-f.events:
		if e.NodeID != nodeID || e.Health != h {
			t.Fatalf("event %+v, want health %d for %s", e, h, nodeID)
		}
		return e.NodeEvent
	case <-time.After(within):
		t.Fatalf("no event for %s within %s", nodeID, within)
		return node.NodeEvent{}
	}
}

// TestEnvironmentNameRefused: names a shell cannot export are refused
// before anything runs.
func TestEnvironmentNameRefused(t *testing.T) {
	f := newFixture(t, nil)
	a := taskAttempt("badenv", "/bin/true")
	a.Env = []task.EnvironmentSetting{{Name: "A-B", Value: "1"}}
	nodetest.WantFailure(t, nodetest.RunAttempt(t, f.b, a), task.OutcomePreProcessingError, FailureEnvironmentName)
}

// TestPgidFileRecordsTheGroup: while an attempt runs, its process group
// and token are recorded on the host (for killing leftovers after a
// crash), and the record goes with the attempt.
func TestPgidFileRecordsTheGroup(t *testing.T) {
	f := newFixture(t, nil)
	a := taskAttempt("forky", `/bin/sh -c 'sleep 1000 & echo $$ $! > "$FIFO"; sleep 1000'`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, pids := nodetest.StartRunning(ctx, t, f.b, a) // the shell (group leader) and its background child
	l := f.b.NodeLayout(testPool, "tvm-1")
	pgid := nodetest.ReadFile(t, pgidFile(l.Root, a.ID))
	if !strings.HasPrefix(pgid, strconv.Itoa(pids[0])+" ") {
		t.Errorf("pgid file %q, want the shell's pid %d first", pgid, pids[0])
	}
	cancel()
	nodetest.WantFailure(t, nodetest.Wait(t, ch), task.OutcomeExited, task.FailureTaskTerminated)
	wantGone(t, pids...)
	if _, err := os.Stat(pgidFile(l.Root, a.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pgid file left behind: %v", err)
	}
}

func TestAddNodeBeyondHostsAndRemove(t *testing.T) {
	f := newFixture(t, nil)
	err := f.b.AddNode(context.Background(), node.NodeInfo{PoolID: testPool, NodeID: "tvm-2", Slots: 1})
	if err == nil || !strings.Contains(err.Error(), "hosts") {
		t.Fatalf("AddNode beyond the host list: %v, want an error about the hosts", err)
	}
	if err := f.b.RemoveNode(context.Background(), "tvm-1"); err != nil {
		t.Fatal(err)
	}
	if err := f.b.RemoveNode(context.Background(), "tvm-1"); err == nil {
		t.Error("removing a removed node succeeded")
	}
	// The freed host takes the next node; the old node's files stay
	// readable.
	if err := f.b.AddNode(context.Background(), node.NodeInfo{PoolID: testPool, NodeID: "tvm-2", Slots: 1}); err != nil {
		t.Fatal(err)
	}
	if h, ok := f.b.HostOf("tvm-2"); !ok || h.Addr() != f.servers[0].Addr {
		t.Errorf("tvm-2 on %v %v, want %s", h, ok, f.servers[0].Addr)
	}
	a := taskAttempt("t", "/bin/true")
	r := nodetest.RunAttempt(t, f.b, a)
	if r.FailureInfo == nil || r.FailureInfo.Code != "NodeStateUnusable" {
		t.Errorf("attempt on a removed node: %+v, want NodeStateUnusable", r)
	}
}

func TestSlotsOfHost(t *testing.T) {
	keys := sshtest.NewKeys(t)
	s := sshtest.Start(t, keys, sshtest.Options{})
	b, err := New(Config{Hosts: []string{s.Host + "/2"}, IdentityFile: keys.Identity, KnownHostsFile: keys.KnownHosts, Root: t.TempDir()}, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.AddNode(context.Background(), node.NodeInfo{PoolID: testPool, NodeID: "tvm-1", Slots: 4})
	if err == nil || !strings.Contains(err.Error(), "offers 2 slots") {
		t.Fatalf("AddNode with more slots than the host offers: %v", err)
	}
	if err := b.AddNode(context.Background(), node.NodeInfo{PoolID: testPool, NodeID: "tvm-2", Slots: 2}); err != nil {
		t.Fatal(err)
	}
}

func TestHostKeys(t *testing.T) {
	keys := sshtest.NewKeys(t)
	s := sshtest.Start(t, keys, sshtest.Options{})
	cfg := Config{Hosts: []string{s.Host}, IdentityFile: keys.Identity, Root: t.TempDir()}

	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "knownHostsFile") {
		t.Errorf("New without knownHostsFile: %v, want a missing knownHostsFile error", err)
	}

	// A host missing from known_hosts is refused before connecting.
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	cfg.KnownHostsFile = empty
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "ssh-keyscan") {
		t.Errorf("New with an unknown host: %v, want advice to add the key", err)
	}

	// A host whose key changed is refused when connecting.
	other := sshtest.NewKeys(t)
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(wrong, []byte(knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, other.HostPublic)+"\n"), 0o600)
	cfg.KnownHostsFile = wrong
	b, err := New(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.AddNode(context.Background(), node.NodeInfo{PoolID: testPool, NodeID: "tvm-1", Slots: 1})
	if err == nil || !strings.Contains(err.Error(), "key mismatch") {
		t.Errorf("AddNode with a changed host key: %v, want a key mismatch", err)
	}

	// Insecure mode connects, and says so loudly.
	var logged strings.Builder
	cfg.KnownHostsFile = ""
	cfg.InsecureIgnoreHostKey = true
	b2, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(&lockedWriter{w: &logged}, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if !strings.Contains(logged.String(), "HOST KEY CHECKING IS OFF") {
		t.Errorf("insecure mode logged %q, want a loud warning", logged.String())
	}
	if err := b2.AddNode(context.Background(), node.NodeInfo{PoolID: testPool, NodeID: "tvm-1", Slots: 1}); err != nil {
		t.Fatal(err)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestManyConcurrentAttempts(t *testing.T) {
	f := newFixture(t, nil, WithMaxSessions(4))
	var chans []<-chan node.Result
	for i := range 12 {
		chans = append(chans, nodetest.StartAttempt(context.Background(), f.b, taskAttempt("c"+strconv.Itoa(i), "/bin/echo "+strconv.Itoa(i))))
	}
	for i, ch := range chans {
		r := nodetest.Wait(t, ch)
		nodetest.WantExit(t, r, 0)
		if got := nodetest.ReadFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt")); got != strconv.Itoa(i)+"\n" {
			t.Errorf("task %d stdout %q", i, got)
		}
	}
}

// TestPlacementFollowsNodeNumbers: the engine's node tvm-N goes to the
// N-th host whatever order the nodes are added in.
func TestPlacementFollowsNodeNumbers(t *testing.T) {
	keys := sshtest.NewKeys(t)
	var hosts []string
	for _, ip := range multiIPs {
		hosts = append(hosts, sshtest.Start(t, keys, sshtest.Options{IP: ip}).Host)
	}
	b, err := New(Config{Hosts: hosts, IdentityFile: keys.Identity, KnownHostsFile: keys.KnownHosts, Root: t.TempDir()}, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, id := range []string{"tvm-3", "tvm-1", "tvm-2"} {
		if err := b.AddNode(context.Background(), node.NodeInfo{PoolID: testPool, NodeID: id, Slots: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range []string{"tvm-1", "tvm-2", "tvm-3"} {
		if h, ok := b.HostOf(id); !ok || h.Name != multiIPs[i] {
			t.Errorf("%s on %v, want %s", id, h, multiIPs[i])
		}
	}
}

// TestWrapperFailure: when the remote wrapper cannot set a command up (here
// stdout.txt is a directory), the attempt fails with the host's reason and
// the node is not taken for lost.
func TestWrapperFailure(t *testing.T) {
	f := newFixture(t, nil)
	a := taskAttempt("nostdout", "/bin/true")
	taskDir := f.b.NodeLayout(testPool, "tvm-1").TaskDir("job", "nostdout")
	if err := os.MkdirAll(filepath.Join(taskDir, "stdout.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := nodetest.RunAttempt(t, f.b, a)
	nodetest.WantFailure(t, r, task.OutcomePreProcessingError, "NodeStateUnusable")
	if !strings.Contains(r.FailureInfo.Message, "stdout.txt") {
		t.Errorf("message %q should name stdout.txt", r.FailureInfo.Message)
	}
	select {
	case e := <-f.events:
		t.Errorf("node event %+v after a wrapper failure", e)
	default:
	}
	nodetest.WantExit(t, nodetest.RunAttempt(t, f.b, taskAttempt("fine", "/bin/true")), 0)
}
