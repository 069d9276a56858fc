package task_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/task"
)

func TestTaskStateText(t *testing.T) {
	tests := []struct {
		s    task.TaskState
		name string
	}{
		{task.TaskActive, "active"},
		{task.TaskPreparing, "preparing"},
		{task.TaskRunning, "running"},
		{task.TaskCompleted, "completed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.s.MarshalText()
			if err != nil {
				t.Fatalf("MarshalText: %v", err)
			}
			if string(b) != tt.name {
				t.Errorf("MarshalText = %q, want %q", b, tt.name)
			}
			if got := tt.s.String(); got != tt.name {
				t.Errorf("String = %q, want %q", got, tt.name)
			}
			var back task.TaskState
			if err := back.UnmarshalText(b); err != nil {
				t.Fatalf("UnmarshalText(%q): %v", b, err)
			}
			if back != tt.s {
				t.Errorf("UnmarshalText(%q) = %v, want %v", b, back, tt.s)
			}
			parsed, err := task.ParseTaskState(tt.name)
			if err != nil || parsed != tt.s {
				t.Errorf("ParseTaskState(%q) = %v, %v; want %v", tt.name, parsed, err, tt.s)
			}
		})
	}
}

func TestJobStateText(t *testing.T) {
	tests := []struct {
		s    task.JobState
		name string
	}{
		{task.JobActive, "active"},
		{task.JobDisabling, "disabling"},
		{task.JobDisabled, "disabled"},
		{task.JobEnabling, "enabling"},
		{task.JobTerminating, "terminating"},
		{task.JobCompleted, "completed"},
		{task.JobDeleting, "deleting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.s.MarshalText()
			if err != nil {
				t.Fatalf("MarshalText: %v", err)
			}
			if string(b) != tt.name {
				t.Errorf("MarshalText = %q, want %q", b, tt.name)
			}
			if got := tt.s.String(); got != tt.name {
				t.Errorf("String = %q, want %q", got, tt.name)
			}
			var back task.JobState
			if err := back.UnmarshalText(b); err != nil {
				t.Fatalf("UnmarshalText(%q): %v", b, err)
			}
			if back != tt.s {
				t.Errorf("UnmarshalText(%q) = %v, want %v", b, back, tt.s)
			}
		})
	}
}

func TestStateRejects(t *testing.T) {
	for _, name := range []string{"", "Active", "RUNNING", "queued", "unknown", " active", "active ", "0", "1"} {
		t.Run("task "+name, func(t *testing.T) {
			s := task.TaskRunning
			err := s.UnmarshalText([]byte(name))
			checkErr(t, err, errInvalid, "state")
			if s != task.TaskRunning {
				t.Errorf("UnmarshalText(%q) changed the state to %v", name, s)
			}
			if _, err := task.ParseTaskState(name); !errors.Is(err, task.ErrInvalidPropertyValue) {
				t.Errorf("ParseTaskState(%q) error %v, want InvalidPropertyValue", name, err)
			}
		})
	}
	for _, name := range []string{"", "Active", "enabled", "deleted", "preparing", "running"} {
		t.Run("job "+name, func(t *testing.T) {
			s := task.JobActive
			checkErr(t, s.UnmarshalText([]byte(name)), errInvalid, "state")
			if s != task.JobActive {
				t.Errorf("UnmarshalText(%q) changed the state to %v", name, s)
			}
		})
	}
}

func TestStateInvalidMarshal(t *testing.T) {
	tests := []struct {
		name string
		v    interface{ MarshalText() ([]byte, error) }
		str  string
	}{
		{"task zero", task.TaskStateInvalid, "TaskState(0)"},
		{"task out of range", task.TaskState(5), "TaskState(5)"},
		{"task max", task.TaskState(255), "TaskState(255)"},
		{"job zero", task.JobStateInvalid, "JobState(0)"},
		{"job out of range", task.JobState(8), "JobState(8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := tt.v.MarshalText(); err == nil {
				t.Errorf("MarshalText = %q, want an error", b)
			}
			if got := tt.v.(interface{ String() string }).String(); got != tt.str {
				t.Errorf("String = %q, want %q", got, tt.str)
			}
		})
	}
	// A struct holding a zero state cannot be encoded either.
	if b, err := json.Marshal(task.Task{TaskSpec: validTask()}); err == nil {
		t.Errorf("json.Marshal of a task with no state = %s, want an error", b)
	}
}

// TestTaskJSON checks the service-side task record: spec fields inline,
// states by name, previousState omitted until set.
func TestTaskJSON(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	in := task.Task{
		TaskSpec:            validTask(),
		CreationTime:        ts,
		State:               task.TaskRunning,
		StateTransitionTime: ts,
		ExecutionInfo:       task.ExecutionInfo{StartTime: ts, RetryCount: 1, RequeueCount: 2},
		NodeInfo:            &task.NodeInfo{PoolID: "p", NodeID: "n"},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"t1","commandLine":"/bin/echo hi","creationTime":"2025-01-02T03:04:05Z","state":"running",
		"stateTransitionTime":"2025-01-02T03:04:05Z",
		"executionInfo":{"startTime":"2025-01-02T03:04:05Z","retryCount":1,"requeueCount":2},
		"nodeInfo":{"poolId":"p","nodeId":"n"}}`
	if diff := jsonDiff(t, []byte(want), b); diff != "" {
		t.Errorf("Marshal (-want +got):\n%s", diff)
	}
	var back task.Task
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}

	in.PreviousState = task.TaskActive
	job := task.Job{JobSpec: validJob(), State: task.JobTerminating, PreviousState: task.JobActive,
		ExecutionInfo: task.JobExecutionInfo{PoolID: "pool-1", TerminationReason: task.TerminateReasonTaskFailed}}
	for _, v := range []any{in, job} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m["previousState"] != "active" {
			t.Errorf("%T previousState = %v, want active", v, m["previousState"])
		}
	}
	b, err = json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	var jback task.Job
	if err := json.Unmarshal(b, &jback); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(job, jback); diff != "" {
		t.Errorf("job round trip (-want +got):\n%s", diff)
	}
	if want := `"terminateReason":"TaskFailed"`; !contains(b, want) {
		t.Errorf("job JSON %s lacks %s", b, want)
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
