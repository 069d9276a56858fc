// Package node defines the backend SPI through which the engine runs work on
// compute nodes, the value types that cross it, and helpers shared by
// backends (Azure's directory layout, AZ_BATCH_* environment, command-line
// splitting). Backends live in subpackages: inprocess (Go handlers on pond
// worker pools), local (local processes), ssh (SSH hosts) and fake (a
// scriptable in-memory backend for tests).
//
// The required interface is small (Backend). Optional capabilities, such as
// reading task files, are found by type assertion, as database/sql/driver does.
package node

import (
	"context"
	"time"

	"github.com/embatch/embatch/task"
)

// Kind says what an attempt runs.
type Kind uint8

// Attempt kinds. The zero value is invalid.
const (
	KindInvalid Kind = iota
	// KindTask is a job's task (for a multi-instance task: the whole gang).
	KindTask
	// KindStartTask is a pool's start task, run in the node's startup dir.
	KindStartTask
	// KindJobPreparation runs before the job's first task on a node.
	KindJobPreparation
	// KindJobRelease runs on each node that ran the preparation task when
	// the job ends.
	KindJobRelease
)

var kindNames = [...]string{"invalid", "task", "starttask", "jobpreparation", "jobrelease"}

// String names the kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// NodeInfo describes a node the engine asks a backend to bring up.
type NodeInfo struct {
	PoolID string
	NodeID string
	// Slots is the pool's taskSlotsPerNode: how many slots the node offers.
	Slots     int
	Dedicated bool
}

// Attempt is one run of a command: a task attempt, a start task, or a job
// preparation or release task. The engine builds it from the scheduler's
// decision; a backend must not modify it.
type Attempt struct {
	// ID is unique within the account for the life of the process.
	ID     uint64
	Kind   Kind
	PoolID string
	JobID  string // empty for start tasks
	TaskID string // the task id, or the prep/release task id
	// NodeID is where the command runs. For a multi-instance task it is the
	// primary, and Nodes lists every instance's node, primary first.
	NodeID    string
	Nodes     []string
	Dedicated bool
	// CommandLine is run without a shell: it is split into words (quotes
	// respected) and the first word is the program. Write "/bin/sh -c '...'"
	// to get a shell.
	CommandLine string
	// CoordinationCommandLine runs on every instance of a multi-instance task
	// before CommandLine runs on the primary.
	CoordinationCommandLine string
	// Env holds the job's common settings then the task's own (later wins);
	// backends add the AZ_BATCH_* variables (see BatchEnv).
	Env           []task.EnvironmentSetting
	ResourceFiles []task.ResourceFile
	// CommonResourceFiles are a multi-instance task's files for every
	// instance, put in the task directory rather than the working directory.
	CommonResourceFiles []task.ResourceFile
	OutputFiles         []task.OutputFile
	// JobHasPreparation tells backends to set AZ_BATCH_JOB_PREP_* variables.
	JobHasPreparation bool
	// Retry is the attempt number within the task: 0 for the first try.
	Retry int
}

// Result is how an attempt ended. Backends fill Kind and ExitCode always, and
// FailureInfo when the attempt did not simply exit (pre-processing error,
// upload error, signal, panic).
type Result struct {
	Kind        task.OutcomeKind
	ExitCode    int
	FailureInfo *task.FailureInfo
	StartTime   time.Time
	EndTime     time.Time
	// TaskRootDirectory is where the task's files live on the node.
	TaskRootDirectory string
}

// Backend runs attempts on nodes. Implementations must be safe for
// concurrent use.
type Backend interface {
	// AddNode brings a node up (creates its directories, connects to its
	// host). It may block; the engine calls it from its own goroutine. An
	// error makes the node unusable.
	AddNode(ctx context.Context, n NodeInfo) error
	// RemoveNode releases a node. Running attempts on it have already been
	// cancelled by the engine.
	RemoveNode(ctx context.Context, nodeID string) error
	// Start begins attempt a and returns without waiting for it. done must
	// be called exactly once, from any goroutine, when the attempt ends.
	// Cancelling ctx kills the attempt (for processes: the whole process
	// group) and done then reports the outcome of the kill.
	Start(ctx context.Context, a *Attempt, done func(Result))
}

// FileInfo describes one file of a task or node directory.
type FileInfo struct {
	// Name is the path relative to the task directory, with '/' separators,
	// for example "stdout.txt" or "wd/out/result.csv".
	Name          string    `json:"name"`
	IsDirectory   bool      `json:"isDirectory"`
	ContentLength int64     `json:"contentLength"`
	LastModified  time.Time `json:"lastModified"`
	FileMode      string    `json:"fileMode,omitempty"`
}

// FileReader is an optional Backend capability: reading a task's files.
// Paths are relative to the task directory and must not escape it.
type FileReader interface {
	ListTaskFiles(ctx context.Context, nodeID, jobID, taskID string, recursive bool) ([]FileInfo, error)
	ReadTaskFile(ctx context.Context, nodeID, jobID, taskID, name string) ([]byte, error)
}

// TaskDirRemover is an optional Backend capability: deleting a completed
// task's directory when its retention time expires or its job is deleted.
type TaskDirRemover interface {
	RemoveTaskDir(ctx context.Context, nodeID, jobID, taskID string) error
}

// Closer is an optional Backend capability: releasing everything the
// backend holds when the account closes.
type Closer interface {
	Close() error
}

// NodeHealth is what a NodeEvent reports.
type NodeHealth uint8

// NodeHealth values. The zero value is invalid.
const (
	HealthInvalid NodeHealth = iota
	// NodeLost: the node stopped answering; its attempts are gone.
	NodeLost
	// NodePreempted: a low-priority node was taken back.
	NodePreempted
	// NodeBack: a lost or preempted node answers again.
	NodeBack
)

// NodeEvent reports a change in a node's health that no attempt reported.
type NodeEvent struct {
	NodeID string
	Health NodeHealth
	Reason string
}

// NodeWatcher is an optional Backend capability for backends that can lose
// nodes (SSH hosts, preemptible machines). The engine calls WatchNodes once,
// before AddNode, with a function that is safe to call from any goroutine.
// A backend may also report a lost node through an attempt's Result with
// FailureInfo code task.FailureNodeLost.
type NodeWatcher interface {
	WatchNodes(report func(NodeEvent))
}
