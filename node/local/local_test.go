package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// testTimeout bounds every wait in these tests; nothing should come close.
const testTimeout = 60 * time.Second

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
		if err := b.AddNode(context.Background(), node.NodeInfo{PoolID: "pool", NodeID: id, Slots: 1, Dedicated: true}); err != nil {
			t.Fatal(err)
		}
	}
}

// taskAttempt is a plain task attempt on node n1.
func taskAttempt(taskID, commandLine string) *node.Attempt {
	return &node.Attempt{ID: 1, Kind: node.KindTask, PoolID: "pool", JobID: "job", TaskID: taskID,
		NodeID: "n1", Nodes: []string{"n1"}, Dedicated: true, CommandLine: commandLine}
}

// start starts a and returns the channel its result arrives on.
func start(ctx context.Context, b *Backend, a *node.Attempt) <-chan node.Result {
	ch := make(chan node.Result, 1)
	var calls int
	b.Start(ctx, a, func(r node.Result) {
		calls++
		if calls > 1 {
			panic("done called twice")
		}
		ch <- r
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

func TestEnvironmentAndDirectories(t *testing.T) {
	t.Setenv("EMBATCH_PARENT_SECRET", "leak")
	b := newBackend(t)
	addNodes(t, b, "n1")
	a := taskAttempt("t1", `/bin/sh -c 'env; echo "PWD=$(pwd)"'`)
	a.JobHasPreparation = true
	a.Env = []task.EnvironmentSetting{
		{Name: "FROM_JOB", Value: "job"},
		{Name: "SHARED", Value: "job"},
		{Name: "SHARED", Value: "task"},
		{Name: "AZ_BATCH_TASK_DIR", Value: "/tmp/override-attempt"},
		{Name: "HOME", Value: "/home/override"},
	}
	r := run(t, b, a)
	wantExit(t, r, 0)
	if r.FailureInfo != nil {
		t.Errorf("FailureInfo = %+v, want nil", r.FailureInfo)
	}

	l := b.NodeLayout("n1")
	taskDir := filepath.Join(l.Root, "workitems", "job", "job-1", "t1")
	if r.TaskRootDirectory != taskDir {
		t.Errorf("TaskRootDirectory = %q, want %q", r.TaskRootDirectory, taskDir)
	}
	if r.StartTime.IsZero() || r.EndTime.Before(r.StartTime) {
		t.Errorf("StartTime %v, EndTime %v", r.StartTime, r.EndTime)
	}
	env := parseEnv(readFile(t, filepath.Join(taskDir, "stdout.txt")))
	want := map[string]string{
		"AZ_BATCH_TASK_ID":              "t1",
		"AZ_BATCH_JOB_ID":               "job",
		"AZ_BATCH_NODE_ID":              "n1",
		"AZ_BATCH_POOL_ID":              "pool",
		"AZ_BATCH_NODE_IS_DEDICATED":    "true",
		"AZ_BATCH_NODE_ROOT_DIR":        l.Root,
		"AZ_BATCH_NODE_SHARED_DIR":      filepath.Join(l.Root, "shared"),
		"AZ_BATCH_NODE_STARTUP_DIR":     filepath.Join(l.Root, "startup"),
		"AZ_BATCH_TASK_DIR":             taskDir,
		"AZ_BATCH_TASK_WORKING_DIR":     filepath.Join(taskDir, "wd"),
		"AZ_BATCH_JOB_PREP_DIR":         filepath.Join(l.Root, "workitems", "job", "job-1", "jobpreparation"),
		"AZ_BATCH_JOB_PREP_WORKING_DIR": filepath.Join(l.Root, "workitems", "job", "job-1", "jobpreparation", "wd"),
		"FROM_JOB":                      "job",
		"SHARED":                        "task",
		"HOME":                          "/home/override",
		"PWD":                           filepath.Join(taskDir, "wd"),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if env["PATH"] == "" {
		t.Error("PATH is not set")
	}
	for _, k := range []string{"EMBATCH_PARENT_SECRET", "AZ_BATCH_HOST_LIST"} {
		if v, ok := env[k]; ok {
			t.Errorf("%s = %q leaked into the task environment", k, v)
		}
	}
	for _, dir := range []string{l.SharedDir(), l.StartupDir(), filepath.Join(taskDir, "wd")} {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("directory %s: %v", dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(taskDir, "stderr.txt")); err != nil {
		t.Errorf("stderr.txt: %v", err)
	}
}

func TestAttemptKindsRunInTheirDirectories(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1")
	l := b.NodeLayout("n1")
	tests := []struct {
		kind    node.Kind
		jobID   string
		taskDir string
		absent  []string
	}{
		{node.KindStartTask, "", l.StartupDir(), []string{"AZ_BATCH_JOB_ID", "AZ_BATCH_TASK_ID"}},
		{node.KindJobPreparation, "job", l.JobPreparationDir("job"), []string{"AZ_BATCH_JOB_PREP_DIR"}},
		{node.KindJobRelease, "job", l.JobReleaseDir("job"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			a := &node.Attempt{ID: 2, Kind: tt.kind, PoolID: "pool", JobID: tt.jobID, TaskID: "some-id",
				NodeID: "n1", CommandLine: `/bin/sh -c 'env; echo "PWD=$(pwd)"'`, JobHasPreparation: true}
			r := run(t, b, a)
			wantExit(t, r, 0)
			if r.TaskRootDirectory != tt.taskDir {
				t.Errorf("TaskRootDirectory = %q, want %q", r.TaskRootDirectory, tt.taskDir)
			}
			env := parseEnv(readFile(t, filepath.Join(tt.taskDir, "stdout.txt")))
			if got, want := env["PWD"], filepath.Join(tt.taskDir, "wd"); got != want {
				t.Errorf("working directory %q, want %q", got, want)
			}
			if got := env["AZ_BATCH_TASK_DIR"]; got != tt.taskDir {
				t.Errorf("AZ_BATCH_TASK_DIR = %q, want %q", got, tt.taskDir)
			}
			for _, k := range tt.absent {
				if v, ok := env[k]; ok {
					t.Errorf("%s = %q, want unset", k, v)
				}
			}
		})
	}
}

func TestNoShellByDefault(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1")
	r := run(t, b, taskAttempt("t", `echo $HOME "a  b" 'c;d' >x`))
	wantExit(t, r, 0)
	if got, want := readFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt")), "$HOME a  b c;d >x\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestExitCodes(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1")
	for _, code := range []int{0, 1, 3, 255} {
		r := run(t, b, taskAttempt("t"+strconv.Itoa(code), fmt.Sprintf("/bin/sh -c 'exit %d'", code)))
		wantExit(t, r, code)
		if r.FailureInfo != nil {
			t.Errorf("exit %d: FailureInfo = %+v, want nil (the engine judges exit codes)", code, r.FailureInfo)
		}
	}
}

func TestKilledBySignal(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1")
	r := run(t, b, taskAttempt("t", `/bin/sh -c 'kill -USR1 $$'`))
	wantFailure(t, r, task.OutcomeExited, task.FailureSignaled)
	if r.ExitCode != 128+int(syscall.SIGUSR1) {
		t.Errorf("ExitCode = %d, want %d", r.ExitCode, 128+int(syscall.SIGUSR1))
	}
	if !strings.Contains(r.FailureInfo.Message, "SIGUSR1") {
		t.Errorf("message %q does not name SIGUSR1", r.FailureInfo.Message)
	}
}

func TestCommandNotFound(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1")
	src := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, line string
		files      []task.ResourceFile
	}{
		{"missing program", "no-such-program-embatch --flag", nil},
		{"missing path", "./missing", nil},
		{"not executable", "./script", []task.ResourceFile{{HTTPURL: "file://" + src, FilePath: "script", FileMode: "0644"}}},
		{"directory", "/tmp", nil},
		{"unterminated quote", `/bin/echo 'oops`, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := taskAttempt(fmt.Sprintf("t%d", i), tt.line)
			a.ResourceFiles = tt.files
			r := run(t, b, a)
			wantFailure(t, r, task.OutcomePreProcessingError, task.FailureCommandNotFound)
			if r.FailureInfo.Category != task.UserError {
				t.Errorf("category %s, want usererror", r.FailureInfo.Category)
			}
		})
	}
	// The same script runs once it is executable, found relative to wd.
	a := taskAttempt("ok", "./script")
	a.ResourceFiles = []task.ResourceFile{{HTTPURL: "file://" + src, FilePath: "script", FileMode: "0755"}}
	wantExit(t, run(t, b, a), 0)
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

func TestLargeOutputDoesNotBlock(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1")
	const outSize, errSize = 20_000_000, 5_000_000
	r := run(t, b, taskAttempt("big", fmt.Sprintf(`/bin/sh -c 'head -c %d /dev/zero; head -c %d /dev/zero >&2'`, outSize, errSize)))
	wantExit(t, r, 0)
	for name, size := range map[string]int64{"stdout.txt": outSize, "stderr.txt": errSize} {
		fi, err := os.Stat(filepath.Join(r.TaskRootDirectory, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != size {
			t.Errorf("%s has %d bytes, want %d", name, fi.Size(), size)
		}
	}
}

// fifo makes a named pipe in a fresh directory.
func fifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// readPIDs reads one line of space-separated pids from the fifo, which the
// task writes once it is running. It fails the test if the attempt ends
// (on ch; nil when the task may end right after writing) or testTimeout
// passes first.
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

// liveProcesses lists the processes of process group pgid, and process
// extra, that are still alive. Zombies (state Z, waiting for init to reap
// them) have released everything but their pid and do not count.
func liveProcesses(t *testing.T, pgid int, extra ...int) []string {
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
		state, pgrp, ok := parseProcStat(string(stat))
		if !ok || state == "Z" || state == "X" {
			continue
		}
		isExtra := false
		for _, x := range extra {
			isExtra = isExtra || x == pid
		}
		if pgrp == pgid || isExtra {
			live = append(live, strings.TrimSpace(string(stat)))
		}
	}
	return live
}

func TestTerminateKillsWholeProcessGroup(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1")
	f := fifo(t)
	a := taskAttempt("forky", `/bin/sh -c 'sleep 1000 & echo $$ $! > "$FIFO"; sleep 1000'`)
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: f}}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ch := start(ctx, b, a)
	pids := readPIDs(t, f, ch) // the shell (group leader) and its background child
	if live := liveProcesses(t, pids[0], pids[1]); len(live) < 2 {
		t.Fatalf("before terminate: live processes %q, want the shell and its background sleep", live)
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
	if live := liveProcesses(t, pids[0], pids[1]); len(live) > 0 {
		t.Errorf("processes left behind: %q", live)
	}
}

func TestBackgroundChildrenDieWithTheirTask(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1")
	f := fifo(t)
	a := taskAttempt("bg", `/bin/sh -c 'sleep 1000 & echo $$ $! > "$FIFO"'`)
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: f}}
	ch := start(context.Background(), b, a)
	// The task exits as soon as its pids are written, so its end may be
	// reported before they are read: read them without watching ch.
	pids := readPIDs(t, f, nil)
	wantExit(t, wait(t, ch), 0)
	if live := liveProcesses(t, pids[0], pids[1]); len(live) > 0 {
		t.Errorf("processes left behind: %q", live)
	}
}

func TestKillGrace(t *testing.T) {
	t.Run("task exits on SIGTERM", func(t *testing.T) {
		b := newBackend(t, WithKillGrace(testTimeout))
		addNodes(t, b, "n1")
		f := fifo(t)
		a := taskAttempt("polite", `/bin/sh -c 'trap "exit 7" TERM; sleep 1000 & echo $$ $! > "$FIFO"; wait'`)
		a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: f}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := start(ctx, b, a)
		pids := readPIDs(t, f, ch)
		cancel()
		r := wait(t, ch)
		wantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
		if r.ExitCode != 7 {
			t.Errorf("ExitCode = %d, want 7 from the TERM trap", r.ExitCode)
		}
		if live := liveProcesses(t, pids[0], pids[1]); len(live) > 0 {
			t.Errorf("processes left behind: %q", live)
		}
	})
	t.Run("task ignores SIGTERM", func(t *testing.T) {
		b := newBackend(t, WithKillGrace(50*time.Millisecond))
		addNodes(t, b, "n1")
		f := fifo(t)
		a := taskAttempt("stubborn", `/bin/sh -c 'trap "" TERM; echo $$ > "$FIFO"; while :; do :; done'`)
		a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: f}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := start(ctx, b, a)
		pids := readPIDs(t, f, ch)
		cancel()
		r := wait(t, ch)
		wantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
		if r.ExitCode != 128+int(syscall.SIGKILL) {
			t.Errorf("ExitCode = %d, want %d", r.ExitCode, 128+int(syscall.SIGKILL))
		}
		if live := liveProcesses(t, pids[0]); len(live) > 0 {
			t.Errorf("processes left behind: %q", live)
		}
	})
}

func TestCloseKillsRunningAttempts(t *testing.T) {
	b, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addNodes(t, b, "n1")
	f := fifo(t)
	a := taskAttempt("long", `/bin/sh -c 'echo $$ > "$FIFO"; sleep 1000'`)
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: f}}
	ch := start(context.Background(), b, a)
	pids := readPIDs(t, f, ch)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch: // Close waits for done callbacks
		wantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
	default:
		t.Fatal("Close returned before the attempt's done callback")
	}
	if live := liveProcesses(t, pids[0]); len(live) > 0 {
		t.Errorf("processes left behind: %q", live)
	}
	r := run(t, b, taskAttempt("after", "/bin/true"))
	if r.FailureInfo == nil || r.FailureInfo.Category != task.ServerError {
		t.Errorf("Start after Close: %+v, want a server error", r)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestUnknownNodeAndBadIDs(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1")
	a := taskAttempt("t", "/bin/true")
	a.NodeID, a.Nodes = "nope", nil
	if r := run(t, b, a); r.FailureInfo == nil || r.FailureInfo.Category != task.ServerError {
		t.Errorf("unknown node: %+v, want a server error", r)
	}
	a = taskAttempt("../../escape", "/bin/true")
	if r := run(t, b, a); r.FailureInfo == nil || r.FailureInfo.Category != task.ServerError {
		t.Errorf("bad task id: %+v, want a server error", r)
	}
	if err := b.AddNode(context.Background(), node.NodeInfo{NodeID: "../x"}); !errors.Is(err, task.ErrInvalidPropertyValue) {
		t.Errorf("AddNode(../x) = %v, want InvalidPropertyValue", err)
	}
}

func TestRemoveNode(t *testing.T) {
	t.Run("keeps files by default", func(t *testing.T) {
		b := newBackend(t)
		addNodes(t, b, "n1")
		r := run(t, b, taskAttempt("t", "/bin/echo kept"))
		if err := b.RemoveNode(context.Background(), "n1"); err != nil {
			t.Fatal(err)
		}
		got, err := b.ReadTaskFile(context.Background(), "n1", "job", "t", "stdout.txt")
		if err != nil || string(got) != "kept\n" {
			t.Errorf("stdout.txt after RemoveNode: %q, %v", got, err)
		}
		if _, err := os.Stat(r.TaskRootDirectory); err != nil {
			t.Error(err)
		}
		if err := b.RemoveNode(context.Background(), "n1"); !errors.Is(err, task.ErrNodeNotFound) {
			t.Errorf("second RemoveNode = %v, want NodeNotFound", err)
		}
	})
	t.Run("deletes files when asked", func(t *testing.T) {
		b := newBackend(t, WithDeleteNodeFiles(true))
		addNodes(t, b, "n1")
		run(t, b, taskAttempt("t", "/bin/true"))
		if err := b.RemoveNode(context.Background(), "n1"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(b.NodeLayout("n1").Root); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("node root after RemoveNode: %v, want it gone", err)
		}
	})
}
