package scenario

import (
	"fmt"
	"strings"

	"github.com/embatch/embatch/pool"
)

// The decision trace is one line per Action, in a form both drivers can
// write: the simulator from pool.Action, the engine from what its node
// backend was asked to do (the fake backend's call log). It is
// pool.Action.String without what a backend is not told: the slots an
// attempt holds and the reason for a kill.

// AllocateLine is the trace line of allocating node (dedicated or
// low-priority).
func AllocateLine(node string, dedicated bool) string {
	if dedicated {
		return "allocate " + node + " dedicated"
	}
	return "allocate " + node + " lowpriority"
}

// ReleaseLine is the trace line of releasing node.
func ReleaseLine(node string) string { return "release " + node }

// StartLine is the trace line of starting attempt id of kind ("task",
// "starttask", "jobpreparation" or "jobrelease") for jobID/taskID (both
// empty for a start task) on nodes, primary first, at retry count retry.
func StartLine(id uint64, kind, jobID, taskID string, nodes []string, retry int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "start #%d %s", id, kind)
	if jobID != "" {
		fmt.Fprintf(&b, " %s/%s", jobID, taskID)
	}
	fmt.Fprintf(&b, " on %s", strings.Join(nodes, ","))
	if retry > 0 {
		fmt.Fprintf(&b, " retry=%d", retry)
	}
	return b.String()
}

// KillLine is the trace line of killing attempt id of jobID/taskID.
func KillLine(id uint64, jobID, taskID string) string {
	s := fmt.Sprintf("kill #%d", id)
	if jobID != "" {
		s += " " + jobID + "/" + taskID
	}
	return s
}

// ActionLine is the trace line of a core Action.
func ActionLine(a pool.Action) string {
	switch a.Kind {
	case pool.ActAllocateNode:
		return AllocateLine(a.Node, a.Dedicated)
	case pool.ActReleaseNode:
		return ReleaseLine(a.Node)
	case pool.ActStartAttempt:
		at := a.Attempt
		return StartLine(at.ID, at.Kind.String(), at.JobID, at.TaskID, at.Nodes, at.Retry)
	case pool.ActKillAttempt:
		return KillLine(a.Attempt.ID, a.Attempt.JobID, a.Attempt.TaskID)
	}
	return "invalid action"
}
