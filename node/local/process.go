package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/embatch/embatch/node"
)

// command is one command line to run.
type command struct {
	line   string
	wd     string   // working directory; relative program paths resolve here
	stdout string   // file receiving standard output (truncated first)
	stderr string   // file receiving standard error (truncated first)
	env    []string // complete environment, "NAME=value"
}

// exit is how a command ended.
type exit struct {
	// notRun is set when the command never started: a malformed command
	// line, or a program that is missing or not executable.
	notRun error
	// code is the exit code: the process's own, or 128+signal when a signal
	// killed it, or -1 when no process ran.
	code int
	// signal is the signal that killed the process, or 0.
	signal syscall.Signal
	// terminated is set when ctx was cancelled while the command ran (or
	// before it could start); cause is context.Cause then.
	terminated bool
	cause      error
}

// runCommand runs c in its own process group and waits for it. Cancelling
// ctx kills the group (SIGTERM first when a kill grace is set). Whatever is
// left of the group when the main process exits is killed too. The error is
// for failures of the backend itself (cannot create stdout.txt), not of the
// command.
func (b *Backend) runCommand(ctx context.Context, c command) (exit, error) {
	argv, err := node.SplitCommandLine(c.line)
	if err != nil {
		return exit{notRun: err, code: -1}, nil
	}
	pathEnv, _ := node.LookupEnviron(c.env, "PATH")
	prog, err := lookPath(argv[0], c.wd, pathEnv)
	if err != nil {
		return exit{notRun: err, code: -1}, nil
	}
	stdout, err := os.OpenFile(c.stdout, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return exit{}, err
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(c.stderr, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return exit{}, err
	}
	defer stderr.Close()
	if ctx.Err() != nil {
		return exit{code: -1, terminated: true, cause: context.Cause(ctx)}, nil
	}
	cmd := &exec.Cmd{
		Path:        prog,
		Args:        argv,
		Dir:         c.wd,
		Env:         c.env,
		Stdout:      stdout, // *os.File: the child writes to it directly
		Stderr:      stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		return exit{notRun: fmt.Errorf("cannot execute %s: %w", prog, unwrapExec(err)), code: -1}, nil
	}
	pgid := cmd.Process.Pid // Setpgid with Pgid 0: the group is named after the leader

	var killed atomic.Bool
	exited := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-exited:
			return
		case <-ctx.Done():
		}
		killed.Store(true)
		if b.cfg.killGrace > 0 {
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			t := time.NewTimer(b.cfg.killGrace)
			defer t.Stop()
			select {
			case <-exited:
				return
			case <-t.C:
			}
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}()
	_ = cmd.Wait() // an *exec.ExitError for a non-zero exit; ProcessState says it all
	close(exited)
	<-watcherDone
	// Background children must not outlive their command. While any of them
	// lives, the group id cannot be reused, so this kills only our own.
	if syscall.Kill(-pgid, syscall.SIGKILL) == nil {
		awaitGroupExit(pgid, groupExitTimeout)
	}

	e := exit{}
	if killed.Load() {
		e.terminated = true
		e.cause = context.Cause(ctx)
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Signaled():
		e.signal = ws.Signal()
		e.code = 128 + int(e.signal)
	default:
		e.code = cmd.ProcessState.ExitCode()
	}
	return e, nil
}

// groupExitTimeout bounds how long runCommand waits for the members of a
// killed process group to die. SIGKILL is delivered asynchronously, so a
// killed process can run for a moment; only one stuck in uninterruptible
// I/O takes longer, and then the attempt ends without waiting for it.
const groupExitTimeout = 5 * time.Second

// awaitGroupExit waits, for at most timeout, until process group pgid has
// no live member. Zombies (dead, waiting for init to reap them) do not
// count. It polls /proc with a short backoff: a group's members are not our
// children (they were reparented to init), so there is nothing to wait on.
// It reports whether the group is gone.
func awaitGroupExit(pgid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	delay := 100 * time.Microsecond
	for {
		if syscall.Kill(-pgid, 0) == syscall.ESRCH || !groupHasLiveMember(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
		delay = min(2*delay, 10*time.Millisecond)
	}
}

// groupHasLiveMember reports whether /proc shows a process of group pgid
// that is not a zombie. Without a readable /proc it reports false.
func groupHasLiveMember(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		if c := e.Name()[0]; c < '0' || c > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		state, pgrp, ok := parseProcStat(string(stat))
		if ok && pgrp == pgid && state != "Z" && state != "X" {
			return true
		}
	}
	return false
}

// parseProcStat reads the state and process group from the text of
// /proc/<pid>/stat: "pid (comm) state ppid pgrp ...", where comm may hold
// spaces and parentheses.
func parseProcStat(stat string) (state string, pgrp int, ok bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 3 {
		return "", 0, false
	}
	pgrp, err := strconv.Atoi(f[2])
	return f[0], pgrp, err == nil
}

// unwrapExec strips the *fs.PathError wrapping of a start error down to the
// errno, whose text ("permission denied", "exec format error") is what a
// user needs.
func unwrapExec(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// lookPath finds the program of a command line the way execvp does: a name
// containing '/' is a path (relative to wd when not absolute); a bare name is
// searched in pathEnv, whose empty or relative entries are relative to wd.
// The result is absolute.
func lookPath(name, wd, pathEnv string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(wd, p)
		}
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("program %q: %w", name, err)
		}
		return p, nil
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(wd, dir)
		}
		p := filepath.Join(dir, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("program %q not found in PATH %q (command lines run without a shell; relative paths such as ./%s are relative to the working directory)", name, pathEnv, name)
}

// checkExecutable says why p cannot be run, if it cannot.
func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s does not exist", p)
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s is a directory", p)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s is not executable (mode %04o)", p, fi.Mode().Perm())
	}
	return nil
}
