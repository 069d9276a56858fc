package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// run carries out attempt a and returns its result, with EndTime set.
func (b *Backend) run(ctx context.Context, a *node.Attempt) node.Result {
	res := node.Result{StartTime: time.Now()}
	res = b.runAttempt(ctx, a, res)
	res.EndTime = time.Now()
	return res
}

func (b *Backend) runAttempt(ctx context.Context, a *node.Attempt, res node.Result) node.Result {
	nodes, err := b.attemptNodes(a)
	if err != nil {
		return node.ServerErrorResult(res, err)
	}
	primary := nodes[0]
	taskDir := primary.layout.AttemptDir(a)
	res.TaskRootDirectory = taskDir
	wd := node.WorkingDir(taskDir)
	if err := os.MkdirAll(wd, 0o755); err != nil {
		return node.ServerErrorResult(res, err)
	}

	// A multi-instance task's own resource files go to the primary only,
	// before the coordination phase so that its command can use them too.
	if err := b.fetchResourceFiles(ctx, wd, "resourceFiles", a.ResourceFiles); err != nil {
		if ctx.Err() != nil {
			return node.TerminatedResult(res, context.Cause(ctx))
		}
		return node.PreProcessingResult(res, task.FailureResourceFile, err)
	}
	if a.MultiInstance() {
		failed, ok := node.RunInstances(ctx, nodes, func(ctx context.Context, n *localNode) (node.Result, bool) {
			return b.runInstance(ctx, a, n, res)
		})
		if !ok {
			return failed
		}
	}
	e, err := b.runCommand(ctx, command{
		line:   a.CommandLine,
		wd:     wd,
		stdout: filepath.Join(taskDir, node.StdoutFile),
		stderr: filepath.Join(taskDir, node.StderrFile),
		env:    b.environ(a, primary),
	})
	if err != nil {
		return node.ServerErrorResult(res, err)
	}
	if e.notRun != nil {
		return node.PreProcessingResult(res, task.FailureCommandNotFound, e.notRun)
	}
	res.Kind = task.OutcomeExited
	res.ExitCode = e.code
	res.FailureInfo = node.ExitFailure(e.terminated, e.cause, e.signal)
	if len(a.OutputFiles) > 0 {
		if err := b.uploadOutputFiles(ctx, a.OutputFiles, taskDir, wd, e.code); err != nil {
			res.Kind = task.OutcomeFileUploadError
			if res.FailureInfo == nil { // a termination says more than an upload error
				res.FailureInfo = node.Failure(task.UserError, task.FailureFileUpload, "%v", err)
			}
		}
	}
	return res
}

// attemptNodes returns the nodes of a's instances, primary first, after
// checking the ids that become path elements.
func (b *Backend) attemptNodes(a *node.Attempt) ([]*localNode, error) {
	if a.Kind < node.KindTask || a.Kind > node.KindJobRelease {
		return nil, fmt.Errorf("attempt %d: invalid kind %d", a.ID, a.Kind)
	}
	if a.Kind != node.KindStartTask {
		if err := task.ValidateID("jobId", a.JobID); err != nil {
			return nil, err
		}
		if err := task.ValidateID("taskId", a.TaskID); err != nil {
			return nil, err
		}
	}
	ids := a.InstanceNodes()
	if len(a.Nodes) > 0 && a.Nodes[0] != a.NodeID {
		return nil, fmt.Errorf("attempt %d: nodeId %q is not the first of nodes %q", a.ID, a.NodeID, a.Nodes)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	nodes := make([]*localNode, len(ids))
	for i, id := range ids {
		n, ok := b.nodes[id]
		if !ok {
			return nil, task.Errorf(task.CodeNodeNotFound, "nodeId", id, "the node is not up on this backend")
		}
		nodes[i] = n
	}
	return nodes, nil
}

// environ is the complete environment of a's commands on node n.
func (b *Backend) environ(a *node.Attempt, n *localNode) []string {
	ec := node.EnvContext{NodeID: n.info.NodeID, HostAddress: b.addressOf, MasterPort: b.cfg.masterPort}
	return node.MergeEnviron(b.cfg.baseEnv, node.BatchEnv(a, n.layout, ec))
}

// addressOf is HostAddress without the found flag: a node that went away
// mid-attempt is named by its id.
func (b *Backend) addressOf(nodeID string) string {
	if addr, ok := b.HostAddress(nodeID); ok {
		return addr
	}
	return nodeID
}

// runInstance is node n's part of a multi-instance task's instance phase,
// which node.RunInstances runs on every node at once: common resource files
// into the task directory, then the coordination command (if any). ok is
// false when the attempt failed; the result is the attempt's then.
func (b *Backend) runInstance(ctx context.Context, a *node.Attempt, n *localNode, res node.Result) (node.Result, bool) {
	id := n.info.NodeID
	taskDir := n.layout.AttemptDir(a)
	wd := node.WorkingDir(taskDir)
	if err := os.MkdirAll(wd, 0o755); err != nil {
		return node.ServerErrorResult(res, fmt.Errorf("node %s: %w", id, err)), false
	}
	if err := b.fetchResourceFiles(ctx, taskDir, "commonResourceFiles", a.CommonResourceFiles); err != nil {
		if ctx.Err() != nil {
			return node.TerminatedResult(res, context.Cause(ctx)), false
		}
		return node.PreProcessingResult(res, task.FailureResourceFile, fmt.Errorf("node %s: %w", id, err)), false
	}
	if a.CoordinationCommandLine == "" {
		return res, true
	}
	e, err := b.runCommand(ctx, command{
		line:   a.CoordinationCommandLine,
		wd:     wd,
		stdout: filepath.Join(taskDir, node.CoordinationStdoutFile),
		stderr: filepath.Join(taskDir, node.CoordinationStderrFile),
		env:    b.environ(a, n),
	})
	switch {
	case err != nil:
		return node.ServerErrorResult(res, fmt.Errorf("node %s: %w", id, err)), false
	case e.notRun != nil:
		return node.PreProcessingResult(res, task.FailureCommandNotFound, fmt.Errorf("coordination command on node %s: %w", id, e.notRun)), false
	case e.code == 0 && !e.terminated:
		return res, true
	}
	res.Kind = task.OutcomeExited
	res.ExitCode = e.code
	res.FailureInfo = node.CoordinationFailure(id, e.code, e.terminated, e.cause, e.signal)
	return res, false
}
