package task_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/task"
)

func dur(d time.Duration) *task.Duration { return task.Ptr(task.Duration(d)) }

func fullResourceFiles() []task.ResourceFile {
	return []task.ResourceFile{
		{HTTPURL: "https://example.com/setup.sh", FilePath: "setup.sh", FileMode: "0755"},
		{StorageContainerURL: "file:///data/assets", BlobPrefix: "textures/", FilePath: "assets"},
	}
}

// fullJob is a valid job with every field set (except autoPoolSpecification,
// which excludes poolId; see fullAutoPoolJob).
func fullJob() task.JobSpec {
	return task.JobSpec{
		ID:                        "job-7",
		DisplayName:               "Nightly render",
		Priority:                  100,
		MaxParallelTasks:          task.Ptr(4),
		AllowTaskPreemption:       true,
		Constraints:               &task.JobConstraints{MaxWallClockTime: dur(26 * time.Hour), MaxTaskRetryCount: 3},
		PoolInfo:                  task.PoolInformation{PoolID: "render-pool"},
		OnAllTasksComplete:        task.OnAllTasksCompleteTerminateJob,
		OnTaskFailure:             task.OnTaskFailurePerformExitOptionsJobAction,
		UsesTaskDependencies:      true,
		CommonEnvironmentSettings: []task.EnvironmentSetting{{Name: "SCENE", Value: "castle"}},
		JobManagerTask: &task.JobManagerTask{
			ID:            "manager",
			DisplayName:   "Render manager",
			CommandLine:   "/bin/sh -c 'manage'",
			ResourceFiles: fullResourceFiles(),
			OutputFiles: []task.OutputFile{{
				FilePattern:   "log/*.txt",
				Destination:   task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: "file:///results", Path: "logs"}},
				UploadOptions: task.OutputFileUploadOptions{UploadCondition: task.UploadOnTaskCompletion},
			}},
			EnvironmentSettings:  []task.EnvironmentSetting{{Name: "ROLE", Value: "manager"}},
			Constraints:          &task.TaskConstraints{MaxWallClockTime: dur(26 * time.Hour), RetentionTime: dur(24 * time.Hour), MaxTaskRetryCount: task.Ptr(1)},
			RequiredSlots:        task.Ptr(2),
			KillJobOnCompletion:  task.Ptr(false),
			RunExclusive:         task.Ptr(false),
			AllowLowPriorityNode: task.Ptr(false),
		},
		JobPreparationTask: &task.JobPreparationTask{
			ID:                            "prep",
			CommandLine:                   "/bin/sh -c 'make setup'",
			ResourceFiles:                 fullResourceFiles(),
			EnvironmentSettings:           []task.EnvironmentSetting{{Name: "STAGE", Value: "prep"}},
			Constraints:                   &task.TaskConstraints{MaxWallClockTime: dur(15 * time.Minute), RetentionTime: dur(7 * 24 * time.Hour), MaxTaskRetryCount: task.Ptr(2)},
			WaitForSuccess:                task.Ptr(false),
			RerunOnNodeRebootAfterSuccess: task.Ptr(true),
		},
		JobReleaseTask: &task.JobReleaseTask{
			ID:                  "release",
			CommandLine:         "/bin/sh -c 'make clean'",
			ResourceFiles:       fullResourceFiles(),
			EnvironmentSettings: []task.EnvironmentSetting{{Name: "STAGE", Value: "release"}},
			MaxWallClockTime:    dur(5 * time.Minute),
			RetentionTime:       dur(time.Hour),
		},
		Metadata: []task.MetadataItem{{Name: "owner", Value: "alice"}},
	}
}

const fullJobJSON = `{
  "id": "job-7",
  "displayName": "Nightly render",
  "priority": 100,
  "maxParallelTasks": 4,
  "allowTaskPreemption": true,
  "constraints": {"maxWallClockTime": "P1DT2H", "maxTaskRetryCount": 3},
  "poolInfo": {"poolId": "render-pool"},
  "onAllTasksComplete": "terminatejob",
  "onTaskFailure": "performexitoptionsjobaction",
  "usesTaskDependencies": true,
  "commonEnvironmentSettings": [{"name": "SCENE", "value": "castle"}],
  "jobManagerTask": {
    "id": "manager",
    "displayName": "Render manager",
    "commandLine": "/bin/sh -c 'manage'",
    "resourceFiles": [
      {"httpUrl": "https://example.com/setup.sh", "filePath": "setup.sh", "fileMode": "0755"},
      {"storageContainerUrl": "file:///data/assets", "blobPrefix": "textures/", "filePath": "assets"}
    ],
    "outputFiles": [{
      "filePattern": "log/*.txt",
      "destination": {"container": {"containerUrl": "file:///results", "path": "logs"}},
      "uploadOptions": {"uploadCondition": "taskcompletion"}
    }],
    "environmentSettings": [{"name": "ROLE", "value": "manager"}],
    "constraints": {"maxWallClockTime": "P1DT2H", "retentionTime": "P1D", "maxTaskRetryCount": 1},
    "requiredSlots": 2,
    "killJobOnCompletion": false,
    "runExclusive": false,
    "allowLowPriorityNode": false
  },
  "jobPreparationTask": {
    "id": "prep",
    "commandLine": "/bin/sh -c 'make setup'",
    "resourceFiles": [
      {"httpUrl": "https://example.com/setup.sh", "filePath": "setup.sh", "fileMode": "0755"},
      {"storageContainerUrl": "file:///data/assets", "blobPrefix": "textures/", "filePath": "assets"}
    ],
    "environmentSettings": [{"name": "STAGE", "value": "prep"}],
    "constraints": {"maxWallClockTime": "PT15M", "retentionTime": "P7D", "maxTaskRetryCount": 2},
    "waitForSuccess": false,
    "rerunOnNodeRebootAfterSuccess": true
  },
  "jobReleaseTask": {
    "id": "release",
    "commandLine": "/bin/sh -c 'make clean'",
    "resourceFiles": [
      {"httpUrl": "https://example.com/setup.sh", "filePath": "setup.sh", "fileMode": "0755"},
      {"storageContainerUrl": "file:///data/assets", "blobPrefix": "textures/", "filePath": "assets"}
    ],
    "environmentSettings": [{"name": "STAGE", "value": "release"}],
    "maxWallClockTime": "PT5M",
    "retentionTime": "PT1H"
  },
  "metadata": [{"name": "owner", "value": "alice"}]
}`

func fullAutoPoolJob() task.JobSpec {
	return task.JobSpec{
		ID: "job-8",
		PoolInfo: task.PoolInformation{AutoPoolSpecification: &task.AutoPoolSpecification{
			AutoPoolIDPrefix:   "render",
			PoolLifetimeOption: "job",
			KeepAlive:          true,
			Pool:               json.RawMessage(`{"vmSize":"standard_d2s_v3","targetDedicatedNodes":2}`),
		}},
	}
}

const fullAutoPoolJobJSON = `{
  "id": "job-8",
  "poolInfo": {"autoPoolSpecification": {
    "autoPoolIdPrefix": "render",
    "poolLifetimeOption": "job",
    "keepAlive": true,
    "pool": {"vmSize":"standard_d2s_v3","targetDedicatedNodes":2}
  }}
}`

// fullTask is a valid task (for a job like depsJob) with every field set.
func fullTask() task.TaskSpec {
	return task.TaskSpec{
		ID:            "task-7",
		DisplayName:   "Frame 7",
		CommandLine:   "/bin/sh -c 'render --frame 7'",
		ResourceFiles: fullResourceFiles(),
		OutputFiles: []task.OutputFile{{
			FilePattern:   "out/*.png",
			Destination:   task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: "file:///results", Path: "frames/7"}},
			UploadOptions: task.OutputFileUploadOptions{UploadCondition: task.UploadOnTaskSuccess},
		}},
		EnvironmentSettings: []task.EnvironmentSetting{{Name: "FRAME", Value: "7"}},
		AffinityInfo:        &task.AffinityInformation{AffinityID: "node-3"},
		Constraints:         &task.TaskConstraints{MaxWallClockTime: dur(2 * time.Hour), RetentionTime: dur(24 * time.Hour), MaxTaskRetryCount: task.Ptr(3)},
		RequiredSlots:       task.Ptr(1),
		DependsOn:           &task.TaskDependencies{TaskIDs: []string{"setup", "6"}, TaskIDRanges: []task.TaskIDRange{{Start: 1, End: 5}}},
		ExitConditions: &task.ExitConditions{
			ExitCodes:          []task.ExitCodeMapping{{Code: 3, ExitOptions: task.ExitOptions{JobAction: task.JobActionDisable, DependencyAction: task.DependencyActionSatisfy}}},
			ExitCodeRanges:     []task.ExitCodeRangeMapping{{Start: 100, End: 199, ExitOptions: task.ExitOptions{JobAction: task.JobActionNone, DependencyAction: task.DependencyActionBlock}}},
			PreProcessingError: &task.ExitOptions{JobAction: task.JobActionTerminate, DependencyAction: task.DependencyActionBlock},
			FileUploadError:    &task.ExitOptions{JobAction: task.JobActionNone, DependencyAction: task.DependencyActionSatisfy},
			Default:            &task.ExitOptions{JobAction: task.JobActionTerminate, DependencyAction: task.DependencyActionBlock},
		},
		MultiInstanceSettings: &task.MultiInstanceSettings{
			NumberOfInstances:       3,
			CoordinationCommandLine: "/bin/sh -c 'start-mpi'",
			CommonResourceFiles:     fullResourceFiles(),
		},
	}
}

const fullTaskJSON = `{
  "id": "task-7",
  "displayName": "Frame 7",
  "commandLine": "/bin/sh -c 'render --frame 7'",
  "resourceFiles": [
    {"httpUrl": "https://example.com/setup.sh", "filePath": "setup.sh", "fileMode": "0755"},
    {"storageContainerUrl": "file:///data/assets", "blobPrefix": "textures/", "filePath": "assets"}
  ],
  "outputFiles": [{
    "filePattern": "out/*.png",
    "destination": {"container": {"containerUrl": "file:///results", "path": "frames/7"}},
    "uploadOptions": {"uploadCondition": "tasksuccess"}
  }],
  "environmentSettings": [{"name": "FRAME", "value": "7"}],
  "affinityInfo": {"affinityId": "node-3"},
  "constraints": {"maxWallClockTime": "PT2H", "retentionTime": "P1D", "maxTaskRetryCount": 3},
  "requiredSlots": 1,
  "dependsOn": {"taskIds": ["setup", "6"], "taskIdRanges": [{"start": 1, "end": 5}]},
  "exitConditions": {
    "exitCodes": [{"code": 3, "exitOptions": {"jobAction": "disable", "dependencyAction": "satisfy"}}],
    "exitCodeRanges": [{"start": 100, "end": 199, "exitOptions": {"jobAction": "none", "dependencyAction": "block"}}],
    "preProcessingError": {"jobAction": "terminate", "dependencyAction": "block"},
    "fileUploadError": {"jobAction": "none", "dependencyAction": "satisfy"},
    "default": {"jobAction": "terminate", "dependencyAction": "block"}
  },
  "multiInstanceSettings": {
    "numberOfInstances": 3,
    "coordinationCommandLine": "/bin/sh -c 'start-mpi'",
    "commonResourceFiles": [
      {"httpUrl": "https://example.com/setup.sh", "filePath": "setup.sh", "fileMode": "0755"},
      {"storageContainerUrl": "file:///data/assets", "blobPrefix": "textures/", "filePath": "assets"}
    ]
  }
}`

// unsetFields returns the paths of the fields of v that are zero. A non-nil
// pointer counts as set; a slice of structs counts a field as set when any
// element sets it. It keeps the "every field set" fixtures honest when fields
// are added to the specs.
func unsetFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		if v.Elem().Kind() == reflect.Struct {
			return unsetFields(v.Elem(), path)
		}
		return nil
	case reflect.Struct:
		var out []string
		for i := range v.NumField() {
			out = append(out, unsetFields(v.Field(i), path+"."+v.Type().Field(i).Name)...)
		}
		return out
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		if k := v.Type().Elem().Kind(); k != reflect.Struct && k != reflect.Pointer {
			return nil
		}
		common := unsetFields(v.Index(0), path+"[]")
		for i := 1; i < v.Len(); i++ {
			other := unsetFields(v.Index(i), path+"[]")
			common = slices.DeleteFunc(common, func(p string) bool { return !slices.Contains(other, p) })
		}
		return common
	default:
		if v.IsZero() {
			return []string{path}
		}
		return nil
	}
}

// jsonEqual reports the difference between two JSON documents, ignoring
// formatting and key order.
func jsonDiff(t *testing.T, want, got []byte) string {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("bad want JSON: %v", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("bad got JSON: %v", err)
	}
	return cmp.Diff(w, g)
}

func decodeStrict(t *testing.T, data string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding: %v", err)
	}
}

func TestJobSpecJSON(t *testing.T) {
	tests := []struct {
		name    string
		spec    task.JobSpec
		json    string
		ignored []string // fields allowed to be unset
	}{
		{"poolId", fullJob(), fullJobJSON, []string{"JobSpec.PoolInfo.AutoPoolSpecification"}},
		{"autoPool", fullAutoPoolJob(), fullAutoPoolJobJSON, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "poolId" {
				if missing := slices.DeleteFunc(unsetFields(reflect.ValueOf(tt.spec), "JobSpec"), func(p string) bool {
					return slices.Contains(tt.ignored, p)
				}); len(missing) > 0 {
					t.Fatalf("fixture leaves fields unset: %v", missing)
				}
			} else if missing := unsetFields(reflect.ValueOf(*tt.spec.PoolInfo.AutoPoolSpecification), "AutoPoolSpecification"); len(missing) > 0 {
				t.Fatalf("fixture leaves fields unset: %v", missing)
			}
			if err := tt.spec.Validate(); err != nil {
				t.Fatalf("fixture is invalid: %v", err)
			}

			// Encoding gives Azure's names and values.
			b, err := json.Marshal(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if diff := jsonDiff(t, []byte(tt.json), b); diff != "" {
				t.Errorf("Marshal (-want +got):\n%s", diff)
			}
			// Decoding the encoding gives the spec back.
			var back task.JobSpec
			decodeStrict(t, string(b), &back)
			if diff := cmp.Diff(tt.spec, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			// Decoding Azure's JSON, with no unknown names, gives the spec.
			var fromAzure task.JobSpec
			decodeStrict(t, tt.json, &fromAzure)
			if diff := cmp.Diff(tt.spec, fromAzure, cmp.Comparer(func(a, b json.RawMessage) bool {
				var ca, cb bytes.Buffer
				return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
			})); diff != "" {
				t.Errorf("decode Azure JSON (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTaskSpecJSON(t *testing.T) {
	spec := fullTask()
	if missing := unsetFields(reflect.ValueOf(spec), "TaskSpec"); len(missing) > 0 {
		t.Fatalf("fixture leaves fields unset: %v", missing)
	}
	if err := spec.Validate(depsJob); err != nil {
		t.Fatalf("fixture is invalid: %v", err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := jsonDiff(t, []byte(fullTaskJSON), b); diff != "" {
		t.Errorf("Marshal (-want +got):\n%s", diff)
	}
	var back task.TaskSpec
	decodeStrict(t, string(b), &back)
	if diff := cmp.Diff(spec, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	var fromAzure task.TaskSpec
	decodeStrict(t, fullTaskJSON, &fromAzure)
	if diff := cmp.Diff(spec, fromAzure); diff != "" {
		t.Errorf("decode Azure JSON (-want +got):\n%s", diff)
	}
}

// TestMinimalJSON checks that defaults stay out of the encoding.
func TestMinimalJSON(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"job", validJob(), `{"id":"job-1","poolInfo":{"poolId":"pool-1"}}`},
		{"task", validTask(), `{"id":"t1","commandLine":"/bin/echo hi"}`},
		{"explicit zero pointers kept", task.TaskSpec{ID: "t", CommandLine: "c", Constraints: &task.TaskConstraints{MaxTaskRetryCount: task.Ptr(0), MaxWallClockTime: dur(0)}},
			`{"id":"t","commandLine":"c","constraints":{"maxTaskRetryCount":0,"maxWallClockTime":"PT0S"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := jsonDiff(t, []byte(tt.want), b); diff != "" {
				t.Errorf("Marshal (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeAzureSample decodes a task and a job written the way Azure's
// REST samples write them.
func TestDecodeAzureSample(t *testing.T) {
	const taskJSON = `{
	  "id": "render-frame-0006",
	  "commandLine": "/bin/sh -c \"blender -b scene.blend -f 6\"",
	  "constraints": {"maxWallClockTime": "PT1H30M", "maxTaskRetryCount": 2},
	  "requiredSlots": 2,
	  "dependsOn": {"taskIdRanges": [{"start": 1, "end": 5}]},
	  "exitConditions": {
	    "exitCodes": [{"code": 10, "exitOptions": {"dependencyAction": "satisfy"}}],
	    "default": {"jobAction": "terminate"}
	  },
	  "environmentSettings": [{"name": "FRAME", "value": "6"}],
	  "resourceFiles": [{"httpUrl": "https://example.com/scene.blend", "filePath": "scene.blend"}]
	}`
	want := task.TaskSpec{
		ID:            "render-frame-0006",
		CommandLine:   `/bin/sh -c "blender -b scene.blend -f 6"`,
		Constraints:   &task.TaskConstraints{MaxWallClockTime: dur(90 * time.Minute), MaxTaskRetryCount: task.Ptr(2)},
		RequiredSlots: task.Ptr(2),
		DependsOn:     &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 1, End: 5}}},
		ExitConditions: &task.ExitConditions{
			ExitCodes: []task.ExitCodeMapping{{Code: 10, ExitOptions: task.ExitOptions{DependencyAction: task.DependencyActionSatisfy}}},
			Default:   &task.ExitOptions{JobAction: task.JobActionTerminate},
		},
		EnvironmentSettings: []task.EnvironmentSetting{{Name: "FRAME", Value: "6"}},
		ResourceFiles:       []task.ResourceFile{{HTTPURL: "https://example.com/scene.blend", FilePath: "scene.blend"}},
	}
	var got task.TaskSpec
	decodeStrict(t, taskJSON, &got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("task (-want +got):\n%s", diff)
	}
	if got.MaxRetries(nil) != 2 || got.Slots() != 2 || got.WallClockLimit() != task.Duration(90*time.Minute) {
		t.Errorf("derived values: retries %d slots %d wall clock %v", got.MaxRetries(nil), got.Slots(), got.WallClockLimit())
	}

	const jobJSON = `{
	  "id": "render",
	  "priority": -5,
	  "poolInfo": {"poolId": "gpu"},
	  "constraints": {"maxTaskRetryCount": -1, "maxWallClockTime": "` + unlimitedISO + `"},
	  "onAllTasksComplete": "terminatejob",
	  "onTaskFailure": "performexitoptionsjobaction",
	  "usesTaskDependencies": true
	}`
	wantJob := task.JobSpec{
		ID:                   "render",
		Priority:             -5,
		PoolInfo:             task.PoolInformation{PoolID: "gpu"},
		Constraints:          &task.JobConstraints{MaxTaskRetryCount: -1, MaxWallClockTime: task.Ptr(task.Unlimited)},
		OnAllTasksComplete:   task.OnAllTasksCompleteTerminateJob,
		OnTaskFailure:        task.OnTaskFailurePerformExitOptionsJobAction,
		UsesTaskDependencies: true,
	}
	var gotJob task.JobSpec
	decodeStrict(t, jobJSON, &gotJob)
	if diff := cmp.Diff(wantJob, gotJob); diff != "" {
		t.Errorf("job (-want +got):\n%s", diff)
	}
	if err := gotJob.Validate(); err != nil {
		t.Errorf("job: %v", err)
	}
	if err := got.Validate(&gotJob); err != nil {
		t.Errorf("task: %v", err)
	}
}

func TestSpecDefaults(t *testing.T) {
	job3 := &task.JobSpec{Constraints: &task.JobConstraints{MaxTaskRetryCount: 3}}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"Slots default", (&task.TaskSpec{}).Slots(), 1},
		{"Slots set", (&task.TaskSpec{RequiredSlots: task.Ptr(4)}).Slots(), 4},
		{"MaxRetries no job", (&task.TaskSpec{}).MaxRetries(nil), 0},
		{"MaxRetries job without constraints", (&task.TaskSpec{}).MaxRetries(&task.JobSpec{}), 0},
		{"MaxRetries from job", (&task.TaskSpec{}).MaxRetries(job3), 3},
		{"MaxRetries task constraints without count", (&task.TaskSpec{Constraints: &task.TaskConstraints{}}).MaxRetries(job3), 3},
		{"MaxRetries task overrides", (&task.TaskSpec{Constraints: &task.TaskConstraints{MaxTaskRetryCount: task.Ptr(0)}}).MaxRetries(job3), 0},
		{"MaxRetries unlimited", (&task.TaskSpec{Constraints: &task.TaskConstraints{MaxTaskRetryCount: task.Ptr(-1)}}).MaxRetries(job3), -1},
		{"WallClockLimit none", (&task.TaskSpec{}).WallClockLimit(), task.Duration(0)},
		{"WallClockLimit no value", (&task.TaskSpec{Constraints: &task.TaskConstraints{}}).WallClockLimit(), task.Duration(0)},
		{"WallClockLimit unlimited", (&task.TaskSpec{Constraints: &task.TaskConstraints{MaxWallClockTime: task.Ptr(task.Unlimited)}}).WallClockLimit(), task.Duration(0)},
		{"WallClockLimit set", (&task.TaskSpec{Constraints: &task.TaskConstraints{MaxWallClockTime: dur(time.Hour)}}).WallClockLimit(), task.Duration(time.Hour)},
		{"Instances nil", (*task.MultiInstanceSettings)(nil).Instances(), 1},
		{"Instances zero", (&task.MultiInstanceSettings{}).Instances(), 1},
		{"Instances set", (&task.MultiInstanceSettings{NumberOfInstances: 3}).Instances(), 3},
		{"EffectiveMaxParallelTasks default", (&task.JobSpec{}).EffectiveMaxParallelTasks(), -1},
		{"EffectiveMaxParallelTasks set", (&task.JobSpec{MaxParallelTasks: task.Ptr(5)}).EffectiveMaxParallelTasks(), 5},
		{"Ptr", *task.Ptr("x"), "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
