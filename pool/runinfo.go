package pool

import (
	"time"

	"github.com/embatch/embatch/task"
)

// runInfo is the part of a task's record that exists once the task was
// placed, retried or requeued: its execution info and the node it last
// ran on. It holds only what nearly every task that ran has; retries,
// requeues, failure info and anything unusual are in more, which most
// tasks never need. A Candidate allocates it on first use (see
// ensureRun).
type runInfo struct {
	start time.Time
	// endD is executionInfo.endTime as start+endD, if hasEnd; an end time
	// that this would not give back exactly (no start, another location
	// or wall clock) is more.end.
	endD time.Duration
	// nodeID is the node the task last ran on ("" before it was placed);
	// its nodeInfo is {affinityId: nodeID, poolId, nodeId: nodeID,
	// taskRootDirectory: rootDir} unless more.node says otherwise.
	nodeID  string
	rootDir string
	more    *runMore
	// exitCode is the exit code, if hasExit (and not bigExit: then it is
	// more.exitCode).
	exitCode int32
	hasExit  bool
	bigExit  bool
	hasEnd   bool
	result   resultKind
}

// runMore is the rarely needed part of a runInfo.
type runMore struct {
	// exitCode is an exit code that does not fit runInfo.exitCode.
	exitCode int
	// end is an end time that runInfo.endD cannot hold.
	end          time.Time
	retryCount   int
	lastRetry    time.Time
	requeueCount int
	lastRequeue  time.Time
	failure      *task.FailureInfo
	// result is the result when it is neither success nor failure (a
	// restored record), with runInfo.result resultOther.
	result task.TaskResult
	// node is a restored nodeInfo that placement would not have written
	// (affinityId or poolId not derived from nodeId and the pool).
	node *task.NodeInfo
}

// resultKind is a task result in one byte.
type resultKind uint8

const (
	resultNone resultKind = iota
	resultSuccess
	resultFailure
	resultOther // in runMore.result
)

// ensureRun returns the task's runInfo, allocating it on first use.
func (c *Candidate) ensureRun() *runInfo {
	if c.run == nil {
		c.run = &runInfo{}
	}
	return c.run
}

// extra returns the task's runMore, allocating what is missing.
func (c *Candidate) extra() *runMore {
	r := c.ensureRun()
	if r.more == nil {
		r.more = &runMore{}
	}
	return r.more
}

// retryCount is the task's executionInfo.retryCount.
func (c *Candidate) retryCount() int {
	if c.run == nil || c.run.more == nil {
		return 0
	}
	return c.run.more.retryCount
}

// result is the task's executionInfo.result.
func (c *Candidate) result() task.TaskResult {
	if c.run == nil {
		return ""
	}
	switch c.run.result {
	case resultSuccess:
		return task.ResultSuccess
	case resultFailure:
		return task.ResultFailure
	case resultOther:
		return c.run.more.result
	}
	return ""
}

// setResult sets executionInfo.result and failureInfo.
func (c *Candidate) setResult(result task.TaskResult, failure *task.FailureInfo) {
	r := c.ensureRun()
	switch result {
	case "":
		r.result = resultNone
	case task.ResultSuccess:
		r.result = resultSuccess
	case task.ResultFailure:
		r.result = resultFailure
	default:
		r.result = resultOther
		c.extra().result = result
	}
	if failure != nil {
		c.extra().failure = failure
	} else if r.more != nil {
		r.more.failure = nil
	}
}

// setExit sets executionInfo.exitCode to code.
func (c *Candidate) setExit(code int) {
	r := c.ensureRun()
	r.hasExit = true
	r.exitCode, r.bigExit = int32(code), int(int32(code)) != code
	if r.bigExit {
		c.extra().exitCode = code
	}
}

// clearExit clears executionInfo.exitCode.
func (c *Candidate) clearExit() {
	r := c.ensureRun()
	r.exitCode, r.hasExit, r.bigExit = 0, false, false
}

// endTime is executionInfo.endTime.
func (c *Candidate) endTime() time.Time {
	r := c.run
	switch {
	case r == nil:
		return time.Time{}
	case r.hasEnd:
		return r.start.Add(r.endD)
	case r.more != nil:
		return r.more.end
	}
	return time.Time{}
}

// setEnd sets executionInfo.endTime (after the start time, if that
// changes too).
func (c *Candidate) setEnd(t time.Time) {
	r := c.ensureRun()
	r.endD, r.hasEnd = 0, false
	if r.more != nil {
		r.more.end = time.Time{}
	}
	if t.IsZero() {
		return
	}
	// == rather than Equal: the end time given back must be t itself,
	// location and monotonic reading included.
	if d := t.Sub(r.start); !r.start.IsZero() && r.start.Add(d) == t {
		r.endD, r.hasEnd = d, true
		return
	}
	c.extra().end = t
}

// execInfo is the task's executionInfo (zero until it first ran).
func (c *Candidate) execInfo() task.ExecutionInfo {
	r := c.run
	if r == nil {
		return task.ExecutionInfo{}
	}
	e := task.ExecutionInfo{StartTime: r.start, EndTime: c.endTime(), Result: c.result()}
	if r.hasExit {
		code := int(r.exitCode) // a copy: the record's changes with the next attempt
		if r.bigExit {
			code = r.more.exitCode
		}
		e.ExitCode = &code
	}
	if m := r.more; m != nil {
		e.RetryCount, e.LastRetryTime = m.retryCount, m.lastRetry
		e.RequeueCount, e.LastRequeueTime = m.requeueCount, m.lastRequeue
		e.FailureInfo = m.failure
	}
	return e
}

// setExecInfo sets the task's execution info from a record.
func (c *Candidate) setExecInfo(e task.ExecutionInfo) {
	r := c.ensureRun()
	r.start = e.StartTime
	c.setEnd(e.EndTime)
	if e.ExitCode != nil {
		c.setExit(*e.ExitCode)
	}
	c.setResult(e.Result, e.FailureInfo)
	if e.RetryCount != 0 || !e.LastRetryTime.IsZero() || e.RequeueCount != 0 || !e.LastRequeueTime.IsZero() {
		m := c.extra()
		m.retryCount, m.lastRetry = e.RetryCount, e.LastRetryTime
		m.requeueCount, m.lastRequeue = e.RequeueCount, e.LastRequeueTime
	}
}

// placed records that the task was placed on node.
func (c *Candidate) placed(node string) {
	r := c.ensureRun()
	r.nodeID, r.rootDir = node, ""
	if r.more != nil {
		r.more.node = nil
	}
}

// nodeInfo is where the task last ran, nil if it never was placed.
func (c *Candidate) nodeInfo() *task.NodeInfo {
	r := c.run
	if r == nil {
		return nil
	}
	if r.more != nil && r.more.node != nil {
		n := *r.more.node
		return &n
	}
	if r.nodeID == "" {
		return nil
	}
	return &task.NodeInfo{AffinityID: r.nodeID, PoolID: c.job.poolID, NodeID: r.nodeID, TaskRootDirectory: r.rootDir}
}

// setNodeInfo sets the task's nodeInfo from a record.
func (c *Candidate) setNodeInfo(n task.NodeInfo) {
	r := c.ensureRun()
	if n.NodeID != "" && n.AffinityID == n.NodeID && n.PoolID == c.job.poolID {
		r.nodeID, r.rootDir = n.NodeID, n.TaskRootDirectory
		return
	}
	c.extra().node = &n
}

// setRootDir sets nodeInfo.taskRootDirectory.
func (c *Candidate) setRootDir(dir string) {
	r := c.ensureRun()
	if r.more != nil && r.more.node != nil {
		r.more.node.TaskRootDirectory = dir
		return
	}
	r.rootDir = dir
}
