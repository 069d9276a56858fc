package task_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/task"
)

func TestResolve(t *testing.T) {
	var (
		success  = task.ExitOptions{JobAction: task.JobActionNone, DependencyAction: task.DependencyActionSatisfy}
		failure  = task.ExitOptions{JobAction: task.JobActionTerminate, DependencyAction: task.DependencyActionBlock}
		disable  = task.ExitOptions{JobAction: task.JobActionDisable, DependencyAction: task.DependencyActionSatisfy}
		noneSat  = task.ExitOptions{JobAction: task.JobActionNone, DependencyAction: task.DependencyActionSatisfy}
		noneBlk  = task.ExitOptions{JobAction: task.JobActionNone, DependencyAction: task.DependencyActionBlock}
		termSat  = task.ExitOptions{JobAction: task.JobActionTerminate, DependencyAction: task.DependencyActionSatisfy}
		disBlock = task.ExitOptions{JobAction: task.JobActionDisable, DependencyAction: task.DependencyActionBlock}
	)
	// full has a distinct answer for every way of matching.
	full := &task.ExitConditions{
		ExitCodes: []task.ExitCodeMapping{
			{Code: 0, ExitOptions: disBlock},
			{Code: 3, ExitOptions: disable},
			{Code: 15, ExitOptions: noneSat}, // inside a range: the exact code wins
		},
		ExitCodeRanges: []task.ExitCodeRangeMapping{
			{Start: 10, End: 20, ExitOptions: noneBlk},
			{Start: 15, End: 30, ExitOptions: termSat}, // overlaps: the first range wins
			{Start: -10, End: -1, ExitOptions: disable},
		},
		PreProcessingError: &task.ExitOptions{JobAction: task.JobActionDisable, DependencyAction: task.DependencyActionBlock},
		FileUploadError:    &task.ExitOptions{JobAction: task.JobActionNone, DependencyAction: task.DependencyActionBlock},
		Default:            &task.ExitOptions{JobAction: task.JobActionNone, DependencyAction: task.DependencyActionSatisfy},
	}
	// onlyDefault sets nothing but default.
	onlyDefault := &task.ExitConditions{Default: &disable}
	// partial entries leave fields for the outcome defaults.
	partial := &task.ExitConditions{
		ExitCodes:          []task.ExitCodeMapping{{Code: 0, ExitOptions: task.ExitOptions{JobAction: task.JobActionDisable}}, {Code: 4, ExitOptions: task.ExitOptions{DependencyAction: task.DependencyActionSatisfy}}},
		ExitCodeRanges:     []task.ExitCodeRangeMapping{{Start: 5, End: 9, ExitOptions: task.ExitOptions{JobAction: task.JobActionNone}}},
		PreProcessingError: &task.ExitOptions{},
		FileUploadError:    &task.ExitOptions{DependencyAction: task.DependencyActionSatisfy},
		Default:            &task.ExitOptions{JobAction: task.JobActionDisable},
	}

	tests := []struct {
		name string
		ec   *task.ExitConditions
		kind task.OutcomeKind
		code int
		want task.ExitOptions
	}{
		// Azure's defaults with no exit conditions.
		{"nil exit 0", nil, task.OutcomeExited, 0, success},
		{"nil exit 1", nil, task.OutcomeExited, 1, failure},
		{"nil exit -1", nil, task.OutcomeExited, -1, failure},
		{"nil pre-processing", nil, task.OutcomePreProcessingError, 0, failure},
		{"nil file upload after exit 0", nil, task.OutcomeFileUploadError, 0, failure},
		{"empty exit 0", &task.ExitConditions{}, task.OutcomeExited, 0, success},
		{"empty exit 2", &task.ExitConditions{}, task.OutcomeExited, 2, failure},
		{"invalid outcome is a failure", nil, task.OutcomeInvalid, 0, failure},

		// exitCodes, then exitCodeRanges, then default.
		{"exit code match", full, task.OutcomeExited, 3, disable},
		{"exit code beats range", full, task.OutcomeExited, 15, noneSat},
		{"range match", full, task.OutcomeExited, 10, noneBlk},
		{"range upper bound inclusive", full, task.OutcomeExited, 20, noneBlk},
		{"first overlapping range", full, task.OutcomeExited, 16, noneBlk},
		{"second range", full, task.OutcomeExited, 21, termSat},
		{"negative range", full, task.OutcomeExited, -10, disable},
		{"default for unlisted code", full, task.OutcomeExited, 42, task.ExitOptions{JobAction: task.JobActionNone, DependencyAction: task.DependencyActionSatisfy}},
		{"default for unlisted code, only default", onlyDefault, task.OutcomeExited, 1, disable},

		// Exit 0 matches only an explicit entry, never default.
		{"exit 0 explicit", full, task.OutcomeExited, 0, disBlock},
		{"exit 0 skips default", onlyDefault, task.OutcomeExited, 0, success},
		{"exit 0 in range", &task.ExitConditions{ExitCodeRanges: []task.ExitCodeRangeMapping{{Start: 0, End: 0, ExitOptions: termSat}}}, task.OutcomeExited, 0, termSat},

		// Pre-processing errors ignore exit codes.
		{"pre-processing", full, task.OutcomePreProcessingError, 3, *full.PreProcessingError},
		{"pre-processing falls to default", onlyDefault, task.OutcomePreProcessingError, 0, disable},
		{"pre-processing ignores exit code 0 entry", &task.ExitConditions{ExitCodes: []task.ExitCodeMapping{{Code: 0, ExitOptions: success}}}, task.OutcomePreProcessingError, 0, failure},

		// File upload errors: an exit-code match wins, then fileUploadError, then default.
		{"file upload, exit code wins", full, task.OutcomeFileUploadError, 3, disable},
		{"file upload, exit 0 entry wins", full, task.OutcomeFileUploadError, 0, disBlock},
		{"file upload, range wins", full, task.OutcomeFileUploadError, 12, noneBlk},
		{"file upload, no code match", full, task.OutcomeFileUploadError, 99, *full.FileUploadError},
		{"file upload falls to default", onlyDefault, task.OutcomeFileUploadError, 0, disable},
		{"file upload with pre-processing only", &task.ExitConditions{PreProcessingError: &disable}, task.OutcomeFileUploadError, 0, failure},

		// Partially filled options take the outcome's defaults.
		{"partial exit 0 keeps satisfy", partial, task.OutcomeExited, 0, task.ExitOptions{JobAction: task.JobActionDisable, DependencyAction: task.DependencyActionSatisfy}},
		{"partial nonzero keeps terminate", partial, task.OutcomeExited, 4, task.ExitOptions{JobAction: task.JobActionTerminate, DependencyAction: task.DependencyActionSatisfy}},
		{"partial range keeps block", partial, task.OutcomeExited, 7, noneBlk},
		{"partial default keeps block", partial, task.OutcomeExited, 100, disBlock},
		{"empty pre-processing options", partial, task.OutcomePreProcessingError, 0, failure},
		{"partial file upload keeps terminate", partial, task.OutcomeFileUploadError, 100, termSat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.ec.Resolve(tt.kind, tt.code)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve(%v, %d) (-want +got):\n%s", tt.kind, tt.code, diff)
			}
		})
	}
}
