package task

import "strings"

// TerminateReasonJMComplete is the terminateReason of a job ended because
// its job manager task completed with killJobOnCompletion set.
const TerminateReasonJMComplete = "JMComplete"

// JobManagerTask is Azure's JobManagerTask: a task created with its job and
// scheduled before the job's other tasks, typically to add and supervise
// them. applicationPackageReferences, authenticationTokenSettings,
// userIdentity and containerSettings are not supported.
type JobManagerTask struct {
	ID                  string               `json:"id"`
	DisplayName         string               `json:"displayName,omitempty"`
	CommandLine         string               `json:"commandLine"`
	ResourceFiles       []ResourceFile       `json:"resourceFiles,omitempty"`
	OutputFiles         []OutputFile         `json:"outputFiles,omitempty"`
	EnvironmentSettings []EnvironmentSetting `json:"environmentSettings,omitempty"`
	Constraints         *TaskConstraints     `json:"constraints,omitempty"`
	// RequiredSlots is the slots the task needs; nil means 1.
	RequiredSlots *int `json:"requiredSlots,omitempty"`
	// KillJobOnCompletion terminates the job (reason JMComplete) when the
	// job manager completes, killing its running tasks; nil means true.
	KillJobOnCompletion *bool `json:"killJobOnCompletion,omitempty"`
	// RunExclusive keeps every other task off the job manager's node while
	// it runs; it then waits for a node with all slots free. Nil means true.
	RunExclusive *bool `json:"runExclusive,omitempty"`
	// AllowLowPriorityNode lets the job manager run on a low-priority (spot)
	// node; nil means true.
	AllowLowPriorityNode *bool `json:"allowLowPriorityNode,omitempty"`
}

// KillsJob is KillJobOnCompletion with its default, true, filled in.
func (m *JobManagerTask) KillsJob() bool {
	return m.KillJobOnCompletion == nil || *m.KillJobOnCompletion
}

// Exclusive is RunExclusive with its default, true, filled in.
func (m *JobManagerTask) Exclusive() bool { return m.RunExclusive == nil || *m.RunExclusive }

// AllowsLowPriority is AllowLowPriorityNode with its default, true, filled
// in.
func (m *JobManagerTask) AllowsLowPriority() bool {
	return m.AllowLowPriorityNode == nil || *m.AllowLowPriorityNode
}

// TaskSpec is the job manager as an ordinary task of its job: the fields a
// TaskSpec has, copied.
func (m *JobManagerTask) TaskSpec() TaskSpec {
	return TaskSpec{
		ID:                  m.ID,
		DisplayName:         m.DisplayName,
		CommandLine:         m.CommandLine,
		ResourceFiles:       m.ResourceFiles,
		OutputFiles:         m.OutputFiles,
		EnvironmentSettings: m.EnvironmentSettings,
		Constraints:         m.Constraints,
		RequiredSlots:       m.RequiredSlots,
	}
}

// IsJobManager reports whether taskID names the job manager task of j
// (ids compare ignoring case, as all Batch ids do).
func (j *JobSpec) IsJobManager(taskID string) bool {
	return j.JobManagerTask != nil && strings.EqualFold(j.JobManagerTask.ID, taskID)
}

// validateJobManager checks j's job manager task, if any, with the rules of
// an ordinary task; fields are named under jobManagerTask.
func (j *JobSpec) validateJobManager() error {
	m := j.JobManagerTask
	if m == nil {
		return nil
	}
	ts := m.TaskSpec()
	if err := ts.Validate(j); err != nil {
		return prefixed("jobManagerTask", err)
	}
	if p := j.JobPreparationTask; p != nil && strings.EqualFold(orDefault(p.ID, "jobpreparation"), m.ID) {
		return Errorf(CodeTaskExists, "jobManagerTask.id", m.ID, "the same id as the job preparation task")
	}
	if r := j.JobReleaseTask; r != nil && strings.EqualFold(orDefault(r.ID, "jobrelease"), m.ID) {
		return Errorf(CodeTaskExists, "jobManagerTask.id", m.ID, "the same id as the job release task")
	}
	return nil
}

// orDefault is id, or def when id is empty.
func orDefault(id, def string) string {
	if id == "" {
		return def
	}
	return id
}
