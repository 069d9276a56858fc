// Package nodetest is the conformance suite of the process backends
// (node/local and node/ssh) and the helpers their tests share: every
// behaviour both backends promise is written once, in Run, and each
// backend's tests run it against their own backend through an Env.
//
// It is a test helper: only _test.go files import it.
package nodetest

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// Timeout bounds every wait in the tests; nothing should come close.
const Timeout = 60 * time.Second

// Pool is the pool id of the tests' nodes.
const Pool = "pool"

// codeFileNotFound is Azure's error code for a task file that does not
// exist; both backends use it.
const codeFileNotFound = "FileNotFound"

// Backend is what the suite tests: a node.Backend with the optional
// capabilities every process backend has.
type Backend interface {
	node.Backend
	node.FileReader
	node.TaskDirRemover
	node.Closer
}

// Options are the backend settings a suite test asks Env.Start for.
type Options struct {
	// DeleteNodeFiles is the backend's WithDeleteNodeFiles(true).
	DeleteNodeFiles bool
}

// Env is one backend under test.
type Env struct {
	// Start returns a new backend with nodes Nodes[:n] up in pool Pool; it
	// is closed when t ends. Start may skip t when the backend cannot run
	// here.
	Start func(t *testing.T, n int, o Options) Backend
	// Nodes are the ids of the nodes Start brings up, in order; at least
	// three (the multi-instance tests use three). Single-node attempts run
	// on the first.
	Nodes []string
	// Layout is node nodeID's directory layout on b.
	Layout func(b Backend, nodeID string) node.Layout
	// HostAddrs are the addresses the first three nodes have in
	// AZ_BATCH_HOST_LIST, in order.
	HostAddrs []string
	// LinkRefusal is what the backend's message says when a resource
	// file's path goes through a symbolic link out of the working directory
	// (a local backend's os.Root says the path escapes; an ssh backend
	// names the link).
	LinkRefusal string
	// CheckEnv, when not nil, checks the backend's own variables in the
	// environment of a command that ran on node nodeID of b (the suite
	// checks the AZ_BATCH_* ones).
	CheckEnv func(t *testing.T, b Backend, nodeID string, env map[string]string)
	// WantGone checks that an ended attempt left no process behind: pgid is
	// its process group (the shell's pid), pids are further processes it
	// started. Nil means WantNoLiveProcesses: they must be gone already
	// when the result is reported.
	WantGone func(t *testing.T, pgid int, pids ...int)
}

// Run runs every conformance test against env's backend, each as a subtest
// named after the behaviour.
func Run(t *testing.T, env Env) {
	if len(env.Nodes) < 3 || len(env.HostAddrs) < 3 {
		t.Fatalf("nodetest.Env needs three nodes and their host addresses, have %q and %q", env.Nodes, env.HostAddrs)
	}
	tests := []struct {
		name string
		test func(*testing.T, Env)
	}{
		{"EnvironmentAndDirectories", testEnvironmentAndDirectories},
		{"AttemptKindsRunInTheirDirectories", testAttemptKindsRunInTheirDirectories},
		{"NoShellAndExactWords", testNoShellAndExactWords},
		{"ExitCodes", testExitCodes},
		{"KilledBySignal", testKilledBySignal},
		{"CommandNotFound", testCommandNotFound},
		{"LargeOutputDoesNotBlock", testLargeOutputDoesNotBlock},
		{"TerminateKillsProcessGroup", testTerminateKillsProcessGroup},
		{"BackgroundChildrenDieWithTheirTask", testBackgroundChildrenDieWithTheirTask},
		{"CloseKillsRunningAttempts", testCloseKillsRunningAttempts},
		{"UnknownNodeAndBadIDs", testUnknownNodeAndBadIDs},
		{"RemoveNode", testRemoveNode},
		{"ResourceFiles", testResourceFiles},
		{"ResourceFileFailures", testResourceFileFailures},
		{"OutputFiles", testOutputFiles},
		{"OutputFileUploadError", testOutputFileUploadError},
		{"OutputFilesAfterTerminate", testOutputFilesAfterTerminate},
		{"TaskFiles", testTaskFiles},
		{"StartTaskFiles", testStartTaskFiles},
		{"TerminateDuringDownload", testTerminateDuringDownload},
		{"MultiInstance", testMultiInstance},
		{"MultiInstanceFailureKillsTheRest", testMultiInstanceFailureKillsTheRest},
		{"MultiInstanceCommandNotFound", testMultiInstanceCommandNotFound},
		{"MultiInstanceWithTerminate", testMultiInstanceWithTerminate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.test(t, env) })
	}
}

// start is Start with one node and default options.
func (e Env) start(t *testing.T) Backend {
	t.Helper()
	return e.Start(t, 1, Options{})
}

// checkEnv runs e.CheckEnv, if any.
func (e Env) checkEnv(t *testing.T, b Backend, nodeID string, env map[string]string) {
	t.Helper()
	if e.CheckEnv != nil {
		e.CheckEnv(t, b, nodeID, env)
	}
}

// wantGone runs e.WantGone, or WantNoLiveProcesses.
func (e Env) wantGone(t *testing.T, pgid int, pids ...int) {
	t.Helper()
	if e.WantGone != nil {
		e.WantGone(t, pgid, pids...)
		return
	}
	WantNoLiveProcesses(t, pgid, pids...)
}

var lastID atomic.Uint64

// NextID is a new attempt id, unique in the test binary (the ssh backend
// names its pgid files after attempt ids).
func NextID() uint64 { return lastID.Add(1) }

// TaskAttempt is a plain task attempt of job "job" on node nodeID.
func TaskAttempt(nodeID, taskID, commandLine string) *node.Attempt {
	return &node.Attempt{ID: NextID(), Kind: node.KindTask, PoolID: Pool, JobID: "job", TaskID: taskID,
		NodeID: nodeID, Dedicated: true, CommandLine: commandLine}
}

// Attempt is a plain task attempt on the env's first node.
func (e Env) Attempt(taskID, commandLine string) *node.Attempt {
	return TaskAttempt(e.Nodes[0], taskID, commandLine)
}

// MultiAttempt is a multi-instance task attempt on the env's first three
// nodes, the first the primary.
func (e Env) MultiAttempt(taskID, coordination, main string) *node.Attempt {
	a := e.Attempt(taskID, main)
	a.Nodes = e.Nodes[:3]
	a.CoordinationCommandLine = coordination
	return a
}

// StartAttempt starts a on b and returns the channel its result arrives
// on. It panics if the backend calls done twice.
func StartAttempt(ctx context.Context, b node.Backend, a *node.Attempt) <-chan node.Result {
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

// Wait returns the result from ch, failing the test after Timeout.
func Wait(t *testing.T, ch <-chan node.Result) node.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(Timeout):
		t.Fatal("attempt did not finish")
		return node.Result{}
	}
}

// RunAttempt runs a on b to completion.
func RunAttempt(t *testing.T, b node.Backend, a *node.Attempt) node.Result {
	t.Helper()
	return Wait(t, StartAttempt(context.Background(), b, a))
}

// WantExit fails the test unless r is a plain exit with code.
func WantExit(t *testing.T, r node.Result, code int) {
	t.Helper()
	if r.Kind != task.OutcomeExited || r.ExitCode != code {
		t.Fatalf("result kind %v exit %d failure %+v, want exited with %d", r.Kind, r.ExitCode, r.FailureInfo, code)
	}
}

// WantFailure fails the test unless r is of kind with a failure of code.
func WantFailure(t *testing.T, r node.Result, kind task.OutcomeKind, code string) {
	t.Helper()
	if r.Kind != kind || r.FailureInfo == nil || r.FailureInfo.Code != code {
		t.Fatalf("result kind %v exit %d failure %+v, want kind %v code %s", r.Kind, r.ExitCode, r.FailureInfo, kind, code)
	}
}

// ReadFile is the content of file p.
func ReadFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// WriteFile writes content to p (mode 0644), creating its directory.
func WriteFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ParseEnv parses `env` output.
func ParseEnv(out string) map[string]string {
	m := make(map[string]string)
	for line := range strings.SplitSeq(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// ListDir lists the files under dir as '/'-separated relative paths.
func ListDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// FileNames are the names of files.
func FileNames(files []node.FileInfo) []string {
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	return names
}

// Fifo makes a named pipe in a fresh directory, for a task to write to.
func Fifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o666); err != nil {
		t.Fatal(err)
	}
	return p
}

// ReadPIDs reads one line of space-separated pids from the fifo, which the
// task writes once it is running (the tests' nodes are on this machine).
// It fails the test if the attempt ends (on ch; nil when the task may end
// right after writing) or Timeout passes first.
func ReadPIDs(t *testing.T, p string, ch <-chan node.Result) []int {
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
	case <-time.After(Timeout):
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

// StartRunning starts a on b with the path of a new fifo in $FIFO (added to
// a.Env), and returns once the command has written its pids there (see
// ReadPIDs): the channel the result arrives on, and the pids.
func StartRunning(ctx context.Context, t *testing.T, b node.Backend, a *node.Attempt) (<-chan node.Result, []int) {
	t.Helper()
	f := Fifo(t)
	a.Env = append(a.Env, task.EnvironmentSetting{Name: "FIFO", Value: f})
	ch := StartAttempt(ctx, b, a)
	return ch, ReadPIDs(t, f, ch)
}

// LiveProcesses lists the processes of process group pgid, and processes
// extra, that are still alive, as their /proc stat lines. Zombies (state
// Z, waiting for init to reap them) have released everything but their pid
// and do not count.
func LiveProcesses(t *testing.T, pgid int, extra ...int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp ...", where comm may hold spaces
		// and parentheses.
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if pgrp, _ := strconv.Atoi(f[2]); pgrp == pgid || slices.Contains(extra, pid) {
			live = append(live, strings.TrimSpace(s))
		}
	}
	return live
}

// WantNoLiveProcesses fails the test if process group pgid or any of pids
// still has a live process.
func WantNoLiveProcesses(t *testing.T, pgid int, pids ...int) {
	t.Helper()
	if live := LiveProcesses(t, pgid, pids...); len(live) > 0 {
		t.Errorf("processes left behind: %q", live)
	}
}
