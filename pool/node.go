package pool

import (
	"fmt"
	"time"

	"github.com/embatch/embatch/task"
)

// NodeState is a compute node's Azure state. The zero value is invalid.
type NodeState uint8

// Node states (Azure's names).
const (
	NodeStateInvalid NodeState = iota
	NodeCreating
	NodeStarting
	NodeWaitingForStartTask
	NodeStartTaskFailed
	NodeIdle
	NodeRunning
	NodeOffline
	NodeLeavingPool
	NodePreempted
	NodeUnusable
	NodeUnknown
	NodeRebooting
)

var nodeStateNames = [...]string{"", "creating", "starting", "waitingforstarttask", "starttaskfailed",
	"idle", "running", "offline", "leavingpool", "preempted", "unusable", "unknown", "rebooting"}

// String returns Azure's name.
func (s NodeState) String() string {
	if s != NodeStateInvalid && int(s) < len(nodeStateNames) {
		return nodeStateNames[s]
	}
	return fmt.Sprintf("NodeState(%d)", uint8(s))
}

// MarshalText writes Azure's name.
func (s NodeState) MarshalText() ([]byte, error) {
	if s == NodeStateInvalid || int(s) >= len(nodeStateNames) {
		return nil, fmt.Errorf("invalid node state %d", uint8(s))
	}
	return []byte(nodeStateNames[s]), nil
}

// UnmarshalText reads Azure's name.
func (s *NodeState) UnmarshalText(b []byte) error {
	for i, n := range nodeStateNames {
		if i > 0 && n == string(b) {
			*s = NodeState(i)
			return nil
		}
	}
	return task.Invalid("state", string(b), "unknown node state")
}

// SchedulingState says whether a node accepts new tasks.
type SchedulingState string

// SchedulingState values.
const (
	SchedulingEnabled  SchedulingState = "enabled"
	SchedulingDisabled SchedulingState = "disabled"
)

// DeallocationOption says what happens to running tasks when nodes leave a
// pool or stop taking tasks. Empty means Requeue, Azure's default.
type DeallocationOption string

// DeallocationOption values.
const (
	// DeallocRequeue kills running tasks and requeues them (requeueCount+1).
	DeallocRequeue DeallocationOption = "requeue"
	// DeallocTerminate kills running tasks; they complete as failed.
	DeallocTerminate DeallocationOption = "terminate"
	// DeallocTaskCompletion lets running tasks finish and starts no new ones.
	DeallocTaskCompletion DeallocationOption = "taskcompletion"
	// DeallocRetainedData is TaskCompletion; embatch keeps task data with
	// the account, so there is nothing more to wait for.
	DeallocRetainedData DeallocationOption = "retaineddata"
)

func (o DeallocationOption) validate(field string) error {
	switch o {
	case "", DeallocRequeue, DeallocTerminate, DeallocTaskCompletion, DeallocRetainedData:
		return nil
	}
	return task.Invalid(field, o, "want requeue, terminate, taskcompletion or retaineddata")
}

func (o DeallocationOption) orDefault() DeallocationOption {
	if o == "" {
		return DeallocRequeue
	}
	return o
}

// AllocationState is a pool's Azure allocation state.
type AllocationState string

// AllocationState values.
const (
	AllocationSteady   AllocationState = "steady"
	AllocationResizing AllocationState = "resizing"
	AllocationStopping AllocationState = "stopping"
)

// StartTaskInfo is the state of a node's start task.
type StartTaskInfo struct {
	State       string            `json:"state"` // running | completed
	StartTime   time.Time         `json:"startTime,omitzero"`
	EndTime     time.Time         `json:"endTime,omitzero"`
	ExitCode    *int              `json:"exitCode,omitempty"`
	Result      task.TaskResult   `json:"result,omitempty"`
	RetryCount  int               `json:"retryCount"`
	FailureInfo *task.FailureInfo `json:"failureInfo,omitempty"`
}

// Node is Azure's ComputeNode record.
type Node struct {
	ID                    string          `json:"id"`
	State                 NodeState       `json:"state"`
	SchedulingState       SchedulingState `json:"schedulingState"`
	StateTransitionTime   time.Time       `json:"stateTransitionTime,omitzero"`
	AllocationTime        time.Time       `json:"allocationTime,omitzero"`
	IsDedicated           bool            `json:"isDedicated"`
	AffinityID            string          `json:"affinityId"`
	VMSize                string          `json:"vmSize,omitempty"`
	RunningTasksCount     int             `json:"runningTasksCount"`
	RunningTaskSlotsCount int             `json:"runningTaskSlotsCount"`
	TotalTasksRun         int             `json:"totalTasksRun"`
	TotalTasksSucceeded   int             `json:"totalTasksSucceeded"`
	StartTaskInfo         *StartTaskInfo  `json:"startTaskInfo,omitempty"`
}

// ResizeError is Azure's resize error.
type ResizeError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Pool is Azure's CloudPool record.
type Pool struct {
	Spec
	CreationTime              time.Time       `json:"creationTime,omitzero"`
	State                     string          `json:"state"` // active | deleting
	AllocationState           AllocationState `json:"allocationState"`
	AllocationStateTransition time.Time       `json:"allocationStateTransitionTime,omitzero"`
	CurrentDedicatedNodes     int             `json:"currentDedicatedNodes"`
	CurrentLowPriorityNodes   int             `json:"currentLowPriorityNodes"`
	ResizeErrors              []ResizeError   `json:"resizeErrors,omitempty"`
	AutoScaleRun              *AutoScaleRun   `json:"autoScaleRun,omitempty"`
}
