package node

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/embatch/embatch/task"
	"github.com/google/go-cmp/cmp"
)

func TestCoordinationFailure(t *testing.T) {
	nodeID := task.NameValue{Name: "NodeId", Value: "tvm-2"}
	sig := task.NameValue{Name: "Signal", Value: "SIGKILL"}
	tests := []struct {
		name       string
		code       int
		terminated bool
		cause      error
		signal     syscall.Signal
		want       *task.FailureInfo
	}{
		{"exit", 5, false, nil, 0, &task.FailureInfo{Category: task.UserError, Code: task.FailureMultiInstanceFailure,
			Message: "the coordination command on node tvm-2 exited with code 5",
			Details: []task.NameValue{nodeID}}},
		{"signal", 137, false, nil, syscall.SIGKILL, &task.FailureInfo{Category: task.UserError, Code: task.FailureMultiInstanceFailure,
			Message: "the coordination command on node tvm-2 exited with code 137 (the process was killed by SIGKILL)",
			Details: []task.NameValue{sig, nodeID}}},
		{"terminated", 137, true, errors.New("another instance failed"), syscall.SIGKILL, &task.FailureInfo{Category: task.UserError, Code: task.FailureTaskTerminated,
			Message: "the task was terminated: another instance failed (process killed by SIGKILL)",
			Details: []task.NameValue{sig, nodeID}}},
		{"cancelled", -1, true, context.Canceled, 0, &task.FailureInfo{Category: task.UserError, Code: task.FailureTaskTerminated,
			Message: "the task was terminated",
			Details: []task.NameValue{nodeID}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CoordinationFailure("tvm-2", tt.code, tt.terminated, tt.cause, tt.signal)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CoordinationFailure (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTerminatedResult(t *testing.T) {
	got := TerminatedResult(Result{TaskRootDirectory: "/d"}, errors.New("maxWallClockTime"))
	want := Result{Kind: task.OutcomeExited, ExitCode: -1, TaskRootDirectory: "/d",
		FailureInfo: &task.FailureInfo{Category: task.UserError, Code: task.FailureTaskTerminated,
			Message: "the task was terminated: maxWallClockTime"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TerminatedResult (-want +got):\n%s", diff)
	}
}
