package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// stopGrace bounds how long an interrupted run waits for its jobs to end
// (running tasks killed, release tasks run) before closing the account,
// which kills whatever is left. A second interrupt cuts it short.
const stopGrace = 10 * time.Second

// Termination reasons embatch gives the jobs it terminates itself.
const (
	// reasonTasksBlocked: tasks remain that can never run, because a task
	// they depend on failed.
	reasonTasksBlocked = "TasksBlocked"
	// reasonJobDisabled: an exit condition disabled the job.
	reasonJobDisabled = "JobDisabled"
	// reasonPoolUnusable: no node of the job's pool can run tasks.
	reasonPoolUnusable = "PoolUnusable"
)

// execution is one run of a plan on an account.
type execution struct {
	acct *engine.Account
	plan *plan
	env  *cmdEnv
	opts runOptions
	tty  bool

	// added lists the ids of the jobs added to the account, in order.
	added []string
	// interrupted is set when the run was stopped by an interrupt.
	interrupted bool
	// failed is set when the run itself failed (an engine error, a pool
	// with no usable node). Guarded by mu.
	failed bool
	// prog shows progress; nil with --quiet or before the jobs are added.
	prog *progress
	// unusable holds the pools (by folded id) none of whose nodes can run
	// tasks.
	unusable map[string]bool
	// mu guards failed.
	mu sync.Mutex
}

// run creates the pools, waits for their nodes, adds the jobs and their
// tasks, and waits until every job has ended. Jobs that do not end by
// themselves (no onAllTasksComplete, or tasks blocked by failed
// dependencies) are terminated once nothing more can run, so that their
// release tasks run. An interrupt (ctx cancelled) terminates every job
// instead.
func (x *execution) run(ctx context.Context) {
	x.unusable = map[string]bool{}
	x.start(ctx)
	if ctx.Err() != nil {
		x.interrupted = true
		x.stop()
	}
	if x.prog != nil {
		x.prog.stop()
	}
}

// start does the work of run until every job has ended or ctx is done.
func (x *execution) start(ctx context.Context) {
	for _, pp := range x.plan.Pools {
		err := x.acct.CreatePool(ctx, pp.Spec)
		if errors.Is(err, engine.ErrPoolExists) {
			// Left by an earlier run in the data directory (resume.go).
			err = nil
		}
		if err != nil {
			if ctx.Err() == nil {
				x.fail("creating pool %s: %v", pp.Spec.ID, err)
			}
			return
		}
		if !x.opts.quiet {
			x.logf("pool %s: %s, %s each, files in %s", pp.Spec.ID,
				plural(pp.Spec.TargetDedicatedNodes+pp.Spec.TargetLowPriorityNodes, "node", "nodes"),
				plural(pp.Spec.Slots(), "slot", "slots"), x.relative(poolDir(x.opts.dataDir, pp.Spec.ID)))
		}
	}
	for _, pp := range x.plan.Pools {
		if err := x.waitPool(ctx, pp.Spec.ID); err != nil {
			if ctx.Err() == nil {
				x.fail("pool %s: %v", pp.Spec.ID, err)
			}
			return
		}
	}
	if !x.opts.quiet {
		total := 0
		for _, j := range x.plan.Jobs {
			total += len(j.Tasks)
		}
		x.prog = startProgress(x.acct, x.env.Stderr, x.tty, total)
	}
	for _, j := range x.plan.Jobs {
		if err := x.addJob(ctx, j); err != nil {
			if ctx.Err() == nil {
				x.fail("job %s: %v", j.Spec.ID, err)
			}
			return
		}
		x.prog.addJob(j.Spec.ID)
	}
	var wg sync.WaitGroup
	for _, id := range x.added {
		wg.Go(func() { x.settle(ctx, id) })
	}
	wg.Wait()
}

// waitPool waits until the pool's nodes are up and notes a pool none of
// whose nodes can run tasks (their start task failed, say), whose jobs
// would otherwise wait forever.
func (x *execution) waitPool(ctx context.Context, id string) error {
	if err := x.acct.WaitPoolSteady(ctx, id); err != nil {
		return err
	}
	nodes, err := x.acct.ListNodes(ctx, id)
	if err != nil {
		return err
	}
	states := map[pool.NodeState]int{}
	for _, n := range nodes {
		switch n.State {
		case pool.NodeIdle, pool.NodeRunning:
			return nil
		}
		states[n.State]++
	}
	var parts []string
	for s, n := range states {
		parts = append(parts, fmt.Sprintf("%d %s", n, s))
	}
	x.unusable[task.FoldID(id)] = true
	hint := ""
	if states[pool.NodeStartTaskFailed] > 0 {
		hint = fmt.Sprintf("; see the start task's output in %s", x.relative(filepath.Join(poolDir(x.opts.dataDir, id), "nodes", "*", "startup")))
	}
	x.fail("pool %s has no node that can run tasks (%s)%s", id, strings.Join(parts, ", "), hint)
	return nil
}

// addJob adds a job and its tasks (one collection); a job on an unusable
// pool is terminated at once.
func (x *execution) addJob(ctx context.Context, j *plannedJob) error {
	resumed, err := x.addOrResumeJob(ctx, j)
	if err != nil || resumed {
		return err
	}
	if x.unusable[task.FoldID(j.Spec.PoolInfo.PoolID)] {
		return x.acct.TerminateJob(ctx, j.Spec.ID, reasonPoolUnusable)
	}
	return nil
}

// settle waits until a job can make no more progress and, if it has not
// completed by itself, terminates it and waits for it to complete.
func (x *execution) settle(ctx context.Context, id string) {
	j, err := x.acct.WaitJob(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			x.fail("job %s: %v", id, err)
		}
		return
	}
	if j.State == task.JobCompleted {
		return
	}
	reason := reasonTasksBlocked
	if j.State == task.JobDisabled {
		reason = reasonJobDisabled
	} else if c, err := x.acct.TaskCounts(ctx, id); err == nil && c.TaskCounts.Active == 0 && c.TaskCounts.Running == 0 {
		reason = task.TerminateReasonAllTasksComplete
	}
	if err := x.acct.TerminateJob(ctx, id, reason); err != nil {
		if ctx.Err() == nil {
			x.fail("terminating job %s: %v", id, err)
		}
		return
	}
	if _, err := x.acct.WaitJob(ctx, id); err != nil && ctx.Err() == nil {
		x.fail("job %s: %v", id, err)
	}
}

// stop ends an interrupted run: every job is terminated (running tasks
// are killed, release tasks run) and waited for, up to stopGrace or a
// second interrupt.
func (x *execution) stop() {
	x.logf("interrupted: terminating jobs (interrupt again to stop at once)")
	ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	go func() {
		select {
		case <-x.env.Hurry:
			cancel()
		case <-ctx.Done():
		}
	}()
	for _, id := range x.added {
		if err := x.acct.TerminateJob(ctx, id, task.TerminateReasonUser); err != nil && !errors.Is(err, context.Canceled) {
			x.logf("terminating job %s: %v", id, err)
		}
	}
	for _, id := range x.added {
		if _, err := x.acct.WaitJob(ctx, id); err != nil {
			x.logf("stopping at once: tasks still running are killed")
			return
		}
	}
}

// fail notes that the run itself failed and says why.
func (x *execution) fail(format string, args ...any) {
	x.mu.Lock()
	x.failed = true
	x.mu.Unlock()
	x.logf(format, args...)
}

// runFailed reports whether the run itself failed.
func (x *execution) runFailed() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.failed
}

// logf writes a line to stderr.
func (x *execution) logf(format string, args ...any) {
	fmt.Fprintf(x.env.Stderr, "embatch: "+format+"\n", args...)
}

// relative shortens path to be relative to the working directory when it
// is below it.
func (x *execution) relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return rel
	}
	return path
}
