package ssh

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/ssh/internal/sshtest"
	"github.com/embatch/embatch/task"
)

// testTimeout bounds every wait in these tests; nothing should come close.
const testTimeout = 60 * time.Second

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

// taskAttempt is a plain task attempt on tvm-1.
func taskAttempt(taskID, commandLine string) *node.Attempt {
	return &node.Attempt{ID: nextID(), Kind: node.KindTask, PoolID: testPool, JobID: "job", TaskID: taskID,
		NodeID: "tvm-1", Dedicated: true, CommandLine: commandLine}
}

var (
	idMu   sync.Mutex
	lastID uint64
)

func nextID() uint64 {
	idMu.Lock()
	defer idMu.Unlock()
	lastID++
	return lastID
}

// start starts a and returns the channel its result arrives on.
func start(ctx context.Context, b *Backend, a *node.Attempt) <-chan node.Result {
	ch := make(chan node.Result, 1)
	var once sync.Once
	b.Start(ctx, a, func(r node.Result) {
		called := false
		once.Do(func() { called = true; ch <- r })
		if !called {
			panic("done called twice")
		}
	})
	return ch
}

// wait returns the result from ch, failing the test after testTimeout.
func wait(t *testing.T, ch <-chan node.Result) node.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(testTimeout):
		t.Fatal("attempt did not finish")
		return node.Result{}
	}
}

// run runs a to completion.
func run(t *testing.T, b *Backend, a *node.Attempt) node.Result {
	t.Helper()
	return wait(t, start(context.Background(), b, a))
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// parseEnv parses `env` output.
func parseEnv(out string) map[string]string {
	m := make(map[string]string)
	for line := range strings.SplitSeq(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func wantExit(t *testing.T, r node.Result, code int) {
	t.Helper()
	if r.Kind != task.OutcomeExited || r.ExitCode != code {
		t.Fatalf("result kind %v exit %d failure %+v, want exited with %d", r.Kind, r.ExitCode, r.FailureInfo, code)
	}
}

func wantFailure(t *testing.T, r node.Result, kind task.OutcomeKind, code string) {
	t.Helper()
	if r.Kind != kind || r.FailureInfo == nil || r.FailureInfo.Code != code {
		t.Fatalf("result kind %v exit %d failure %+v, want kind %v code %s", r.Kind, r.ExitCode, r.FailureInfo, kind, code)
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

func TestEnvironmentAndDirectories(t *testing.T) {
	f := newFixture(t, nil)
	a := taskAttempt("t1", `/bin/sh -c 'env; echo "PWD=$(pwd)"'`)
	a.JobHasPreparation = true
	a.Env = []task.EnvironmentSetting{
		{Name: "GREETING", Value: "hello 'world' $HOME"},
		{Name: "AZ_BATCH_TASK_ID", Value: "spoofed"},
	}
	r := run(t, f.b, a)
	wantExit(t, r, 0)
	l := f.b.NodeLayout(testPool, "tvm-1")
	taskDir := l.TaskDir("job", "t1")
	if r.TaskRootDirectory != taskDir {
		t.Errorf("TaskRootDirectory = %s, want %s", r.TaskRootDirectory, taskDir)
	}
	if want := filepath.Join(f.root, testPool, "tvm-1"); l.Root != want {
		t.Errorf("node root = %s, want <root>/<pool>/<node> = %s", l.Root, want)
	}
	env := parseEnv(readFile(t, filepath.Join(taskDir, "stdout.txt")))
	want := map[string]string{
		"GREETING":                  "hello 'world' $HOME",
		"AZ_BATCH_TASK_ID":          "t1",
		"AZ_BATCH_JOB_ID":           "job",
		"AZ_BATCH_NODE_ID":          "tvm-1",
		"AZ_BATCH_POOL_ID":          testPool,
		"AZ_BATCH_NODE_ROOT_DIR":    l.Root,
		"AZ_BATCH_NODE_SHARED_DIR":  l.SharedDir(),
		"AZ_BATCH_NODE_STARTUP_DIR": l.StartupDir(),
		"AZ_BATCH_TASK_DIR":         taskDir,
		"AZ_BATCH_TASK_WORKING_DIR": node.WorkingDir(taskDir),
		"AZ_BATCH_JOB_PREP_DIR":     l.JobPreparationDir("job"),
		"PWD":                       node.WorkingDir(taskDir),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if env["EMBATCH_ATTEMPT_TOKEN"] == "" {
		t.Error("EMBATCH_ATTEMPT_TOKEN is not set")
	}
	for _, dir := range []string{l.SharedDir(), l.StartupDir(), l.WorkItemsDir()} {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("node directory %s: %v", dir, err)
		}
	}
}

func TestNoShellAndExactWords(t *testing.T) {
	f := newFixture(t, nil)
	r := run(t, f.b, taskAttempt("words", `/usr/bin/printf '[%s]\n' "$HOME" 'a b' "it's" '*' ';' 'x=y'`))
	wantExit(t, r, 0)
	got := readFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt"))
	if want := "[$HOME]\n[a b]\n[it's]\n[*]\n[;]\n[x=y]\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	r = run(t, f.b, taskAttempt("stderr", `/bin/sh -c 'echo out; echo err >&2'`))
	wantExit(t, r, 0)
	if got := readFile(t, filepath.Join(r.TaskRootDirectory, "stderr.txt")); got != "err\n" {
		t.Errorf("stderr.txt = %q", got)
	}
}

func TestExitCodesAndSignals(t *testing.T) {
	f := newFixture(t, nil)
	wantExit(t, run(t, f.b, taskAttempt("three", `/bin/sh -c 'exit 3'`)), 3)
	r := run(t, f.b, taskAttempt("sig", `/bin/sh -c 'kill -TERM $$'`))
	wantFailure(t, r, task.OutcomeExited, task.FailureSignaled)
	if r.ExitCode != 128+int(syscall.SIGTERM) || !strings.Contains(r.FailureInfo.Message, "SIGTERM") {
		t.Errorf("result %d %+v, want 143 and SIGTERM", r.ExitCode, r.FailureInfo)
	}
}

func TestCommandNotFound(t *testing.T) {
	f := newFixture(t, nil)
	notExec := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(notExec, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line string
		env  []task.EnvironmentSetting
		want string
	}{
		{"no-such-program-embatch", nil, "not found in PATH"},
		{"ls", []task.EnvironmentSetting{{Name: "PATH", Value: "/nonexistent"}}, `PATH "/nonexistent"`},
		{"./missing.sh", nil, "does not exist"},
		{"/etc", nil, "is a directory"},
		{notExec, nil, "is not executable"},
		{"'unterminated", nil, "unterminated"},
	}
	for i, tt := range tests {
		a := taskAttempt("nf"+strconv.Itoa(i), tt.line)
		a.Env = tt.env
		r := run(t, f.b, a)
		wantFailure(t, r, task.OutcomePreProcessingError, task.FailureCommandNotFound)
		if r.ExitCode != -1 || !strings.Contains(r.FailureInfo.Message, tt.want) {
			t.Errorf("%s: exit %d message %q, want -1 and %q", tt.line, r.ExitCode, r.FailureInfo.Message, tt.want)
		}
	}
	// The task's PATH is searched, relative entries against the working
	// directory.
	a := taskAttempt("relpath", "hello.sh")
	a.Env = []task.EnvironmentSetting{{Name: "PATH", Value: "bin:/usr/bin:/bin"}}
	a.ResourceFiles = []task.ResourceFile{{HTTPURL: "file://" + writeScript(t, "#!/bin/sh\necho hi from $0\n"), FilePath: "bin/hello.sh", FileMode: "0755"}}
	r := run(t, f.b, a)
	wantExit(t, r, 0)
	if got := readFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt")); !strings.HasPrefix(got, "hi from") {
		t.Errorf("stdout = %q", got)
	}
	// Names a shell cannot export are refused before anything runs.
	a = taskAttempt("badenv", "/bin/true")
	a.Env = []task.EnvironmentSetting{{Name: "A-B", Value: "1"}}
	wantFailure(t, run(t, f.b, a), task.OutcomePreProcessingError, FailureEnvironmentName)
}

func writeScript(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAttemptKindsRunInTheirDirectories(t *testing.T) {
	f := newFixture(t, nil)
	l := f.b.NodeLayout(testPool, "tvm-1")
	tests := []struct {
		kind node.Kind
		job  string
		dir  string
	}{
		{node.KindStartTask, "", l.StartupDir()},
		{node.KindJobPreparation, "job", l.JobPreparationDir("job")},
		{node.KindJobRelease, "job", l.JobReleaseDir("job")},
	}
	for _, tt := range tests {
		a := &node.Attempt{ID: nextID(), Kind: tt.kind, PoolID: testPool, JobID: tt.job, TaskID: "prep", NodeID: "tvm-1",
			CommandLine: `/bin/sh -c 'pwd; echo "$AZ_BATCH_TASK_DIR"'`}
		r := run(t, f.b, a)
		wantExit(t, r, 0)
		if r.TaskRootDirectory != tt.dir {
			t.Errorf("%v: TaskRootDirectory %s, want %s", tt.kind, r.TaskRootDirectory, tt.dir)
		}
		if got, want := readFile(t, filepath.Join(tt.dir, "stdout.txt")), node.WorkingDir(tt.dir)+"\n"+tt.dir+"\n"; got != want {
			t.Errorf("%v: stdout %q, want %q", tt.kind, got, want)
		}
	}
}

// fifo makes a named pipe in a fresh directory.
func fifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o666); err != nil {
		t.Fatal(err)
	}
	return p
}

// readPIDs reads one line of space-separated pids from the fifo, which the
// task writes once it is running (the sshd is on this machine). It fails
// the test if the attempt ends (on ch; nil when the task may end right
// after writing) or testTimeout passes first.
func readPIDs(t *testing.T, p string, ch <-chan node.Result) []int {
	t.Helper()
	type read struct {
		line string
		err  error
	}
	lines := make(chan read, 1)
	go func() {
		f, err := os.Open(p) // blocks until the task opens the fifo to write
		if err != nil {
			lines <- read{err: err}
			return
		}
		defer f.Close()
		line, err := bufio.NewReader(f).ReadString('\n')
		lines <- read{line, err}
	}()
	var line string
	select {
	case l := <-lines:
		if l.err != nil {
			t.Fatalf("reading pids: %v", l.err)
		}
		line = l.line
	case r := <-ch:
		t.Fatalf("attempt ended before writing its pids: %+v", r)
	case <-time.After(testTimeout):
		t.Fatal("the task did not write its pids")
	}
	var pids []int
	for _, w := range strings.Fields(line) {
		n, err := strconv.Atoi(w)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, n)
	}
	return pids
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

func TestTerminateKillsRemoteProcessGroup(t *testing.T) {
	f := newFixture(t, nil)
	fi := fifo(t)
	a := taskAttempt("forky", `/bin/sh -c 'sleep 1000 & echo $$ $! > "$FIFO"; sleep 1000'`)
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: fi}}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ch := start(ctx, f.b, a)
	pids := readPIDs(t, fi, ch) // the shell (group leader) and its background child
	l := f.b.NodeLayout(testPool, "tvm-1")
	pgid := readFile(t, pgidFile(l.Root, a.ID))
	if !strings.HasPrefix(pgid, strconv.Itoa(pids[0])+" ") {
		t.Errorf("pgid file %q, want the shell's pid %d first", pgid, pids[0])
	}
	cancel(errors.New("maxWallClockTime exceeded"))
	r := wait(t, ch)
	wantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
	if r.ExitCode != 128+int(syscall.SIGKILL) {
		t.Errorf("ExitCode = %d, want %d", r.ExitCode, 128+int(syscall.SIGKILL))
	}
	if !strings.Contains(r.FailureInfo.Message, "maxWallClockTime exceeded") || !strings.Contains(r.FailureInfo.Message, "SIGKILL") {
		t.Errorf("message %q should give the cause and the signal", r.FailureInfo.Message)
	}
	wantGone(t, pids...)
	if _, err := os.Stat(pgidFile(l.Root, a.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pgid file left behind: %v", err)
	}
}

func TestBackgroundChildrenDieWithTheirTask(t *testing.T) {
	f := newFixture(t, nil)
	fi := fifo(t)
	a := taskAttempt("bg", `/bin/sh -c 'sleep 1000 & echo $$ $! > "$FIFO"'`)
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: fi}}
	ch := start(context.Background(), f.b, a)
	// The task exits as soon as its pids are written, so its end may be
	// reported before the pids are read: read them without watching ch.
	pids := readPIDs(t, fi, nil)
	wantExit(t, wait(t, ch), 0)
	wantGone(t, pids...)
}

func TestCloseKillsRunningAttempts(t *testing.T) {
	f := newFixture(t, nil)
	fi := fifo(t)
	a := taskAttempt("closing", `/bin/sh -c 'echo $$ > "$FIFO"; sleep 1000'`)
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: fi}}
	ch := start(context.Background(), f.b, a)
	pids := readPIDs(t, fi, ch)
	f.b.Close()
	r := wait(t, ch)
	wantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
	wantGone(t, pids...)
	r = run(t, f.b, taskAttempt("after", "/bin/true"))
	if r.FailureInfo == nil || !strings.Contains(r.FailureInfo.Message, "closed") {
		t.Errorf("attempt after Close: %+v, want a closed error", r)
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
	r := run(t, f.b, a)
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
		chans = append(chans, start(context.Background(), f.b, taskAttempt("c"+strconv.Itoa(i), "/bin/echo "+strconv.Itoa(i))))
	}
	for i, ch := range chans {
		r := wait(t, ch)
		wantExit(t, r, 0)
		if got := readFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt")); got != strconv.Itoa(i)+"\n" {
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
	r := run(t, f.b, a)
	wantFailure(t, r, task.OutcomePreProcessingError, "NodeStateUnusable")
	if !strings.Contains(r.FailureInfo.Message, "stdout.txt") {
		t.Errorf("message %q should name stdout.txt", r.FailureInfo.Message)
	}
	select {
	case e := <-f.events:
		t.Errorf("node event %+v after a wrapper failure", e)
	default:
	}
	wantExit(t, run(t, f.b, taskAttempt("fine", "/bin/true")), 0)
}

func TestDeleteNodeFiles(t *testing.T) {
	f := newFixture(t, nil, WithDeleteNodeFiles(true))
	wantExit(t, run(t, f.b, taskAttempt("t", "/bin/true")), 0)
	root := f.b.NodeLayout(testPool, "tvm-1").Root
	if err := f.b.RemoveNode(context.Background(), "tvm-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("node root after RemoveNode with WithDeleteNodeFiles: %v, want it gone", err)
	}
	if err := f.b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
