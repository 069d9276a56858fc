package pool

import (
	"fmt"
	"strings"
	"time"

	"github.com/embatch/embatch/task"
)

// Event is an input to Scheduler.Step. The concrete types below are the only
// events; each says what happened or what a user asked for.
type Event interface{ isEvent() }

// AddJob binds a new job to the pool.
type AddJob struct{ Spec task.JobSpec }

// AddTasks adds tasks to a job, all or nothing: if any task is invalid (bad
// spec, duplicate id, missing dependency target, dependency cycle) Step
// returns an error naming it and nothing is added.
type AddTasks struct {
	JobID string
	// Tasks are the tasks to add. The core copies them: the caller may
	// reuse the slice.
	Tasks []task.TaskSpec
	// Specs, an alternative to Tasks (set one of them), are the tasks by
	// pointer. The core keeps these pointers instead of copying the specs,
	// so the specs must never change afterwards. The simulator passes its
	// workload's specs this way, saving a copy per task.
	Specs []*task.TaskSpec
}

// AttemptExited reports that an attempt ended on its node(s).
type AttemptExited struct {
	ID       uint64
	Outcome  task.OutcomeKind
	ExitCode int
	Failure  *task.FailureInfo
	// TaskRootDirectory is where the attempt's files are on the node.
	TaskRootDirectory string
}

// NodeReady reports that a node is allocated and booted (or came back after
// being lost or preempted).
type NodeReady struct{ Node string }

// NodeFailed reports that a node stopped: lost contact (Unusable), or a
// low-priority node was preempted (Preempted). Its running tasks are
// requeued.
type NodeFailed struct {
	Node      string
	Preempted bool
	Reason    string
}

// Resize sets new target node counts. Allowed only when the pool is steady.
type Resize struct {
	TargetDedicatedNodes   int
	TargetLowPriorityNodes int
	// Timeout overrides the pool's resizeTimeout when positive.
	Timeout            time.Duration
	DeallocationOption DeallocationOption
}

// StopResize stops a resize in progress; nodes that have not arrived are
// released and the targets stay as they were.
type StopResize struct{}

// RemoveNodes removes named nodes from the pool, lowering its targets.
type RemoveNodes struct {
	Nodes              []string
	DeallocationOption DeallocationOption
}

// SetNodeScheduling enables or disables task scheduling on a node. Option
// applies when disabling: requeue (default), terminate or taskcompletion.
type SetNodeScheduling struct {
	Node    string
	Enabled bool
	Option  DeallocationOption
}

// TerminateTask ends a task: a running attempt is killed and the task
// completes as failed; an active task completes at once.
type TerminateTask struct{ JobID, TaskID string }

// TerminateJob ends a job: running tasks are killed, release tasks run, and
// the job completes with Reason (default "UserTerminate").
type TerminateJob struct{ JobID, Reason string }

// DisableJobOption says what happens to a disabled job's running tasks.
type DisableJobOption string

// DisableJobOption values; empty means requeue.
const (
	DisableRequeue   DisableJobOption = "requeue"
	DisableTerminate DisableJobOption = "terminate"
	DisableWait      DisableJobOption = "wait"
)

// DisableJob stops scheduling a job's tasks.
type DisableJob struct {
	JobID  string
	Option DisableJobOption
}

// EnableJob resumes scheduling a disabled job.
type EnableJob struct{ JobID string }

// DeleteJob kills a job's running tasks and forgets the job once they have
// exited.
type DeleteJob struct{ JobID string }

// DeletePool releases every node (requeueing running tasks, which then have
// nowhere to run) and marks the pool deleting.
type DeletePool struct{}

// Tick only advances time, firing deadlines that are due.
type Tick struct{}

func (AddJob) isEvent()            {}
func (AddTasks) isEvent()          {}
func (AttemptExited) isEvent()     {}
func (NodeReady) isEvent()         {}
func (NodeFailed) isEvent()        {}
func (Resize) isEvent()            {}
func (StopResize) isEvent()        {}
func (RemoveNodes) isEvent()       {}
func (SetNodeScheduling) isEvent() {}
func (TerminateTask) isEvent()     {}
func (TerminateJob) isEvent()      {}
func (DisableJob) isEvent()        {}
func (EnableJob) isEvent()         {}
func (DeleteJob) isEvent()         {}
func (DeletePool) isEvent()        {}
func (Tick) isEvent()              {}

// AttemptKind says what an attempt runs.
type AttemptKind uint8

// Attempt kinds. The zero value is invalid.
const (
	AttemptInvalid AttemptKind = iota
	AttemptTask
	AttemptStartTask
	AttemptJobPreparation
	AttemptJobRelease
)

var attemptKindNames = [...]string{"invalid", "task", "starttask", "jobpreparation", "jobrelease"}

// String names the kind.
func (k AttemptKind) String() string {
	if int(k) < len(attemptKindNames) {
		return attemptKindNames[k]
	}
	return "invalid"
}

// Attempt is one run the scheduler decided: a task attempt on its node(s), a
// start task, or a job preparation or release task. The scheduler owns it;
// drivers read it and must not modify it.
type Attempt struct {
	ID   uint64
	Kind AttemptKind
	// JobID and TaskID name the task (TaskID is the prep/release task id for
	// those kinds; both are empty for start tasks).
	JobID  string
	TaskID string
	// Nodes are where it runs, primary first; more than one only for
	// multi-instance tasks.
	Nodes []string
	// Slots is the slots held on each node (0 for start/prep/release).
	Slots int
	// Retry is the task's retryCount when this attempt started.
	Retry int
	// Start is when the scheduler started it; Deadline is when it will be
	// killed for exceeding maxWallClockTime (zero: never).
	Start    time.Time
	Deadline time.Time
	// Queued is when the task last became active (ready or waiting) before
	// this attempt; zero for start, preparation and release tasks.
	Queued time.Time
	// Dedicated is whether the primary node is dedicated.
	Dedicated bool
	// Job and Task point at the specs (Task is nil except for AttemptTask).
	Job       *task.JobSpec
	Task      *task.TaskSpec
	StartTask *StartTask
}

// ActionKind says what a driver must do.
type ActionKind uint8

// Action kinds. The zero value is invalid.
const (
	ActionInvalid ActionKind = iota
	// ActAllocateNode: bring up node Node (Dedicated says which kind); answer
	// with NodeReady or NodeFailed.
	ActAllocateNode
	// ActReleaseNode: the node has left the pool; release it.
	ActReleaseNode
	// ActStartAttempt: start Attempt; answer with AttemptExited.
	ActStartAttempt
	// ActKillAttempt: kill Attempt (for Reason); its AttemptExited follows.
	ActKillAttempt
)

// Action is an output of the scheduler for a driver to perform.
type Action struct {
	Kind      ActionKind
	Node      string
	Dedicated bool
	Attempt   *Attempt
	Reason    string
}

// String renders the action as one line of a decision trace.
func (a Action) String() string {
	switch a.Kind {
	case ActAllocateNode:
		kind := "dedicated"
		if !a.Dedicated {
			kind = "lowpriority"
		}
		return fmt.Sprintf("allocate %s %s", a.Node, kind)
	case ActReleaseNode:
		return "release " + a.Node
	case ActStartAttempt:
		at := a.Attempt
		var b strings.Builder
		fmt.Fprintf(&b, "start #%d %s", at.ID, at.Kind)
		if at.JobID != "" {
			fmt.Fprintf(&b, " %s/%s", at.JobID, at.TaskID)
		}
		fmt.Fprintf(&b, " on %s", strings.Join(at.Nodes, ","))
		if at.Slots > 1 {
			fmt.Fprintf(&b, " slots=%d", at.Slots)
		}
		if at.Retry > 0 {
			fmt.Fprintf(&b, " retry=%d", at.Retry)
		}
		return b.String()
	case ActKillAttempt:
		at := a.Attempt
		s := fmt.Sprintf("kill #%d", at.ID)
		if at.JobID != "" {
			s += " " + at.JobID + "/" + at.TaskID
		}
		return s + " (" + a.Reason + ")"
	}
	return "invalid action"
}

// ChangeKind says which record changed.
type ChangeKind uint8

// Change kinds. The zero value is invalid.
const (
	ChangeInvalid ChangeKind = iota
	ChangePool
	ChangeNode
	ChangeNodeRemoved
	ChangeJob
	ChangeJobDeleted
	ChangeTask
	// ChangeTaskDeleted: a completed task was compacted (see CompactTasks);
	// NodeID is where it last ran, if anywhere.
	ChangeTaskDeleted
)

// Change says that a record changed and must be persisted (read the record
// from the scheduler) and may be published to subscribers. Changes of one
// record may repeat in one Ready; the last state is what matters.
type Change struct {
	Kind   ChangeKind
	JobID  string
	TaskID string
	NodeID string
	// TaskState, JobState and NodeState are the new state of that record.
	TaskState task.TaskState
	JobState  task.JobState
	NodeState NodeState
}

// Ready is what the scheduler asks of its driver: persist Changes, then
// perform Actions in order, then call Advance.
type Ready struct {
	Changes []Change
	Actions []Action
}

// Empty reports whether there is nothing to do.
func (r Ready) Empty() bool { return len(r.Changes) == 0 && len(r.Actions) == 0 }
