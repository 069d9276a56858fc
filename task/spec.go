// Package task holds the Azure Batch job and task model: the specs users submit
// (with Azure's JSON names), the states and execution records the service keeps,
// validation with Azure's id rules and error codes, exit-condition and retry
// rules, and dependency resolution. It is pure: no I/O, no clock, no
// goroutines, and it imports no other embatch package.
package task

import "encoding/json"

// NameValue is Azure's name/value pair, used for environment settings and
// metadata.
type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// EnvironmentSetting is one environment variable for a task.
type EnvironmentSetting = NameValue

// MetadataItem is one metadata pair; Batch assigns it no meaning.
type MetadataItem = NameValue

// OnAllTasksComplete says what happens to a job when all its tasks are
// complete. The empty value means the default, NoAction.
type OnAllTasksComplete string

// OnAllTasksComplete values.
const (
	OnAllTasksCompleteNoAction     OnAllTasksComplete = "noaction"
	OnAllTasksCompleteTerminateJob OnAllTasksComplete = "terminatejob"
)

// OnTaskFailure says whether a failed task's exitOptions.jobAction is
// honoured. The empty value means the default, NoAction.
type OnTaskFailure string

// OnTaskFailure values.
const (
	OnTaskFailureNoAction                    OnTaskFailure = "noaction"
	OnTaskFailurePerformExitOptionsJobAction OnTaskFailure = "performexitoptionsjobaction"
)

// JobAction is what an exit condition does to the task's job.
type JobAction string

// JobAction values. The empty value means "the default for this outcome".
const (
	JobActionNone      JobAction = "none"
	JobActionDisable   JobAction = "disable"
	JobActionTerminate JobAction = "terminate"
)

// DependencyAction is what an exit condition does to the task's dependents.
type DependencyAction string

// DependencyAction values. The empty value means "the default for this
// outcome" (satisfy on success, block on failure, as in Azure).
const (
	DependencyActionSatisfy DependencyAction = "satisfy"
	DependencyActionBlock   DependencyAction = "block"
)

// JobConstraints are the job's execution limits.
type JobConstraints struct {
	// MaxWallClockTime is measured from job creation; when it expires the job
	// and its running tasks are terminated (reason MaxWallClockTimeExpiry).
	// Nil means no limit.
	MaxWallClockTime *Duration `json:"maxWallClockTime,omitempty"`
	// MaxTaskRetryCount is the default retry count of the job's tasks: 0 (the
	// default) means no retries, -1 unlimited, N up to N+1 tries.
	MaxTaskRetryCount int `json:"maxTaskRetryCount,omitempty"`
}

// PoolInformation names the pool a job runs on: exactly one of PoolID or
// AutoPoolSpecification.
type PoolInformation struct {
	PoolID                string                 `json:"poolId,omitempty"`
	AutoPoolSpecification *AutoPoolSpecification `json:"autoPoolSpecification,omitempty"`
}

// AutoPoolSpecification asks for a pool created for the job. Pool holds the
// pool spec as raw JSON because its type lives in package pool, which task must
// not import; the engine decodes it.
type AutoPoolSpecification struct {
	AutoPoolIDPrefix   string          `json:"autoPoolIdPrefix,omitempty"`
	PoolLifetimeOption string          `json:"poolLifetimeOption,omitempty"`
	KeepAlive          bool            `json:"keepAlive,omitempty"`
	Pool               json.RawMessage `json:"pool,omitempty"`
}

// JobSpec is what a user submits to create a job (Azure's JobAddParameter).
type JobSpec struct {
	ID                        string               `json:"id"`
	DisplayName               string               `json:"displayName,omitempty"`
	Priority                  int                  `json:"priority,omitempty"`
	MaxParallelTasks          *int                 `json:"maxParallelTasks,omitempty"`
	AllowTaskPreemption       bool                 `json:"allowTaskPreemption,omitempty"`
	Constraints               *JobConstraints      `json:"constraints,omitempty"`
	PoolInfo                  PoolInformation      `json:"poolInfo"`
	OnAllTasksComplete        OnAllTasksComplete   `json:"onAllTasksComplete,omitempty"`
	OnTaskFailure             OnTaskFailure        `json:"onTaskFailure,omitempty"`
	UsesTaskDependencies      bool                 `json:"usesTaskDependencies,omitempty"`
	CommonEnvironmentSettings []EnvironmentSetting `json:"commonEnvironmentSettings,omitempty"`
	JobManagerTask            *JobManagerTask      `json:"jobManagerTask,omitempty"`
	JobPreparationTask        *JobPreparationTask  `json:"jobPreparationTask,omitempty"`
	JobReleaseTask            *JobReleaseTask      `json:"jobReleaseTask,omitempty"`
	Metadata                  []MetadataItem       `json:"metadata,omitempty"`
}

// EffectiveMaxParallelTasks is MaxParallelTasks with its default, -1
// (unlimited), filled in.
func (j *JobSpec) EffectiveMaxParallelTasks() int {
	if j.MaxParallelTasks == nil {
		return -1
	}
	return *j.MaxParallelTasks
}

// TaskConstraints are a task's execution limits.
type TaskConstraints struct {
	// MaxWallClockTime is measured from the start of each attempt; nil means
	// no limit. An attempt that exceeds it is killed and fails with
	// failureInfo code "TaskEnded"/"MaxWallClockTimeExpiry".
	MaxWallClockTime *Duration `json:"maxWallClockTime,omitempty"`
	// RetentionTime is how long the task directory is kept after the task
	// completes; nil means Azure's default of 7 days.
	RetentionTime *Duration `json:"retentionTime,omitempty"`
	// MaxTaskRetryCount overrides the job's; nil means the job's value.
	MaxTaskRetryCount *int `json:"maxTaskRetryCount,omitempty"`
}

// TaskIDRange is an inclusive range of integer task ids for dependsOn.
type TaskIDRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// TaskDependencies lists the tasks a task waits for.
type TaskDependencies struct {
	TaskIDs      []string      `json:"taskIds,omitempty"`
	TaskIDRanges []TaskIDRange `json:"taskIdRanges,omitempty"`
}

// AffinityInformation is a soft locality hint: prefer the node whose
// affinityId (its node id in embatch) matches.
type AffinityInformation struct {
	AffinityID string `json:"affinityId"`
}

// ExitOptions say what a task outcome does to the job and to dependents.
type ExitOptions struct {
	JobAction        JobAction        `json:"jobAction,omitempty"`
	DependencyAction DependencyAction `json:"dependencyAction,omitempty"`
}

// ExitCodeMapping maps one exit code to options.
type ExitCodeMapping struct {
	Code        int         `json:"code"`
	ExitOptions ExitOptions `json:"exitOptions"`
}

// ExitCodeRangeMapping maps an inclusive range of exit codes to options.
type ExitCodeRangeMapping struct {
	Start       int         `json:"start"`
	End         int         `json:"end"`
	ExitOptions ExitOptions `json:"exitOptions"`
}

// ExitConditions decide the job action and dependency action of a completed
// task. See Resolve.
type ExitConditions struct {
	ExitCodes          []ExitCodeMapping      `json:"exitCodes,omitempty"`
	ExitCodeRanges     []ExitCodeRangeMapping `json:"exitCodeRanges,omitempty"`
	PreProcessingError *ExitOptions           `json:"preProcessingError,omitempty"`
	FileUploadError    *ExitOptions           `json:"fileUploadError,omitempty"`
	Default            *ExitOptions           `json:"default,omitempty"`
}

// MultiInstanceSettings make a task a gang of NumberOfInstances instances
// that start together on distinct nodes. The coordination command runs on all
// instances, then the main command on the primary.
type MultiInstanceSettings struct {
	NumberOfInstances       int            `json:"numberOfInstances,omitempty"`
	CoordinationCommandLine string         `json:"coordinationCommandLine,omitempty"`
	CommonResourceFiles     []ResourceFile `json:"commonResourceFiles,omitempty"`
}

// Instances is NumberOfInstances with its default, 1, filled in.
func (m *MultiInstanceSettings) Instances() int {
	if m == nil || m.NumberOfInstances == 0 {
		return 1
	}
	return m.NumberOfInstances
}

// ResourceFile is a file put into the task's working directory before its
// command runs. Exactly one source: HTTPURL (http, https, or — for local and
// SSH nodes — file:// naming a file on the engine's machine) or
// StorageContainerURL (a file:// directory standing in for a blob container,
// copied recursively, filtered by BlobPrefix). FilePath is where it lands,
// relative to the working directory, and may not escape it.
type ResourceFile struct {
	HTTPURL             string `json:"httpUrl,omitempty"`
	StorageContainerURL string `json:"storageContainerUrl,omitempty"`
	BlobPrefix          string `json:"blobPrefix,omitempty"`
	FilePath            string `json:"filePath,omitempty"`
	// FileMode is an octal permission string such as "0755"; default "0770".
	FileMode string `json:"fileMode,omitempty"`
}

// OutputFileUploadCondition says when output files are uploaded.
type OutputFileUploadCondition string

// OutputFileUploadCondition values; empty means TaskCompletion.
const (
	UploadOnTaskSuccess    OutputFileUploadCondition = "tasksuccess"
	UploadOnTaskFailure    OutputFileUploadCondition = "taskfailure"
	UploadOnTaskCompletion OutputFileUploadCondition = "taskcompletion"
)

// OutputFileDestination says where output files go. Container is Azure's blob
// container; embatch stands it in with a directory.
type OutputFileDestination struct {
	Container *OutputFileContainerDestination `json:"container,omitempty"`
}

// OutputFileContainerDestination is a container URL and a path in it. For
// local destinations ContainerURL is "file:///dir" or a plain directory path.
type OutputFileContainerDestination struct {
	ContainerURL string `json:"containerUrl"`
	Path         string `json:"path,omitempty"`
}

// OutputFileUploadOptions carry the upload condition.
type OutputFileUploadOptions struct {
	UploadCondition OutputFileUploadCondition `json:"uploadCondition,omitempty"`
}

// OutputFile is a pattern of files to copy out after the task ends.
type OutputFile struct {
	FilePattern   string                  `json:"filePattern"`
	Destination   OutputFileDestination   `json:"destination"`
	UploadOptions OutputFileUploadOptions `json:"uploadOptions"`
}

// TaskSpec is what a user submits to add a task (Azure's TaskAddParameter).
type TaskSpec struct {
	ID                    string                 `json:"id"`
	DisplayName           string                 `json:"displayName,omitempty"`
	CommandLine           string                 `json:"commandLine"`
	ResourceFiles         []ResourceFile         `json:"resourceFiles,omitempty"`
	OutputFiles           []OutputFile           `json:"outputFiles,omitempty"`
	EnvironmentSettings   []EnvironmentSetting   `json:"environmentSettings,omitempty"`
	AffinityInfo          *AffinityInformation   `json:"affinityInfo,omitempty"`
	Constraints           *TaskConstraints       `json:"constraints,omitempty"`
	RequiredSlots         *int                   `json:"requiredSlots,omitempty"`
	DependsOn             *TaskDependencies      `json:"dependsOn,omitempty"`
	ExitConditions        *ExitConditions        `json:"exitConditions,omitempty"`
	MultiInstanceSettings *MultiInstanceSettings `json:"multiInstanceSettings,omitempty"`
}

// Slots is RequiredSlots with its default, 1, filled in.
func (t *TaskSpec) Slots() int {
	if t.RequiredSlots == nil {
		return 1
	}
	return *t.RequiredSlots
}

// MaxRetries is the task's effective maxTaskRetryCount given its job's
// constraints: -1 unlimited, otherwise the number of retries allowed.
func (t *TaskSpec) MaxRetries(job *JobSpec) int {
	if t.Constraints != nil && t.Constraints.MaxTaskRetryCount != nil {
		return *t.Constraints.MaxTaskRetryCount
	}
	if job != nil && job.Constraints != nil {
		return job.Constraints.MaxTaskRetryCount
	}
	return 0
}

// WallClockLimit is the task's maxWallClockTime, or 0 for no limit.
func (t *TaskSpec) WallClockLimit() Duration {
	if t.Constraints == nil || t.Constraints.MaxWallClockTime == nil || *t.Constraints.MaxWallClockTime >= Unlimited {
		return 0
	}
	return *t.Constraints.MaxWallClockTime
}

// JobPreparationTask runs on a node before the first task of the job there.
type JobPreparationTask struct {
	ID                            string               `json:"id,omitempty"`
	CommandLine                   string               `json:"commandLine"`
	ResourceFiles                 []ResourceFile       `json:"resourceFiles,omitempty"`
	EnvironmentSettings           []EnvironmentSetting `json:"environmentSettings,omitempty"`
	Constraints                   *TaskConstraints     `json:"constraints,omitempty"`
	WaitForSuccess                *bool                `json:"waitForSuccess,omitempty"`
	RerunOnNodeRebootAfterSuccess *bool                `json:"rerunOnNodeRebootAfterSuccess,omitempty"`
}

// JobReleaseTask runs on every node that ran the job's preparation task when
// the job ends.
type JobReleaseTask struct {
	ID                  string               `json:"id,omitempty"`
	CommandLine         string               `json:"commandLine"`
	ResourceFiles       []ResourceFile       `json:"resourceFiles,omitempty"`
	EnvironmentSettings []EnvironmentSetting `json:"environmentSettings,omitempty"`
	MaxWallClockTime    *Duration            `json:"maxWallClockTime,omitempty"`
	RetentionTime       *Duration            `json:"retentionTime,omitempty"`
}

// Ptr returns a pointer to v; handy for the optional fields of specs.
func Ptr[T any](v T) *T { return &v }
