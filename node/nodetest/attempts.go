package nodetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// testEnvironmentAndDirectories: the AZ_BATCH_* variables and the task's
// own settings (later wins, AZ_BATCH_* cannot be overridden, values reach
// the command byte for byte), nothing of the engine's own environment, and
// the node and task directories.
func testEnvironmentAndDirectories(t *testing.T, e Env) {
	t.Setenv("EMBATCH_PARENT_SECRET", "leak")
	b := e.start(t)
	n1 := e.Nodes[0]
	a := e.Attempt("t1", `/bin/sh -c 'env; echo "PWD=$(pwd)"'`)
	a.Nodes = []string{n1} // one instance is not a multi-instance task
	a.JobHasPreparation = true
	a.Env = []task.EnvironmentSetting{
		{Name: "FROM_JOB", Value: "job"},
		{Name: "SHARED", Value: "job"},
		{Name: "SHARED", Value: "task"},
		{Name: "GREETING", Value: "hello 'world' $HOME"},
		{Name: "AZ_BATCH_TASK_DIR", Value: "/tmp/override-attempt"},
		{Name: "AZ_BATCH_TASK_ID", Value: "spoofed"},
		{Name: "HOME", Value: "/home/override"},
	}
	r := RunAttempt(t, b, a)
	WantExit(t, r, 0)
	if r.FailureInfo != nil {
		t.Errorf("FailureInfo = %+v, want nil", r.FailureInfo)
	}

	l := e.Layout(b, n1)
	taskDir := filepath.Join(l.Root, "workitems", "job", "job-1", "t1")
	if r.TaskRootDirectory != taskDir {
		t.Errorf("TaskRootDirectory = %q, want %q", r.TaskRootDirectory, taskDir)
	}
	if r.StartTime.IsZero() || r.EndTime.Before(r.StartTime) {
		t.Errorf("StartTime %v, EndTime %v", r.StartTime, r.EndTime)
	}
	env := ParseEnv(ReadFile(t, filepath.Join(taskDir, "stdout.txt")))
	want := map[string]string{
		"AZ_BATCH_TASK_ID":              "t1",
		"AZ_BATCH_JOB_ID":               "job",
		"AZ_BATCH_NODE_ID":              n1,
		"AZ_BATCH_POOL_ID":              Pool,
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
		"GREETING":                      "hello 'world' $HOME",
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
	e.checkEnv(t, b, n1, env)
	for _, dir := range []string{l.SharedDir(), l.StartupDir(), l.WorkItemsDir(), filepath.Join(taskDir, "wd")} {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("directory %s: %v", dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(taskDir, "stderr.txt")); err != nil {
		t.Errorf("stderr.txt: %v", err)
	}
}

func testAttemptKindsRunInTheirDirectories(t *testing.T, e Env) {
	b := e.start(t)
	l := e.Layout(b, e.Nodes[0])
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
			a := &node.Attempt{ID: NextID(), Kind: tt.kind, PoolID: Pool, JobID: tt.jobID, TaskID: "some-id",
				NodeID: e.Nodes[0], CommandLine: `/bin/sh -c 'env; echo "PWD=$(pwd)"'`, JobHasPreparation: true}
			r := RunAttempt(t, b, a)
			WantExit(t, r, 0)
			if r.TaskRootDirectory != tt.taskDir {
				t.Errorf("TaskRootDirectory = %q, want %q", r.TaskRootDirectory, tt.taskDir)
			}
			env := ParseEnv(ReadFile(t, filepath.Join(tt.taskDir, "stdout.txt")))
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
			e.checkEnv(t, b, e.Nodes[0], env)
		})
	}
}

// testNoShellAndExactWords: a command line is split into words, quotes
// respected, and run without a shell; stdout and stderr go to their files.
func testNoShellAndExactWords(t *testing.T, e Env) {
	b := e.start(t)
	r := RunAttempt(t, b, e.Attempt("echo", `echo $HOME "a  b" 'c;d' >x`))
	WantExit(t, r, 0)
	if got, want := ReadFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt")), "$HOME a  b c;d >x\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	r = RunAttempt(t, b, e.Attempt("words", `/usr/bin/printf '[%s]\n' "$HOME" 'a b' "it's" '*' ';' 'x=y'`))
	WantExit(t, r, 0)
	if got, want := ReadFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt")), "[$HOME]\n[a b]\n[it's]\n[*]\n[;]\n[x=y]\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	r = RunAttempt(t, b, e.Attempt("stderr", `/bin/sh -c 'echo out; echo err >&2'`))
	WantExit(t, r, 0)
	if got := ReadFile(t, filepath.Join(r.TaskRootDirectory, "stderr.txt")); got != "err\n" {
		t.Errorf("stderr.txt = %q", got)
	}
}

func testExitCodes(t *testing.T, e Env) {
	b := e.start(t)
	for _, code := range []int{0, 1, 3, 255} {
		r := RunAttempt(t, b, e.Attempt("t"+strconv.Itoa(code), fmt.Sprintf("/bin/sh -c 'exit %d'", code)))
		WantExit(t, r, code)
		if r.FailureInfo != nil {
			t.Errorf("exit %d: FailureInfo = %+v, want nil (the engine judges exit codes)", code, r.FailureInfo)
		}
	}
}

func testKilledBySignal(t *testing.T, e Env) {
	b := e.start(t)
	for _, sig := range []struct {
		name string
		sig  syscall.Signal
	}{{"USR1", syscall.SIGUSR1}, {"TERM", syscall.SIGTERM}} {
		t.Run(sig.name, func(t *testing.T) {
			r := RunAttempt(t, b, e.Attempt("sig"+sig.name, `/bin/sh -c 'kill -`+sig.name+` $$'`))
			WantFailure(t, r, task.OutcomeExited, task.FailureSignaled)
			if r.ExitCode != 128+int(sig.sig) {
				t.Errorf("ExitCode = %d, want %d", r.ExitCode, 128+int(sig.sig))
			}
			if !strings.Contains(r.FailureInfo.Message, "SIG"+sig.name) {
				t.Errorf("message %q does not name SIG%s", r.FailureInfo.Message, sig.name)
			}
		})
	}
}

func testCommandNotFound(t *testing.T, e Env) {
	b := e.start(t)
	src := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, line string
		env        []task.EnvironmentSetting
		files      []task.ResourceFile
		want       string // in the message
	}{
		{"missing program", "no-such-program-embatch --flag", nil, nil, "not found in PATH"},
		{"missing program alone", "no-such-program-embatch", nil, nil, "not found in PATH"},
		{"not in the task's PATH", "ls", []task.EnvironmentSetting{{Name: "PATH", Value: "/nonexistent"}}, nil, `PATH "/nonexistent"`},
		{"missing path", "./missing", nil, nil, "does not exist"},
		{"missing script", "./missing.sh", nil, nil, "does not exist"},
		{"not executable", "./script", nil, []task.ResourceFile{{HTTPURL: "file://" + src, FilePath: "script", FileMode: "0644"}}, "is not executable"},
		{"absolute not executable", src, nil, nil, "is not executable"},
		{"directory", "/tmp", nil, nil, "is a directory"},
		{"directory etc", "/etc", nil, nil, "is a directory"},
		{"unterminated quote", `/bin/echo 'oops`, nil, nil, "unterminated"},
		{"unterminated first word", "'unterminated", nil, nil, "unterminated"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.Attempt(fmt.Sprintf("nf%d", i), tt.line)
			a.Env = tt.env
			a.ResourceFiles = tt.files
			r := RunAttempt(t, b, a)
			WantFailure(t, r, task.OutcomePreProcessingError, task.FailureCommandNotFound)
			if r.FailureInfo.Category != task.UserError {
				t.Errorf("category %s, want usererror", r.FailureInfo.Category)
			}
			if r.ExitCode != -1 || !strings.Contains(r.FailureInfo.Message, tt.want) {
				t.Errorf("exit %d message %q, want -1 and %q", r.ExitCode, r.FailureInfo.Message, tt.want)
			}
		})
	}
	// The same script runs once it is executable, found relative to wd.
	a := e.Attempt("ok", "./script")
	a.ResourceFiles = []task.ResourceFile{{HTTPURL: "file://" + src, FilePath: "script", FileMode: "0755"}}
	WantExit(t, RunAttempt(t, b, a), 0)
	// The task's PATH is searched, relative entries against the working
	// directory.
	a = e.Attempt("relpath", "hello.sh")
	a.Env = []task.EnvironmentSetting{{Name: "PATH", Value: "bin:/usr/bin:/bin"}}
	a.ResourceFiles = []task.ResourceFile{{HTTPURL: "file://" + src, FilePath: "bin/hello.sh", FileMode: "0755"}}
	r := RunAttempt(t, b, a)
	WantExit(t, r, 0)
	if got := ReadFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt")); got != "hi\n" {
		t.Errorf("stdout = %q", got)
	}
}

func testLargeOutputDoesNotBlock(t *testing.T, e Env) {
	b := e.start(t)
	const outSize, errSize = 20_000_000, 5_000_000
	r := RunAttempt(t, b, e.Attempt("big", fmt.Sprintf(`/bin/sh -c 'head -c %d /dev/zero; head -c %d /dev/zero >&2'`, outSize, errSize)))
	WantExit(t, r, 0)
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

func testTerminateKillsProcessGroup(t *testing.T, e Env) {
	b := e.start(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	// The shell (group leader) and its background child.
	ch, pids := StartRunning(ctx, t, b, e.Attempt("forky", `/bin/sh -c 'sleep 1000 & echo $$ $! > "$FIFO"; sleep 1000'`))
	if live := LiveProcesses(t, pids[0], pids[1]); len(live) < 2 {
		t.Fatalf("before terminate: live processes %q, want the shell and its background sleep", live)
	}
	cancel(errors.New("maxWallClockTime exceeded"))
	r := Wait(t, ch)
	WantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
	if r.ExitCode != 128+int(syscall.SIGKILL) {
		t.Errorf("ExitCode = %d, want %d", r.ExitCode, 128+int(syscall.SIGKILL))
	}
	if !strings.Contains(r.FailureInfo.Message, "maxWallClockTime exceeded") || !strings.Contains(r.FailureInfo.Message, "SIGKILL") {
		t.Errorf("message %q should give the cause and the signal", r.FailureInfo.Message)
	}
	e.wantGone(t, pids[0], pids[1])
}

func testBackgroundChildrenDieWithTheirTask(t *testing.T, e Env) {
	b := e.start(t)
	f := Fifo(t)
	a := e.Attempt("bg", `/bin/sh -c 'sleep 1000 & echo $$ $! > "$FIFO"'`)
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: f}}
	ch := StartAttempt(context.Background(), b, a)
	// The task exits as soon as its pids are written, so its end may be
	// reported before they are read: read them without watching ch.
	pids := ReadPIDs(t, f, nil)
	WantExit(t, Wait(t, ch), 0)
	e.wantGone(t, pids[0], pids[1])
}

func testCloseKillsRunningAttempts(t *testing.T, e Env) {
	b := e.start(t)
	ch, pids := StartRunning(context.Background(), t, b, e.Attempt("long", `/bin/sh -c 'echo $$ > "$FIFO"; sleep 1000'`))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch: // Close waits for done callbacks
		WantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
	default:
		t.Fatal("Close returned before the attempt's done callback")
	}
	e.wantGone(t, pids[0])
	r := RunAttempt(t, b, e.Attempt("after", "/bin/true"))
	if r.FailureInfo == nil || r.FailureInfo.Category != task.ServerError || !strings.Contains(r.FailureInfo.Message, "closed") {
		t.Errorf("Start after Close: %+v, want a server error saying the backend is closed", r)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func testUnknownNodeAndBadIDs(t *testing.T, e Env) {
	b := e.start(t)
	a := e.Attempt("t", "/bin/true")
	a.NodeID, a.Nodes = "nope", nil
	if r := RunAttempt(t, b, a); r.FailureInfo == nil || r.FailureInfo.Category != task.ServerError {
		t.Errorf("unknown node: %+v, want a server error", r)
	}
	a = e.Attempt("../../escape", "/bin/true")
	if r := RunAttempt(t, b, a); r.FailureInfo == nil || r.FailureInfo.Category != task.ServerError {
		t.Errorf("bad task id: %+v, want a server error", r)
	}
	if err := b.AddNode(context.Background(), node.NodeInfo{NodeID: "../x"}); !errors.Is(err, task.ErrInvalidPropertyValue) {
		t.Errorf("AddNode(../x) = %v, want InvalidPropertyValue", err)
	}
}

func testRemoveNode(t *testing.T, e Env) {
	n1 := e.Nodes[0]
	t.Run("keeps files by default", func(t *testing.T) {
		b := e.start(t)
		r := RunAttempt(t, b, e.Attempt("t", "/bin/echo kept"))
		if err := b.RemoveNode(context.Background(), n1); err != nil {
			t.Fatal(err)
		}
		got, err := b.ReadTaskFile(context.Background(), n1, "job", "t", "stdout.txt")
		if err != nil || string(got) != "kept\n" {
			t.Errorf("stdout.txt after RemoveNode: %q, %v", got, err)
		}
		if _, err := os.Stat(r.TaskRootDirectory); err != nil {
			t.Error(err)
		}
		if err := b.RemoveNode(context.Background(), n1); !errors.Is(err, task.ErrNodeNotFound) {
			t.Errorf("second RemoveNode = %v, want NodeNotFound", err)
		}
		r = RunAttempt(t, b, e.Attempt("removed", "/bin/true"))
		if r.FailureInfo == nil || r.FailureInfo.Category != task.ServerError {
			t.Errorf("attempt on a removed node: %+v, want a server error", r)
		}
	})
	t.Run("deletes files when asked", func(t *testing.T) {
		b := e.Start(t, 1, Options{DeleteNodeFiles: true})
		WantExit(t, RunAttempt(t, b, e.Attempt("t", "/bin/true")), 0)
		if err := b.RemoveNode(context.Background(), n1); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(e.Layout(b, n1).Root); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("node root after RemoveNode: %v, want it gone", err)
		}
	})
}
