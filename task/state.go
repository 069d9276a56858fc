package task

import (
	"fmt"
	"time"
)

// TaskState is a task's Azure state. The zero value is invalid so that a
// forgotten assignment is caught.
type TaskState uint8

// Task states, in lifecycle order.
const (
	TaskStateInvalid TaskState = iota
	TaskActive
	TaskPreparing
	TaskRunning
	TaskCompleted
)

var taskStateNames = [...]string{"", "active", "preparing", "running", "completed"}

// String returns Azure's name of the state.
func (s TaskState) String() string {
	if int(s) < len(taskStateNames) && s != TaskStateInvalid {
		return taskStateNames[s]
	}
	return fmt.Sprintf("TaskState(%d)", uint8(s))
}

// MarshalText writes Azure's name.
func (s TaskState) MarshalText() ([]byte, error) {
	if s == TaskStateInvalid || int(s) >= len(taskStateNames) {
		return nil, fmt.Errorf("invalid task state %d", uint8(s))
	}
	return []byte(taskStateNames[s]), nil
}

// UnmarshalText reads Azure's name.
func (s *TaskState) UnmarshalText(b []byte) error {
	for i, n := range taskStateNames {
		if i > 0 && n == string(b) {
			*s = TaskState(i)
			return nil
		}
	}
	return Invalid("state", string(b), "unknown task state; want active, preparing, running or completed")
}

// ParseTaskState parses Azure's name of a task state.
func ParseTaskState(s string) (TaskState, error) {
	var t TaskState
	err := t.UnmarshalText([]byte(s))
	return t, err
}

// JobState is a job's Azure state. The zero value is invalid.
type JobState uint8

// Job states.
const (
	JobStateInvalid JobState = iota
	JobActive
	JobDisabling
	JobDisabled
	JobEnabling
	JobTerminating
	JobCompleted
	JobDeleting
)

var jobStateNames = [...]string{"", "active", "disabling", "disabled", "enabling", "terminating", "completed", "deleting"}

// String returns Azure's name of the state.
func (s JobState) String() string {
	if int(s) < len(jobStateNames) && s != JobStateInvalid {
		return jobStateNames[s]
	}
	return fmt.Sprintf("JobState(%d)", uint8(s))
}

// MarshalText writes Azure's name.
func (s JobState) MarshalText() ([]byte, error) {
	if s == JobStateInvalid || int(s) >= len(jobStateNames) {
		return nil, fmt.Errorf("invalid job state %d", uint8(s))
	}
	return []byte(jobStateNames[s]), nil
}

// UnmarshalText reads Azure's name.
func (s *JobState) UnmarshalText(b []byte) error {
	for i, n := range jobStateNames {
		if i > 0 && n == string(b) {
			*s = JobState(i)
			return nil
		}
	}
	return Invalid("state", string(b), "unknown job state")
}

// TaskResult is the outcome of a completed task.
type TaskResult string

// TaskResult values.
const (
	ResultSuccess TaskResult = "success"
	ResultFailure TaskResult = "failure"
)

// ErrorCategory is Azure's failure category.
type ErrorCategory string

// ErrorCategory values.
const (
	UserError   ErrorCategory = "usererror"
	ServerError ErrorCategory = "servererror"
)

// FailureInfo says why a task failed.
type FailureInfo struct {
	Category ErrorCategory `json:"category"`
	Code     string        `json:"code,omitempty"`
	Message  string        `json:"message,omitempty"`
	Details  []NameValue   `json:"details,omitempty"`
}

// Failure codes embatch reports in FailureInfo.Code.
const (
	FailureNonZeroExit          = "FailureExitCode"
	FailureMaxWallClockTime     = "MaxWallClockTimeExpiry"
	FailureTaskTerminated       = "TaskEnded"
	FailureResourceFile         = "ResourceFileDownloadError"
	FailureFileUpload           = "FileUploadError"
	FailureCommandNotFound      = "CommandProgramNotFound"
	FailureTaskPanicked         = "TaskPanicked"
	FailureSignaled             = "ProcessSignaled"
	FailureJobTerminated        = "JobTerminated"
	FailureNodeDeallocated      = "NodeDeallocated"
	FailureMultiInstanceFailure = "SubtaskFailed"
	// FailureNodeLost (category servererror) in a backend's result says the
	// attempt's node went away; the engine then treats the node as lost and
	// requeues the task rather than failing it.
	FailureNodeLost = "NodeLost"
)

// ExecutionInfo is Azure's TaskExecutionInformation.
type ExecutionInfo struct {
	StartTime       time.Time    `json:"startTime,omitzero"`
	EndTime         time.Time    `json:"endTime,omitzero"`
	ExitCode        *int         `json:"exitCode,omitempty"`
	Result          TaskResult   `json:"result,omitempty"`
	RetryCount      int          `json:"retryCount"`
	LastRetryTime   time.Time    `json:"lastRetryTime,omitzero"`
	RequeueCount    int          `json:"requeueCount"`
	LastRequeueTime time.Time    `json:"lastRequeueTime,omitzero"`
	FailureInfo     *FailureInfo `json:"failureInfo,omitempty"`
}

// NodeInfo says where a task ran (its most recent attempt).
type NodeInfo struct {
	AffinityID        string `json:"affinityId,omitempty"`
	PoolID            string `json:"poolId"`
	NodeID            string `json:"nodeId"`
	TaskRootDirectory string `json:"taskRootDirectory,omitempty"`
}

// Task is Azure's CloudTask: the spec plus the state the service keeps.
type Task struct {
	TaskSpec
	CreationTime        time.Time     `json:"creationTime,omitzero"`
	State               TaskState     `json:"state"`
	StateTransitionTime time.Time     `json:"stateTransitionTime,omitzero"`
	PreviousState       TaskState     `json:"previousState,omitzero"`
	ExecutionInfo       ExecutionInfo `json:"executionInfo"`
	NodeInfo            *NodeInfo     `json:"nodeInfo,omitempty"`
}

// TaskCounts are Azure's job task counts. Running includes preparing.
type TaskCounts struct {
	Active    int `json:"active"`
	Running   int `json:"running"`
	Completed int `json:"completed"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// JobTaskCounts pairs task counts with slot counts, as Azure's getTaskCounts.
type JobTaskCounts struct {
	TaskCounts     TaskCounts `json:"taskCounts"`
	TaskSlotCounts TaskCounts `json:"taskSlotCounts"`
}

// JobExecutionInfo is Azure's JobExecutionInformation.
type JobExecutionInfo struct {
	StartTime         time.Time `json:"startTime,omitzero"`
	EndTime           time.Time `json:"endTime,omitzero"`
	PoolID            string    `json:"poolId,omitempty"`
	TerminationReason string    `json:"terminateReason,omitempty"`
}

// Job termination reasons, as Azure reports them.
const (
	TerminateReasonAllTasksComplete = "AllTasksComplete"
	TerminateReasonMaxWallClockTime = "MaxWallClockTimeExpiry"
	TerminateReasonTaskFailed       = "TaskFailed"
	TerminateReasonUser             = "UserTerminate"
)

// Job is Azure's CloudJob: the spec plus the state the service keeps.
type Job struct {
	JobSpec
	CreationTime        time.Time        `json:"creationTime,omitzero"`
	State               JobState         `json:"state"`
	StateTransitionTime time.Time        `json:"stateTransitionTime,omitzero"`
	PreviousState       JobState         `json:"previousState,omitzero"`
	ExecutionInfo       JobExecutionInfo `json:"executionInfo"`
}
