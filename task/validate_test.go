package task_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/embatch/embatch/task"
)

// checkErr checks that err is an *task.Error with the code of sentinel and
// the given Field, or that err is nil when sentinel is nil.
func checkErr(t *testing.T, err error, sentinel *task.Error, field string) {
	t.Helper()
	if sentinel == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error; want %s at %q", sentinel.Code, field)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("error %q: want code %s", err, sentinel.Code)
	}
	var e *task.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *task.Error", err, err)
	}
	if e.Field != field {
		t.Errorf("error %q: Field = %q, want %q", err, e.Field, field)
	}
	if e.Message == "" {
		t.Errorf("error %q has no message", err)
	}
}

var (
	errInvalid = task.ErrInvalidPropertyValue
	errMissing = task.ErrMissingRequiredProperty
	errNoDeps  = task.ErrTaskDependenciesNotAllowed
	errTooLong = &task.Error{Code: "TaskDependencyListTooLong"}
)

func TestValidateID(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		want    *task.Error
		message string // a fragment of the message, if set
	}{
		{"simple", "job-1_A", nil, ""},
		{"digits", "0123456789", nil, ""},
		{"one char", "a", nil, ""},
		{"64 chars", strings.Repeat("a", 64), nil, ""},
		{"65 chars", strings.Repeat("a", 65), errInvalid, "at most 64"},
		{"empty", "", errMissing, ""},
		{"space", "a b", errInvalid, `' ' at position 1`},
		{"dot", "a.b", errInvalid, `'.'`},
		{"slash", "a/b", errInvalid, `'/'`},
		{"colon", "a:b", errInvalid, `':'`},
		{"plus", "+1", errInvalid, `'+'`},
		{"NUL", "a\x00", errInvalid, `'\x00' at position 1`},
		{"newline", "a\n", errInvalid, `'\n'`},
		{"unicode letter", "tâche", errInvalid, `'â' at position 1`},
		{"CJK", "日本", errInvalid, `'日' at position 0`},
		{"invalid UTF-8", "a\xffb", errInvalid, "position 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := task.ValidateID("poolInfo.poolId", tt.id)
			checkErr(t, err, tt.want, "poolInfo.poolId")
			if err == nil {
				return
			}
			var e *task.Error
			errors.As(err, &e)
			if tt.want == errInvalid && e.Value != tt.id {
				t.Errorf("Value = %q, want %q", e.Value, tt.id)
			}
			if tt.message != "" && !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q: want it to mention %q", err, tt.message)
			}
		})
	}
}

func TestFoldID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"ABC", "abc"},
		{"Task-1_X", "task-1_x"},
		{"a-Z_0", "a-z_0"},
		{"123", "123"},
	}
	for _, tt := range tests {
		if got := task.FoldID(tt.in); got != tt.want {
			t.Errorf("FoldID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if task.FoldID("MyTask") != task.FoldID("mytask") || task.FoldID("MyTask") != task.FoldID("MYTASK") {
		t.Error("ids that differ only in case must fold to the same key")
	}
	if task.FoldID("task1") == task.FoldID("task2") {
		t.Error("different ids fold to the same key")
	}
}

// validJob is a minimal valid job; each case breaks one thing.
func validJob() task.JobSpec {
	return task.JobSpec{ID: "job-1", PoolInfo: task.PoolInformation{PoolID: "pool-1"}}
}

func validPrep() *task.JobPreparationTask {
	return &task.JobPreparationTask{CommandLine: "/bin/sh -c 'echo prep'"}
}

func TestJobSpecValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(j *task.JobSpec)
		want   *task.Error
		field  string
	}{
		{"minimal", func(*task.JobSpec) {}, nil, ""},
		{"full", func(j *task.JobSpec) { *j = fullJob() }, nil, ""},

		// id and display name
		{"id empty", func(j *task.JobSpec) { j.ID = "" }, errMissing, "id"},
		{"id bad char", func(j *task.JobSpec) { j.ID = "job 1" }, errInvalid, "id"},
		{"id 64", func(j *task.JobSpec) { j.ID = strings.Repeat("j", 64) }, nil, ""},
		{"id 65", func(j *task.JobSpec) { j.ID = strings.Repeat("j", 65) }, errInvalid, "id"},
		{"displayName 1024 chars", func(j *task.JobSpec) { j.DisplayName = strings.Repeat("é", 1024) }, nil, ""},
		{"displayName 1025 chars", func(j *task.JobSpec) { j.DisplayName = strings.Repeat("x", 1025) }, errInvalid, "displayName"},

		// priority
		{"priority -1000", func(j *task.JobSpec) { j.Priority = -1000 }, nil, ""},
		{"priority 1000", func(j *task.JobSpec) { j.Priority = 1000 }, nil, ""},
		{"priority -1001", func(j *task.JobSpec) { j.Priority = -1001 }, errInvalid, "priority"},
		{"priority 1001", func(j *task.JobSpec) { j.Priority = 1001 }, errInvalid, "priority"},

		// maxParallelTasks
		{"maxParallelTasks -1", func(j *task.JobSpec) { j.MaxParallelTasks = task.Ptr(-1) }, nil, ""},
		{"maxParallelTasks 1", func(j *task.JobSpec) { j.MaxParallelTasks = task.Ptr(1) }, nil, ""},
		{"maxParallelTasks 0", func(j *task.JobSpec) { j.MaxParallelTasks = task.Ptr(0) }, errInvalid, "maxParallelTasks"},
		{"maxParallelTasks -2", func(j *task.JobSpec) { j.MaxParallelTasks = task.Ptr(-2) }, errInvalid, "maxParallelTasks"},

		// constraints
		{"maxTaskRetryCount -1", func(j *task.JobSpec) { j.Constraints = &task.JobConstraints{MaxTaskRetryCount: -1} }, nil, ""},
		{"maxTaskRetryCount -2", func(j *task.JobSpec) { j.Constraints = &task.JobConstraints{MaxTaskRetryCount: -2} },
			errInvalid, "constraints.maxTaskRetryCount"},
		{"maxWallClockTime 0", func(j *task.JobSpec) {
			j.Constraints = &task.JobConstraints{MaxWallClockTime: task.Ptr(task.Duration(0))}
		}, nil, ""},
		{"maxWallClockTime unlimited", func(j *task.JobSpec) {
			j.Constraints = &task.JobConstraints{MaxWallClockTime: task.Ptr(task.Unlimited)}
		}, nil, ""},
		{"maxWallClockTime negative", func(j *task.JobSpec) {
			j.Constraints = &task.JobConstraints{MaxWallClockTime: task.Ptr(task.Duration(-time.Second))}
		}, errInvalid, "constraints.maxWallClockTime"},

		// poolInfo
		{"poolInfo empty", func(j *task.JobSpec) { j.PoolInfo = task.PoolInformation{} }, errMissing, "poolInfo.poolId"},
		{"poolInfo both", func(j *task.JobSpec) {
			j.PoolInfo.AutoPoolSpecification = &task.AutoPoolSpecification{Pool: json.RawMessage(`{}`)}
		}, errInvalid, "poolInfo"},
		{"poolId bad", func(j *task.JobSpec) { j.PoolInfo.PoolID = "pool/1" }, errInvalid, "poolInfo.poolId"},
		{"autoPool", func(j *task.JobSpec) {
			j.PoolInfo = task.PoolInformation{AutoPoolSpecification: &task.AutoPoolSpecification{
				AutoPoolIDPrefix: strings.Repeat("p", 20), PoolLifetimeOption: "job", Pool: json.RawMessage(`{"vmSize":"x"}`)}}
		}, nil, ""},
		{"autoPool jobschedule", func(j *task.JobSpec) {
			j.PoolInfo = task.PoolInformation{AutoPoolSpecification: &task.AutoPoolSpecification{PoolLifetimeOption: "jobschedule", Pool: json.RawMessage(`{}`)}}
		}, nil, ""},
		{"autoPool prefix 21", func(j *task.JobSpec) {
			j.PoolInfo = task.PoolInformation{AutoPoolSpecification: &task.AutoPoolSpecification{AutoPoolIDPrefix: strings.Repeat("p", 21), Pool: json.RawMessage(`{}`)}}
		}, errInvalid, "poolInfo.autoPoolSpecification.autoPoolIdPrefix"},
		{"autoPool lifetime", func(j *task.JobSpec) {
			j.PoolInfo = task.PoolInformation{AutoPoolSpecification: &task.AutoPoolSpecification{PoolLifetimeOption: "forever", Pool: json.RawMessage(`{}`)}}
		}, errInvalid, "poolInfo.autoPoolSpecification.poolLifetimeOption"},
		{"autoPool no pool", func(j *task.JobSpec) {
			j.PoolInfo = task.PoolInformation{AutoPoolSpecification: &task.AutoPoolSpecification{}}
		}, errMissing, "poolInfo.autoPoolSpecification.pool"},

		// enums
		{"onAllTasksComplete noaction", func(j *task.JobSpec) { j.OnAllTasksComplete = task.OnAllTasksCompleteNoAction }, nil, ""},
		{"onAllTasksComplete terminatejob", func(j *task.JobSpec) { j.OnAllTasksComplete = task.OnAllTasksCompleteTerminateJob }, nil, ""},
		{"onAllTasksComplete unknown", func(j *task.JobSpec) { j.OnAllTasksComplete = "terminate" }, errInvalid, "onAllTasksComplete"},
		{"onTaskFailure noaction", func(j *task.JobSpec) { j.OnTaskFailure = task.OnTaskFailureNoAction }, nil, ""},
		{"onTaskFailure perform", func(j *task.JobSpec) { j.OnTaskFailure = task.OnTaskFailurePerformExitOptionsJobAction }, nil, ""},
		{"onTaskFailure unknown", func(j *task.JobSpec) { j.OnTaskFailure = "retry" }, errInvalid, "onTaskFailure"},

		// environment and metadata
		{"env ok", func(j *task.JobSpec) {
			j.CommonEnvironmentSettings = []task.EnvironmentSetting{{Name: "A", Value: ""}, {Name: "a", Value: "x=y"}}
		}, nil, ""},
		{"env no name", func(j *task.JobSpec) {
			j.CommonEnvironmentSettings = []task.EnvironmentSetting{{Name: "A"}, {Value: "v"}}
		}, errMissing, "commonEnvironmentSettings[1].name"},
		{"env name with =", func(j *task.JobSpec) {
			j.CommonEnvironmentSettings = []task.EnvironmentSetting{{Name: "A=B", Value: "v"}}
		}, errInvalid, "commonEnvironmentSettings[0].name"},
		{"env name with NUL", func(j *task.JobSpec) {
			j.CommonEnvironmentSettings = []task.EnvironmentSetting{{Name: "A\x00", Value: "v"}}
		}, errInvalid, "commonEnvironmentSettings[0].name"},
		{"env value with NUL", func(j *task.JobSpec) {
			j.CommonEnvironmentSettings = []task.EnvironmentSetting{{Name: "A", Value: "v\x00w"}}
		}, errInvalid, "commonEnvironmentSettings[0].value"},
		{"env twice", func(j *task.JobSpec) {
			j.CommonEnvironmentSettings = []task.EnvironmentSetting{{Name: "A"}, {Name: "B"}, {Name: "A"}}
		}, errInvalid, "commonEnvironmentSettings[2].name"},
		{"metadata no name", func(j *task.JobSpec) {
			j.Metadata = []task.MetadataItem{{Name: "a", Value: "1"}, {Value: "2"}}
		}, errMissing, "metadata[1].name"},
		{"metadata empty value", func(j *task.JobSpec) { j.Metadata = []task.MetadataItem{{Name: "a"}} }, nil, ""},

		// job preparation task
		{"prep minimal", func(j *task.JobSpec) { j.JobPreparationTask = validPrep() }, nil, ""},
		{"prep bad id", func(j *task.JobSpec) { j.JobPreparationTask = validPrep(); j.JobPreparationTask.ID = "prep!" },
			errInvalid, "jobPreparationTask.id"},
		{"prep no command", func(j *task.JobSpec) { j.JobPreparationTask = &task.JobPreparationTask{CommandLine: " \t"} },
			errMissing, "jobPreparationTask.commandLine"},
		{"prep env", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobPreparationTask.EnvironmentSettings = []task.EnvironmentSetting{{Name: ""}}
		}, errMissing, "jobPreparationTask.environmentSettings[0].name"},
		{"prep resource file", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobPreparationTask.ResourceFiles = []task.ResourceFile{{HTTPURL: "https://h/x", FilePath: "../x"}}
		}, errInvalid, "jobPreparationTask.resourceFiles[0].filePath"},
		{"prep negative retention", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobPreparationTask.Constraints = &task.TaskConstraints{RetentionTime: task.Ptr(task.Duration(-1))}
		}, errInvalid, "jobPreparationTask.constraints.retentionTime"},
		{"prep retry -2", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobPreparationTask.Constraints = &task.TaskConstraints{MaxTaskRetryCount: task.Ptr(-2)}
		}, errInvalid, "jobPreparationTask.constraints.maxTaskRetryCount"},

		// job release task
		{"release without prep", func(j *task.JobSpec) { j.JobReleaseTask = &task.JobReleaseTask{CommandLine: "x"} },
			errInvalid, "jobReleaseTask"},
		{"release minimal", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobReleaseTask = &task.JobReleaseTask{CommandLine: "x"}
		}, nil, ""},
		{"release bad id", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobReleaseTask = &task.JobReleaseTask{ID: "rel ease", CommandLine: "x"}
		}, errInvalid, "jobReleaseTask.id"},
		{"release no command", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobReleaseTask = &task.JobReleaseTask{}
		}, errMissing, "jobReleaseTask.commandLine"},
		{"release env", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobReleaseTask = &task.JobReleaseTask{CommandLine: "x", EnvironmentSettings: []task.EnvironmentSetting{{Name: "A=1"}}}
		}, errInvalid, "jobReleaseTask.environmentSettings[0].name"},
		{"release resource file", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobReleaseTask = &task.JobReleaseTask{CommandLine: "x", ResourceFiles: []task.ResourceFile{{}}}
		}, errInvalid, "jobReleaseTask.resourceFiles[0]"},
		{"release negative wall clock", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobReleaseTask = &task.JobReleaseTask{CommandLine: "x", MaxWallClockTime: task.Ptr(task.Duration(-time.Minute))}
		}, errInvalid, "jobReleaseTask.maxWallClockTime"},
		{"release wall clock 15m", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobReleaseTask = &task.JobReleaseTask{CommandLine: "x", MaxWallClockTime: task.Ptr(task.Duration(15 * time.Minute))}
		}, nil, ""},
		{"release wall clock over 15m", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobReleaseTask = &task.JobReleaseTask{CommandLine: "x", MaxWallClockTime: task.Ptr(task.Duration(15*time.Minute + 1))}
		}, errInvalid, "jobReleaseTask.maxWallClockTime"},
		{"release negative retention", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobReleaseTask = &task.JobReleaseTask{CommandLine: "x", RetentionTime: task.Ptr(task.Duration(-time.Minute))}
		}, errInvalid, "jobReleaseTask.retentionTime"},

		// job manager task
		{"manager ok", func(j *task.JobSpec) { j.JobManagerTask = &task.JobManagerTask{ID: "jm", CommandLine: "x"} }, nil, ""},
		{"manager no id", func(j *task.JobSpec) { j.JobManagerTask = &task.JobManagerTask{CommandLine: "x"} }, errMissing, "jobManagerTask.id"},
		{"manager bad id", func(j *task.JobSpec) { j.JobManagerTask = &task.JobManagerTask{ID: "j m", CommandLine: "x"} }, errInvalid, "jobManagerTask.id"},
		{"manager no command", func(j *task.JobSpec) { j.JobManagerTask = &task.JobManagerTask{ID: "jm"} }, errMissing, "jobManagerTask.commandLine"},
		{"manager zero slots", func(j *task.JobSpec) {
			j.JobManagerTask = &task.JobManagerTask{ID: "jm", CommandLine: "x", RequiredSlots: task.Ptr(0)}
		}, errInvalid, "jobManagerTask.requiredSlots"},
		{"manager env", func(j *task.JobSpec) {
			j.JobManagerTask = &task.JobManagerTask{ID: "jm", CommandLine: "x", EnvironmentSettings: []task.EnvironmentSetting{{Name: "A=1"}}}
		}, errInvalid, "jobManagerTask.environmentSettings[0].name"},
		{"manager retries", func(j *task.JobSpec) {
			j.JobManagerTask = &task.JobManagerTask{ID: "jm", CommandLine: "x", Constraints: &task.TaskConstraints{MaxTaskRetryCount: task.Ptr(-2)}}
		}, errInvalid, "jobManagerTask.constraints.maxTaskRetryCount"},
		{"manager output file", func(j *task.JobSpec) {
			j.JobManagerTask = &task.JobManagerTask{ID: "jm", CommandLine: "x", OutputFiles: []task.OutputFile{{FilePattern: "*"}}}
		}, errMissing, "jobManagerTask.outputFiles[0].destination.container.containerUrl"},
		{"manager id of default prep", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobManagerTask = &task.JobManagerTask{ID: "JobPreparation", CommandLine: "x"}
		}, &task.Error{Code: task.CodeTaskExists}, "jobManagerTask.id"},
		{"manager id of release", func(j *task.JobSpec) {
			j.JobPreparationTask = validPrep()
			j.JobReleaseTask = &task.JobReleaseTask{ID: "rel", CommandLine: "x"}
			j.JobManagerTask = &task.JobManagerTask{ID: "rel", CommandLine: "x"}
		}, &task.Error{Code: task.CodeTaskExists}, "jobManagerTask.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.modify(&j)
			checkErr(t, j.Validate(), tt.want, tt.field)
		})
	}
}

// TestJobSpecValidateValues checks that the errors carry the offending value
// as the user wrote it.
func TestJobSpecValidateValues(t *testing.T) {
	tests := []struct {
		name   string
		modify func(j *task.JobSpec)
		value  string
	}{
		{"priority", func(j *task.JobSpec) { j.Priority = 1001 }, "1001"},
		{"maxParallelTasks", func(j *task.JobSpec) { j.MaxParallelTasks = task.Ptr(-2) }, "-2"},
		{"onTaskFailure", func(j *task.JobSpec) { j.OnTaskFailure = "retry" }, "retry"},
		{"negative duration", func(j *task.JobSpec) {
			j.Constraints = &task.JobConstraints{MaxWallClockTime: task.Ptr(task.Duration(-90 * time.Second))}
		}, "-PT1M30S"},
		{"long display name is cut on a character", func(j *task.JobSpec) { j.DisplayName = strings.Repeat("é", 1025) },
			strings.Repeat("é", 32) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.modify(&j)
			var e *task.Error
			if err := j.Validate(); !errors.As(err, &e) {
				t.Fatalf("Validate() = %v, want a *task.Error", err)
			}
			if e.Value != tt.value {
				t.Errorf("Value = %q, want %q", e.Value, tt.value)
			}
			if !strings.Contains(e.Error(), fmt.Sprintf("%q", tt.value)) {
				t.Errorf("Error() = %q does not quote the value", e.Error())
			}
		})
	}
}

func validTask() task.TaskSpec {
	return task.TaskSpec{ID: "t1", CommandLine: "/bin/echo hi"}
}

var (
	depsJob  = &task.JobSpec{ID: "deps", UsesTaskDependencies: true, OnTaskFailure: task.OnTaskFailurePerformExitOptionsJobAction}
	plainJob = &task.JobSpec{ID: "plain"}
)

func TestTaskSpecValidate(t *testing.T) {
	tests := []struct {
		name   string
		job    *task.JobSpec
		modify func(t *task.TaskSpec)
		want   *task.Error
		field  string
	}{
		{"minimal", plainJob, func(*task.TaskSpec) {}, nil, ""},
		{"minimal no job", nil, func(*task.TaskSpec) {}, nil, ""},
		{"full", depsJob, func(ts *task.TaskSpec) { *ts = fullTask() }, nil, ""},

		// id, display name, command line
		{"id empty", plainJob, func(ts *task.TaskSpec) { ts.ID = "" }, errMissing, "id"},
		{"id bad", plainJob, func(ts *task.TaskSpec) { ts.ID = "t.1" }, errInvalid, "id"},
		{"id 65", plainJob, func(ts *task.TaskSpec) { ts.ID = strings.Repeat("t", 65) }, errInvalid, "id"},
		{"displayName too long", plainJob, func(ts *task.TaskSpec) { ts.DisplayName = strings.Repeat("d", 1025) }, errInvalid, "displayName"},
		{"commandLine empty", plainJob, func(ts *task.TaskSpec) { ts.CommandLine = "" }, errMissing, "commandLine"},
		{"commandLine blank", plainJob, func(ts *task.TaskSpec) { ts.CommandLine = " \t\n" }, errMissing, "commandLine"},

		// environment
		{"env no name", plainJob, func(ts *task.TaskSpec) { ts.EnvironmentSettings = []task.EnvironmentSetting{{Value: "v"}} },
			errMissing, "environmentSettings[0].name"},
		{"env =", plainJob, func(ts *task.TaskSpec) {
			ts.EnvironmentSettings = []task.EnvironmentSetting{{Name: "OK"}, {Name: "=X"}}
		}, errInvalid, "environmentSettings[1].name"},
		{"env twice", plainJob, func(ts *task.TaskSpec) {
			ts.EnvironmentSettings = []task.EnvironmentSetting{{Name: "X", Value: "1"}, {Name: "X", Value: "2"}}
		}, errInvalid, "environmentSettings[1].name"},
		{"env differs in case", plainJob, func(ts *task.TaskSpec) {
			ts.EnvironmentSettings = []task.EnvironmentSetting{{Name: "X"}, {Name: "x"}}
		}, nil, ""},
		{"env NUL value", plainJob, func(ts *task.TaskSpec) {
			ts.EnvironmentSettings = []task.EnvironmentSetting{{Name: "X", Value: "\x00"}}
		}, errInvalid, "environmentSettings[0].value"},

		// requiredSlots
		{"requiredSlots 1", plainJob, func(ts *task.TaskSpec) { ts.RequiredSlots = task.Ptr(1) }, nil, ""},
		{"requiredSlots 4", plainJob, func(ts *task.TaskSpec) { ts.RequiredSlots = task.Ptr(4) }, nil, ""},
		{"requiredSlots 0", plainJob, func(ts *task.TaskSpec) { ts.RequiredSlots = task.Ptr(0) }, errInvalid, "requiredSlots"},
		{"requiredSlots -1", plainJob, func(ts *task.TaskSpec) { ts.RequiredSlots = task.Ptr(-1) }, errInvalid, "requiredSlots"},

		// constraints
		{"constraints ok", plainJob, func(ts *task.TaskSpec) {
			ts.Constraints = &task.TaskConstraints{MaxWallClockTime: task.Ptr(task.Unlimited), RetentionTime: task.Ptr(task.Duration(0)), MaxTaskRetryCount: task.Ptr(-1)}
		}, nil, ""},
		{"maxWallClockTime negative", plainJob, func(ts *task.TaskSpec) {
			ts.Constraints = &task.TaskConstraints{MaxWallClockTime: task.Ptr(task.Duration(-1))}
		}, errInvalid, "constraints.maxWallClockTime"},
		{"retentionTime negative", plainJob, func(ts *task.TaskSpec) {
			ts.Constraints = &task.TaskConstraints{RetentionTime: task.Ptr(task.Duration(-time.Hour))}
		}, errInvalid, "constraints.retentionTime"},
		{"maxTaskRetryCount -2", plainJob, func(ts *task.TaskSpec) {
			ts.Constraints = &task.TaskConstraints{MaxTaskRetryCount: task.Ptr(-2)}
		}, errInvalid, "constraints.maxTaskRetryCount"},

		// affinity
		{"affinity ok", plainJob, func(ts *task.TaskSpec) { ts.AffinityInfo = &task.AffinityInformation{AffinityID: "node-1"} }, nil, ""},
		{"affinity empty", plainJob, func(ts *task.TaskSpec) { ts.AffinityInfo = &task.AffinityInformation{} }, errMissing, "affinityInfo.affinityId"},

		// dependencies
		{"dependsOn without usesTaskDependencies", plainJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{TaskIDs: []string{"a"}}
		}, errNoDeps, "dependsOn"},
		{"dependsOn ranges without usesTaskDependencies", plainJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 1, End: 2}}}
		}, errNoDeps, "dependsOn"},
		{"empty dependsOn is fine without usesTaskDependencies", plainJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{}
		}, nil, ""},
		{"dependsOn unknown job", nil, func(ts *task.TaskSpec) { ts.DependsOn = &task.TaskDependencies{TaskIDs: []string{"a"}} }, nil, ""},
		{"dependsOn ok", depsJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{TaskIDs: []string{"a", "b"}, TaskIDRanges: []task.TaskIDRange{{Start: 0, End: 0}, {Start: 2, End: 9}}}
		}, nil, ""},
		{"dependsOn bad id", depsJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{TaskIDs: []string{"a", "b c"}}
		}, errInvalid, "dependsOn.taskIds[1]"},
		{"dependsOn empty id", depsJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{TaskIDs: []string{""}}
		}, errMissing, "dependsOn.taskIds[0]"},
		{"self dependency", depsJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{TaskIDs: []string{"a", "t1"}}
		}, errInvalid, "dependsOn.taskIds[1]"},
		{"self dependency ignoring case", depsJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{TaskIDs: []string{"T1"}}
		}, errInvalid, "dependsOn.taskIds[0]"},
		{"dependency ids at 64000 chars", depsJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{TaskIDs: manyIDs(1000)}
		}, nil, ""},
		{"dependency ids over 64000 chars", depsJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{TaskIDs: manyIDs(1001)}
		}, errTooLong, "dependsOn.taskIds"},
		{"range negative start", depsJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: -1, End: 3}}}
		}, errInvalid, "dependsOn.taskIdRanges[0].start"},
		{"range end before start", depsJob, func(ts *task.TaskSpec) {
			ts.DependsOn = &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 1, End: 2}, {Start: 5, End: 4}}}
		}, errInvalid, "dependsOn.taskIdRanges[1].end"},
		{"range includes self", depsJob, func(ts *task.TaskSpec) {
			ts.ID = "5"
			ts.DependsOn = &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 1, End: 5}}}
		}, errInvalid, "dependsOn.taskIdRanges[0]"},
		{"range includes self with leading zero", depsJob, func(ts *task.TaskSpec) {
			ts.ID = "007"
			ts.DependsOn = &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 7, End: 7}}}
		}, errInvalid, "dependsOn.taskIdRanges[0]"},
		{"range excludes self", depsJob, func(ts *task.TaskSpec) {
			ts.ID = "6"
			ts.DependsOn = &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 1, End: 5}, {Start: 7, End: 9}}}
		}, nil, ""},

		// exit conditions
		{"exit conditions ok", depsJob, func(ts *task.TaskSpec) { ts.ExitConditions = fullTask().ExitConditions }, nil, ""},
		{"unknown jobAction", depsJob, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{Default: &task.ExitOptions{JobAction: "fail"}}
		}, errInvalid, "exitConditions.default.jobAction"},
		{"unknown jobAction without job", nil, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{Default: &task.ExitOptions{JobAction: "Terminate"}}
		}, errInvalid, "exitConditions.default.jobAction"},
		{"unknown dependencyAction", depsJob, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{PreProcessingError: &task.ExitOptions{DependencyAction: "cancel"}}
		}, errInvalid, "exitConditions.preProcessingError.dependencyAction"},
		{"unknown dependencyAction in fileUploadError", depsJob, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{FileUploadError: &task.ExitOptions{DependencyAction: "skip"}}
		}, errInvalid, "exitConditions.fileUploadError.dependencyAction"},
		{"unknown jobAction in exitCodes", depsJob, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{ExitCodes: []task.ExitCodeMapping{
				{Code: 1, ExitOptions: task.ExitOptions{JobAction: task.JobActionNone}},
				{Code: 2, ExitOptions: task.ExitOptions{JobAction: "requeue"}},
			}}
		}, errInvalid, "exitConditions.exitCodes[1].exitOptions.jobAction"},
		{"exit range end before start", depsJob, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{ExitCodeRanges: []task.ExitCodeRangeMapping{{Start: 10, End: 9}}}
		}, errInvalid, "exitConditions.exitCodeRanges[0].end"},
		{"exit range bad options", depsJob, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{ExitCodeRanges: []task.ExitCodeRangeMapping{{Start: 1, End: 9, ExitOptions: task.ExitOptions{DependencyAction: "x"}}}}
		}, errInvalid, "exitConditions.exitCodeRanges[0].exitOptions.dependencyAction"},
		{"exit range negative codes", depsJob, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{ExitCodeRanges: []task.ExitCodeRangeMapping{{Start: -5, End: -1}}}
		}, nil, ""},
		{"terminate without performexitoptionsjobaction", plainJob, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{Default: &task.ExitOptions{JobAction: task.JobActionTerminate}}
		}, errInvalid, "exitConditions.default.jobAction"},
		{"disable with onTaskFailure noaction", &task.JobSpec{ID: "j", OnTaskFailure: task.OnTaskFailureNoAction}, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{ExitCodes: []task.ExitCodeMapping{{Code: 3, ExitOptions: task.ExitOptions{JobAction: task.JobActionDisable}}}}
		}, errInvalid, "exitConditions.exitCodes[0].exitOptions.jobAction"},
		{"none without performexitoptionsjobaction", plainJob, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{Default: &task.ExitOptions{JobAction: task.JobActionNone, DependencyAction: task.DependencyActionSatisfy}}
		}, nil, ""},
		{"terminate with unknown job", nil, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{Default: &task.ExitOptions{JobAction: task.JobActionTerminate}}
		}, nil, ""},
		{"disable with performexitoptionsjobaction", depsJob, func(ts *task.TaskSpec) {
			ts.ExitConditions = &task.ExitConditions{FileUploadError: &task.ExitOptions{JobAction: task.JobActionDisable}}
		}, nil, ""},

		// multi-instance
		{"multi-instance ok", plainJob, func(ts *task.TaskSpec) {
			ts.MultiInstanceSettings = &task.MultiInstanceSettings{NumberOfInstances: 3, CoordinationCommandLine: "coord"}
		}, nil, ""},
		{"multi-instance 1 without coordination", plainJob, func(ts *task.TaskSpec) {
			ts.MultiInstanceSettings = &task.MultiInstanceSettings{NumberOfInstances: 1}
		}, nil, ""},
		{"multi-instance default count", plainJob, func(ts *task.TaskSpec) {
			ts.MultiInstanceSettings = &task.MultiInstanceSettings{}
		}, nil, ""},
		{"multi-instance negative", plainJob, func(ts *task.TaskSpec) {
			ts.MultiInstanceSettings = &task.MultiInstanceSettings{NumberOfInstances: -1, CoordinationCommandLine: "c"}
		}, errInvalid, "multiInstanceSettings.numberOfInstances"},
		{"multi-instance no coordination", plainJob, func(ts *task.TaskSpec) {
			ts.MultiInstanceSettings = &task.MultiInstanceSettings{NumberOfInstances: 2, CoordinationCommandLine: "  "}
		}, errMissing, "multiInstanceSettings.coordinationCommandLine"},
		{"multi-instance 2 slots", plainJob, func(ts *task.TaskSpec) {
			ts.RequiredSlots = task.Ptr(2)
			ts.MultiInstanceSettings = &task.MultiInstanceSettings{NumberOfInstances: 2, CoordinationCommandLine: "c"}
		}, errInvalid, "requiredSlots"},
		{"multi-instance 1 explicit slot", plainJob, func(ts *task.TaskSpec) {
			ts.RequiredSlots = task.Ptr(1)
			ts.MultiInstanceSettings = &task.MultiInstanceSettings{NumberOfInstances: 2, CoordinationCommandLine: "c"}
		}, nil, ""},
		{"multi-instance bad common resource file", plainJob, func(ts *task.TaskSpec) {
			ts.MultiInstanceSettings = &task.MultiInstanceSettings{NumberOfInstances: 2, CoordinationCommandLine: "c",
				CommonResourceFiles: []task.ResourceFile{{HTTPURL: "https://h/a", FilePath: "a"}, {HTTPURL: "https://h/b"}}}
		}, errMissing, "multiInstanceSettings.commonResourceFiles[1].filePath"},

		// output files
		{"output file ok", plainJob, func(ts *task.TaskSpec) {
			ts.OutputFiles = []task.OutputFile{outFile("**/*.txt", task.UploadOnTaskSuccess), outFile("[!a]?.log", task.UploadOnTaskFailure),
				outFile("out", task.UploadOnTaskCompletion), outFile("/abs/*", "")}
		}, nil, ""},
		{"output no pattern", plainJob, func(ts *task.TaskSpec) {
			ts.OutputFiles = []task.OutputFile{outFile("a", ""), outFile("", "")}
		}, errMissing, "outputFiles[1].filePattern"},
		{"output bad pattern", plainJob, func(ts *task.TaskSpec) { ts.OutputFiles = []task.OutputFile{outFile("[a-", "")} },
			errInvalid, "outputFiles[0].filePattern"},
		{"output no container", plainJob, func(ts *task.TaskSpec) {
			ts.OutputFiles = []task.OutputFile{{FilePattern: "a"}}
		}, errMissing, "outputFiles[0].destination.container.containerUrl"},
		{"output empty container url", plainJob, func(ts *task.TaskSpec) {
			o := outFile("a", "")
			o.Destination.Container.ContainerURL = ""
			ts.OutputFiles = []task.OutputFile{o}
		}, errMissing, "outputFiles[0].destination.container.containerUrl"},
		{"output unknown condition", plainJob, func(ts *task.TaskSpec) {
			ts.OutputFiles = []task.OutputFile{outFile("a", "always")}
		}, errInvalid, "outputFiles[0].uploadOptions.uploadCondition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := validTask()
			tt.modify(&ts)
			checkErr(t, ts.Validate(tt.job), tt.want, tt.field)
		})
	}
}

func manyIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%064d", i) // 64 characters each
	}
	return ids
}

func outFile(pattern string, cond task.OutputFileUploadCondition) task.OutputFile {
	return task.OutputFile{
		FilePattern:   pattern,
		Destination:   task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: "file:///out", Path: "p"}},
		UploadOptions: task.OutputFileUploadOptions{UploadCondition: cond},
	}
}

func TestResourceFileValidate(t *testing.T) {
	tests := []struct {
		name  string
		rf    task.ResourceFile
		want  *task.Error
		field string // after "resourceFiles[0]"
	}{
		{"http", task.ResourceFile{HTTPURL: "http://h/a", FilePath: "a"}, nil, ""},
		{"https nested", task.ResourceFile{HTTPURL: "https://h/a?sas=1", FilePath: "dir/sub/a.txt"}, nil, ""},
		{"file url", task.ResourceFile{HTTPURL: "file:///data/in.csv", FilePath: "in.csv"}, nil, ""},
		{"container", task.ResourceFile{StorageContainerURL: "file:///data/blobs"}, nil, ""},
		{"container with prefix and dir", task.ResourceFile{StorageContainerURL: "file:///data", BlobPrefix: "inputs/", FilePath: "in"}, nil, ""},
		{"container into wd", task.ResourceFile{StorageContainerURL: "file:///data", FilePath: "."}, nil, ""},
		{"dot-dot inside name", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "..a/b..c/..."}, nil, ""},
		{"dot-dot that stays inside", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a/../b"}, nil, ""},
		{"mode 0755", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a", FileMode: "0755"}, nil, ""},
		{"mode 7777", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a", FileMode: "7777"}, nil, ""},
		{"mode 0", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a", FileMode: "0"}, nil, ""},

		{"no source", task.ResourceFile{FilePath: "a"}, errInvalid, ""},
		{"two sources", task.ResourceFile{HTTPURL: "https://h/a", StorageContainerURL: "file:///d", FilePath: "a"}, errInvalid, ""},
		{"ftp", task.ResourceFile{HTTPURL: "ftp://h/a", FilePath: "a"}, errInvalid, ".httpUrl"},
		{"no scheme", task.ResourceFile{HTTPURL: "h/a", FilePath: "a"}, errInvalid, ".httpUrl"},
		{"unparsable url", task.ResourceFile{HTTPURL: "http://h/%zz", FilePath: "a"}, errInvalid, ".httpUrl"},
		{"http without filePath", task.ResourceFile{HTTPURL: "https://h/a"}, errMissing, ".filePath"},
		{"http with blobPrefix", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a", BlobPrefix: "x/"}, errInvalid, ".blobPrefix"},
		{"http into wd itself", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a/.."}, errInvalid, ".filePath"},
		{"https container", task.ResourceFile{StorageContainerURL: "https://acct.blob.core.windows.net/c"}, errInvalid, ".storageContainerUrl"},
		{"plain path container", task.ResourceFile{StorageContainerURL: "/data"}, errInvalid, ".storageContainerUrl"},
		{"escape ..", task.ResourceFile{HTTPURL: "https://h/a", FilePath: ".."}, errInvalid, ".filePath"},
		{"escape ../x", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "../x"}, errInvalid, ".filePath"},
		{"escape a/../../x", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a/../../x"}, errInvalid, ".filePath"},
		{"escape container dir", task.ResourceFile{StorageContainerURL: "file:///d", FilePath: "x/../.."}, errInvalid, ".filePath"},
		{"absolute", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "/etc/passwd"}, errInvalid, ".filePath"},
		{"escape with backslashes", task.ResourceFile{HTTPURL: "https://h/a", FilePath: `..\x`}, errInvalid, ".filePath"},
		{"escape mixed separators", task.ResourceFile{HTTPURL: "https://h/a", FilePath: `a\..\..\x`}, errInvalid, ".filePath"},
		{"windows absolute", task.ResourceFile{HTTPURL: "https://h/a", FilePath: `C:\Windows\x`}, errInvalid, ".filePath"},
		{"windows root", task.ResourceFile{HTTPURL: "https://h/a", FilePath: `\x`}, errInvalid, ".filePath"},
		{"mode not octal", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a", FileMode: "0789"}, errInvalid, ".fileMode"},
		{"mode symbolic", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a", FileMode: "rwx"}, errInvalid, ".fileMode"},
		{"mode too big", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a", FileMode: "17777"}, errInvalid, ".fileMode"},
		{"mode signed", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a", FileMode: "-755"}, errInvalid, ".fileMode"},
		{"mode 0o prefix", task.ResourceFile{HTTPURL: "https://h/a", FilePath: "a", FileMode: "0o755"}, errInvalid, ".fileMode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := validTask()
			ts.ResourceFiles = []task.ResourceFile{{HTTPURL: "https://h/ok", FilePath: "ok"}, tt.rf}
			checkErr(t, ts.Validate(plainJob), tt.want, "resourceFiles[1]"+tt.field)
		})
	}
}
