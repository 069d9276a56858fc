package task_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/task"
)

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  *task.Error
		want string
	}{
		{"code only", &task.Error{Code: "TaskExists"}, "TaskExists"},
		{"code and message", &task.Error{Code: "TaskExists", Message: "task t1 exists"}, "TaskExists: task t1 exists"},
		{"field", task.Missing("commandLine"), "MissingRequiredProperty: commandLine: the property is required"},
		{"field and value", task.Invalid("priority", 1001, "must be between %d and %d", -1000, 1000),
			`InvalidPropertyValue: priority = "1001": must be between -1000 and 1000`},
		{"value is quoted", task.Invalid("id", "a \"b\"\n", "bad"), `InvalidPropertyValue: id = "a \"b\"\n": bad`},
		{"Errorf nil value", task.Errorf(task.CodeTaskDependenciesNotAllowed, "dependsOn", nil, "job %q", "j"),
			`TaskDependenciesNotSpecifiedOnJob: dependsOn: job "j"`},
		{"Errorf value", task.Errorf(task.CodeTaskExists, "id", "t1", "exists"), `TaskExists: id = "t1": exists`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorHelpers(t *testing.T) {
	tests := []struct {
		name string
		got  *task.Error
		want *task.Error
	}{
		{"Invalid", task.Invalid("maxParallelTasks", 0, "must be %s", "positive"),
			&task.Error{Code: task.CodeInvalidPropertyValue, Field: "maxParallelTasks", Value: "0", Message: "must be positive"}},
		{"Invalid typed string", task.Invalid("onTaskFailure", task.OnTaskFailure("x"), "m"),
			&task.Error{Code: task.CodeInvalidPropertyValue, Field: "onTaskFailure", Value: "x", Message: "m"}},
		{"Missing", task.Missing("id"),
			&task.Error{Code: task.CodeMissingRequiredProperty, Field: "id", Message: "the property is required"}},
		{"Errorf", task.Errorf(task.CodeJobNotFound, "jobId", "j1", "no job %s", "j1"),
			&task.Error{Code: task.CodeJobNotFound, Field: "jobId", Value: "j1", Message: "no job j1"}},
		{"Errorf nil value", task.Errorf(task.CodeJobNotFound, "", nil, "gone"),
			&task.Error{Code: task.CodeJobNotFound, Message: "gone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorIs(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"same code", task.Invalid("id", "x", "bad"), task.ErrInvalidPropertyValue, true},
		{"other code", task.Invalid("id", "x", "bad"), task.ErrMissingRequiredProperty, false},
		{"missing", task.Missing("id"), task.ErrMissingRequiredProperty, true},
		{"wrapped", fmt.Errorf("adding task: %w", task.Errorf(task.CodeTaskExists, "id", "t", "dup")), task.ErrTaskExists, true},
		{"wrapped other", fmt.Errorf("adding task: %w", task.Errorf(task.CodeTaskExists, "id", "t", "dup")), task.ErrJobExists, false},
		{"code only matters", &task.Error{Code: task.CodeJobNotFound, Field: "a"}, &task.Error{Code: task.CodeJobNotFound, Field: "b"}, true},
		{"dependencies sentinel", task.Errorf(task.CodeTaskDependenciesNotAllowed, "dependsOn", nil, "no"), task.ErrTaskDependenciesNotAllowed, true},
		{"non-Error target", task.Missing("id"), io.EOF, false},
		{"nil *Error target", task.Missing("id"), (*task.Error)(nil), false},
		{"plain error", errors.New("InvalidPropertyValue"), task.ErrInvalidPropertyValue, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errors.Is(tt.err, tt.target); got != tt.want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", tt.err, tt.target, got, tt.want)
			}
		})
	}
}

func TestSentinelCodes(t *testing.T) {
	tests := []struct {
		sentinel *task.Error
		code     string
	}{
		{task.ErrInvalidPropertyValue, "InvalidPropertyValue"},
		{task.ErrMissingRequiredProperty, "MissingRequiredProperty"},
		{task.ErrInvalidRequestBody, "InvalidRequestBody"},
		{task.ErrTaskExists, "TaskExists"},
		{task.ErrTaskNotFound, "TaskNotFound"},
		{task.ErrTaskCompleted, "TaskCompleted"},
		{task.ErrJobExists, "JobExists"},
		{task.ErrJobNotFound, "JobNotFound"},
		{task.ErrJobNotActive, "JobNotActive"},
		{task.ErrJobCompleted, "JobCompleted"},
		{task.ErrJobDisabled, "JobDisabled"},
		{task.ErrJobBeingTerminated, "JobBeingTerminated"},
		{task.ErrJobBeingDeleted, "JobBeingDeleted"},
		{task.ErrPoolExists, "PoolExists"},
		{task.ErrPoolNotFound, "PoolNotFound"},
		{task.ErrPoolBeingDeleted, "PoolBeingDeleted"},
		{task.ErrPoolNotSteady, "PoolNotSteady"},
		{task.ErrNodeNotFound, "NodeNotFound"},
		{task.ErrNodeAlreadyInTargetState, "NodeAlreadyInTargetSchedulingState"},
		{task.ErrTaskDependenciesNotAllowed, "TaskDependenciesNotSpecifiedOnJob"},
		{task.ErrTaskDependencyNotFound, "TaskDependencyNotFound"},
		{task.ErrTaskDependencyCycle, "TaskDependencyCycle"},
		{task.ErrOperationInvalidForState, "OperationInvalidForCurrentState"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		if tt.sentinel.Code != tt.code {
			t.Errorf("sentinel code %q, want %q", tt.sentinel.Code, tt.code)
		}
		if seen[tt.code] {
			t.Errorf("code %q used by two sentinels", tt.code)
		}
		seen[tt.code] = true
	}
}

func TestWithFieldPrefix(t *testing.T) {
	orig := task.Invalid("constraints.maxWallClockTime", "-PT1S", "must not be negative")
	tests := []struct {
		name   string
		prefix string
		err    error
		want   error
	}{
		{"nested", "tasks[3]", orig,
			&task.Error{Code: task.CodeInvalidPropertyValue, Field: "tasks[3].constraints.maxWallClockTime", Value: "-PT1S", Message: "must not be negative"}},
		{"no field", "tasks[0]", &task.Error{Code: task.CodeTaskExists, Message: "dup"},
			&task.Error{Code: task.CodeTaskExists, Field: "tasks[0]", Message: "dup"}},
		{"empty prefix", "", orig, orig},
		{"not an *Error", "tasks[1]", io.EOF, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := task.WithFieldPrefix(tt.prefix, tt.err)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b error) bool {
				var ea, eb *task.Error
				if errors.As(a, &ea) && errors.As(b, &eb) {
					return *ea == *eb
				}
				return a == b
			})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// The original is not modified.
	if orig.Field != "constraints.maxWallClockTime" {
		t.Errorf("WithFieldPrefix modified its argument: Field = %q", orig.Field)
	}
}
