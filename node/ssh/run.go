package ssh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// FailureEnvironmentName is the FailureInfo code of an attempt with an
// environment setting whose name a POSIX shell cannot export.
const FailureEnvironmentName = "EnvironmentSettingNameNotSupported"

// target is one instance node of an attempt, with the connection the
// attempt uses on its host.
type target struct {
	nodeID string
	host   *host
	conn   *conn
	layout node.Layout
}

// Start runs attempt a in a new goroutine and calls done with its result.
// Cancelling ctx (or closing the backend) kills the attempt's remote
// process group.
func (b *Backend) Start(ctx context.Context, a *node.Attempt, done func(node.Result)) {
	b.mu.Lock()
	closed := b.closed
	if !closed {
		b.running.Add(1)
	}
	b.mu.Unlock()
	if closed {
		now := time.Now()
		go done(node.ServerErrorResult(node.Result{StartTime: now, EndTime: now}, errClosed))
		return
	}
	go func() {
		defer b.running.Done()
		res := node.Result{StartTime: time.Now()}
		targets, entered, err := b.enter(a)
		if err != nil {
			res = enterFailed(res, a, err)
		} else {
			ctx, cancel := context.WithCancelCause(ctx)
			stops := []func() bool{context.AfterFunc(b.closing, func() { cancel(errClosed) })}
			for _, t := range targets {
				c := t.conn
				stops = append(stops, context.AfterFunc(c.ctx, func() { cancel(context.Cause(c.ctx)) }))
			}
			res = b.runAttempt(ctx, a, targets, res)
			for _, stop := range stops {
				stop()
			}
			cancel(nil)
		}
		res.EndTime = time.Now()
		done(res)
		// Only now may a lost host report its node back (see host.online).
		for _, h := range entered {
			h.leave()
		}
	}()
}

// enter resolves a's instance nodes to their hosts and registers the
// attempt with each (host.enter). entered lists the hosts to leave, even
// when err is set.
func (b *Backend) enter(a *node.Attempt) (targets []*target, entered []*host, err error) {
	if a.Kind < node.KindTask || a.Kind > node.KindJobRelease {
		return nil, nil, fmt.Errorf("attempt %d: invalid kind %d", a.ID, a.Kind)
	}
	if a.Kind != node.KindStartTask {
		if err := task.ValidateID("jobId", a.JobID); err != nil {
			return nil, nil, err
		}
		if err := task.ValidateID("taskId", a.TaskID); err != nil {
			return nil, nil, err
		}
	}
	if len(a.Nodes) > 0 && a.Nodes[0] != a.NodeID {
		return nil, nil, fmt.Errorf("attempt %d: nodeId %q is not the first of nodes %q", a.ID, a.NodeID, a.Nodes)
	}
	for _, id := range a.InstanceNodes() {
		b.mu.Lock()
		p, ok := b.placed[id]
		b.mu.Unlock()
		if !ok {
			return nil, entered, task.Errorf(task.CodeNodeNotFound, "nodeId", id, "the node is not up on this backend")
		}
		entered = append(entered, p.host)
		c, err := p.host.enter(id)
		if err != nil {
			return nil, entered, err
		}
		targets = append(targets, &target{nodeID: id, host: p.host, conn: c, layout: p.layout})
	}
	return targets, entered, nil
}

// enterFailed is the result of an attempt that could not begin.
func enterFailed(res node.Result, a *node.Attempt, err error) node.Result {
	var le *lostError
	if errors.As(err, &le) {
		return lostResult(res, a, le)
	}
	return node.ServerErrorResult(res, err)
}

// lostResult is the result of an attempt whose node le.nodeID was lost.
// For the attempt's own node (the primary) it carries
// task.FailureNodeLost, on which the engine requeues the task. A lost
// secondary instance of a multi-instance task has been reported to the
// engine, which kills and requeues the task itself; the result then only
// confirms the kill.
func lostResult(res node.Result, a *node.Attempt, le *lostError) node.Result {
	res.Kind = task.OutcomeExited
	res.ExitCode = -1
	if le.nodeID == a.NodeID {
		res.FailureInfo = node.Failure(task.ServerError, task.FailureNodeLost, "%v", le)
	} else {
		res.FailureInfo = node.Failure(task.ServerError, task.FailureMultiInstanceFailure, "instance %v", le)
	}
	return res
}

// lostOf says whether the failure err of an operation on t (or the
// attempt's cancellation) came from a lost node.
func lostOf(ctx context.Context, t *target, err error) *lostError {
	var le *lostError
	if errors.As(context.Cause(ctx), &le) {
		return le
	}
	if err == nil || errors.Is(err, errClosed) {
		return nil
	}
	return t.host.check(t.conn, err)
}

// fail is the result of an attempt whose step on t failed with err: the
// node was lost, or the attempt was terminated, or else otherwise(err).
func fail(ctx context.Context, res node.Result, a *node.Attempt, t *target, err error, otherwise func(node.Result, error) node.Result) node.Result {
	if le := lostOf(ctx, t, err); le != nil {
		return lostResult(res, a, le)
	}
	if ctx.Err() != nil {
		return node.TerminatedResult(res, context.Cause(ctx))
	}
	return otherwise(res, err)
}

// runAttempt carries attempt a out on its targets (primary first), in the
// order the local backend does: resource files, the coordination phase of
// a multi-instance task, the command, output files.
func (b *Backend) runAttempt(ctx context.Context, a *node.Attempt, ts []*target, res node.Result) node.Result {
	for i, e := range a.Env {
		if !isShellName(e.Name) {
			return node.PreProcessingResult(res, FailureEnvironmentName, fmt.Errorf(
				"environmentSettings[%d]: name %q cannot be exported by the shell on an SSH node; use letters, digits and '_', not starting with a digit", i, e.Name))
		}
	}
	primary := ts[0]
	taskDir := primary.layout.AttemptDir(a)
	res.TaskRootDirectory = taskDir
	wd := node.WorkingDir(taskDir)
	resourceError := func(res node.Result, err error) node.Result {
		return node.PreProcessingResult(res, task.FailureResourceFile, err)
	}
	// A multi-instance task's own resource files go to the primary only,
	// before the coordination phase so that its command can use them too.
	if len(a.ResourceFiles) > 0 {
		if err := b.fetchResourceFiles(ctx, primary.conn, wd, "resourceFiles", a.ResourceFiles); err != nil {
			return fail(ctx, res, a, primary, err, resourceError)
		}
	}
	if a.MultiInstance() {
		failed, ok := node.RunInstances(ctx, ts, func(ctx context.Context, t *target) (node.Result, bool) {
			return b.runInstance(ctx, a, t, res)
		})
		if !ok {
			return failed
		}
	}
	e, err := b.runCommand(ctx, a, primary, command{
		line:   a.CommandLine,
		wd:     wd,
		stdout: path.Join(taskDir, node.StdoutFile),
		stderr: path.Join(taskDir, node.StderrFile),
	})
	if err != nil {
		return fail(ctx, res, a, primary, err, node.ServerErrorResult)
	}
	if e.notRun != nil {
		return node.PreProcessingResult(res, task.FailureCommandNotFound, e.notRun)
	}
	if le := lostOf(ctx, primary, nil); le != nil && !e.ran {
		return lostResult(res, a, le)
	}
	res.Kind = task.OutcomeExited
	res.ExitCode = e.code
	res.FailureInfo = node.ExitFailure(e.terminated, e.cause, e.signal)
	if len(a.OutputFiles) > 0 {
		if err := b.uploadOutputFiles(ctx, primary, a.OutputFiles, taskDir, wd, e.code); err != nil {
			if le := lostOf(ctx, primary, err); le != nil {
				return lostResult(res, a, le)
			}
			res.Kind = task.OutcomeFileUploadError
			if res.FailureInfo == nil { // a termination says more than an upload error
				res.FailureInfo = node.Failure(task.UserError, task.FailureFileUpload, "%v", err)
			}
		}
	}
	return res
}

// runInstance is t's part of a multi-instance task's instance phase, which
// node.RunInstances runs on every node at once: common resource files into
// the task directory, then the coordination command (if any). ok is false
// when the attempt failed; the result is the attempt's then.
func (b *Backend) runInstance(ctx context.Context, a *node.Attempt, t *target, res node.Result) (node.Result, bool) {
	taskDir := t.layout.AttemptDir(a)
	wd := node.WorkingDir(taskDir)
	if len(a.CommonResourceFiles) > 0 {
		if err := b.fetchResourceFiles(ctx, t.conn, taskDir, "commonResourceFiles", a.CommonResourceFiles); err != nil {
			return fail(ctx, res, a, t, err, func(res node.Result, err error) node.Result {
				return node.PreProcessingResult(res, task.FailureResourceFile, fmt.Errorf("node %s: %w", t.nodeID, err))
			}), false
		}
	}
	if a.CoordinationCommandLine == "" {
		return res, true
	}
	e, err := b.runCommand(ctx, a, t, command{
		line:   a.CoordinationCommandLine,
		wd:     wd,
		stdout: path.Join(taskDir, node.CoordinationStdoutFile),
		stderr: path.Join(taskDir, node.CoordinationStderrFile),
	})
	id := t.nodeID
	switch {
	case err != nil:
		return fail(ctx, res, a, t, err, func(res node.Result, err error) node.Result {
			return node.ServerErrorResult(res, fmt.Errorf("node %s: %w", id, err))
		}), false
	case e.notRun != nil:
		return node.PreProcessingResult(res, task.FailureCommandNotFound, fmt.Errorf("coordination command on node %s: %w", id, e.notRun)), false
	case e.code == 0 && !e.terminated:
		return res, true
	}
	if le := lostOf(ctx, t, nil); le != nil {
		return lostResult(res, a, le), false
	}
	res.Kind = task.OutcomeExited
	res.ExitCode = e.code
	res.FailureInfo = node.CoordinationFailure(id, e.code, e.terminated, e.cause, e.signal)
	return res, false
}

// environ is the environment settings of a's commands on t's node.
func (b *Backend) environ(a *node.Attempt, t *target) []task.EnvironmentSetting {
	ec := node.EnvContext{NodeID: t.nodeID, HostAddress: b.addressOf, MasterPort: b.cfg.masterPort}
	return node.BatchEnv(a, t.layout, ec)
}

// addressOf is the host name of node nodeID, for the multi-instance
// variables; a node that is not placed is named by its id.
func (b *Backend) addressOf(nodeID string) string {
	if h, ok := b.HostOf(nodeID); ok {
		return h.Name
	}
	return nodeID
}

// command is one command line to run on a node.
type command struct {
	line   string
	wd     string // working directory; relative program paths resolve here
	stdout string // file receiving standard output (truncated first)
	stderr string // file receiving standard error (truncated first)
}

// exit is how a command ended.
type exit struct {
	// notRun is set when the command never started: a malformed command
	// line, or a program that is missing or not executable.
	notRun error
	// ran is set when the remote wrapper reported the command's end.
	ran bool
	// code is the exit status as sh reports it (128+N for signal N), or -1
	// when no process ran.
	code int
	// signal is the signal that killed the process, as read from code.
	signal syscall.Signal
	// terminated is set when ctx was cancelled while the command ran (or
	// before it could start); cause is context.Cause then.
	terminated bool
	cause      error
}

// maxSignal is the highest signal number an exit status above 128 is read
// as.
const maxSignal = 64

// runCommand runs c on t's node in its own process group (see runScript)
// and waits for it. Cancelling ctx kills the group. The error is for
// failures of the backend or the connection, not of the command.
func (b *Backend) runCommand(ctx context.Context, a *node.Attempt, t *target, c command) (exit, error) {
	argv, err := node.SplitCommandLine(c.line)
	if err != nil {
		return exit{notRun: err, code: -1}, nil
	}
	env := b.environ(a, t)
	lookup := "-"
	for _, e := range env {
		if e.Name == "PATH" {
			lookup = "=" + e.Value
		}
	}
	pgid := pgidFile(t.layout.Root, a.ID)
	args := []string{c.wd, c.stdout, c.stderr, pgid, lookup, argv[0]}
	for _, e := range env {
		args = append(args, e.Name+"="+e.Value)
	}
	args = append(args, "EMBATCH_ATTEMPT_TOKEN="+newToken(), "--", t.conn.setsid)
	args = append(args, argv...)
	line, err := remoteCommand(runScript, args...)
	if err != nil {
		return exit{notRun: err, code: -1}, nil
	}
	if ctx.Err() != nil {
		return exit{code: -1, terminated: true, cause: context.Cause(ctx)}, nil
	}
	// Creating the working directory over SFTP spares the host a mkdir
	// process; if it fails, the wrapper's own mkdir -p says why.
	t.conn.mkdirs(c.wd)
	s, release, err := t.conn.session(ctx)
	if err != nil {
		if ctx.Err() != nil && lostOf(ctx, t, nil) == nil {
			return exit{code: -1, terminated: true, cause: context.Cause(ctx)}, nil
		}
		return exit{}, err
	}
	defer release()
	stdin, err := s.StdinPipe()
	if err != nil {
		return exit{}, err
	}
	stdout, err := s.StdoutPipe()
	if err != nil {
		return exit{}, err
	}
	stderr := &limitedBuffer{max: 4096}
	s.Stderr = stderr
	if err := s.Start(line); err != nil {
		return exit{}, err
	}
	lines := make(chan string, 4)
	go func() {
		defer close(lines)
		sc := lineReader(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	var (
		group, final string
		killed       bool
		cancelled    = ctx.Done()
		fallback     <-chan time.Time
		giveUp       <-chan time.Time
	)
read:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break read
			}
			switch {
			case strings.HasPrefix(l, "pgid "):
				group = l
			case strings.HasPrefix(l, "exit "), strings.HasPrefix(l, "notrun "):
				final = l
			}
		case <-cancelled:
			cancelled = nil
			if final != "" {
				continue // it ended on its own
			}
			killed = true
			stdin.Close() // the wrapper's watcher kills the group
			fallback = time.After(b.cfg.killFallback)
		case <-fallback:
			fallback = nil
			if group != "" && lostOf(ctx, t, nil) == nil {
				kctx, cancel := context.WithTimeout(context.Background(), b.cfg.killFallback)
				_, _ = t.conn.output(kctx, killScript, pgid)
				cancel()
			}
			giveUp = time.After(b.cfg.killFallback)
		case <-giveUp:
			giveUp = nil
			s.Close()
		}
	}
	werr := s.Wait()
	if group != "" && t.conn.lost() == nil {
		_ = t.conn.sftp.Remove(pgid) // the group is gone; the file was for a lost connection
	}

	e := exit{code: -1}
	if killed {
		e.terminated = true
		e.cause = context.Cause(ctx)
	}
	switch {
	case strings.HasPrefix(final, "exit "):
		code, err := strconv.Atoi(strings.TrimPrefix(final, "exit "))
		if err != nil {
			return exit{}, fmt.Errorf("the remote wrapper reported %q", final)
		}
		e.ran = true
		e.code = code
		if code > 128 && code <= 128+maxSignal {
			e.signal = syscall.Signal(code - 128)
		}
		return e, nil
	case strings.HasPrefix(final, "notrun "):
		e.notRun = notRunError(argv[0], c.wd, strings.TrimPrefix(final, "notrun "))
		return e, nil
	case killed && lostOf(ctx, t, nil) == nil:
		return e, nil // given up on after the fallback kill
	}
	msg := strings.TrimSpace(stderr.String())
	switch {
	case werr == nil:
		return exit{}, fmt.Errorf("the remote wrapper ended without reporting: %s", msg)
	case msg != "":
		return exit{}, fmt.Errorf("running %s on the host: %w: %s", c.stdout, werr, msg)
	}
	return exit{}, fmt.Errorf("running the command on the host: %w", werr)
}

// notRunError turns runScript's "notrun" report into the message the local
// backend gives for the same failure.
func notRunError(word, wd, report string) error {
	why, detail, _ := strings.Cut(report, " ")
	if detail != "" && !path.IsAbs(detail) {
		detail = path.Join(wd, detail)
	}
	switch why {
	case "path":
		_, pathEnv, _ := strings.Cut(report, " ")
		return fmt.Errorf("program %q not found in PATH %q (command lines run without a shell; relative paths such as ./%s are relative to the working directory)", word, pathEnv, word)
	case "missing":
		return fmt.Errorf("program %q: %s does not exist", word, detail)
	case "dir":
		return fmt.Errorf("program %q: %s is a directory", word, detail)
	case "noexec":
		return fmt.Errorf("program %q: %s is not executable", word, detail)
	}
	return fmt.Errorf("program %q cannot run: %s", word, report)
}

// newToken is a random value that marks one command's processes.
func newToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
