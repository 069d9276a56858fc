package task

// OutcomeKind says how an attempt ended, for exit-condition matching.
type OutcomeKind uint8

// Outcome kinds. The zero value is invalid.
const (
	OutcomeInvalid OutcomeKind = iota
	// OutcomeExited: the command ran and exited with a code (0 or not).
	OutcomeExited
	// OutcomePreProcessingError: the command could not start (resource file
	// download failed, program not found). Not retried.
	OutcomePreProcessingError
	// OutcomeFileUploadError: the command exited but its output files could
	// not be uploaded. Not retried; an exit-code match wins over it.
	OutcomeFileUploadError
)

// Resolve returns the exit options for an attempt outcome, with Azure's
// defaults filled in:
//
//   - exit code 0 matches only an explicit exitCodes or exitCodeRanges entry;
//     otherwise jobAction none and dependencyAction satisfy;
//   - a non-zero exit code matches exitCodes, then exitCodeRanges, then
//     default; otherwise jobAction terminate and dependencyAction block;
//   - a pre-processing error matches preProcessingError, then default;
//   - a file upload error matches the exit code first, then fileUploadError,
//     then default.
//
// Unset fields of a matched entry take the outcome's default. ec may be nil.
func (ec *ExitConditions) Resolve(kind OutcomeKind, exitCode int) ExitOptions {
	failed := kind != OutcomeExited || exitCode != 0
	def := ExitOptions{JobAction: JobActionNone, DependencyAction: DependencyActionSatisfy}
	if failed {
		def = ExitOptions{JobAction: JobActionTerminate, DependencyAction: DependencyActionBlock}
	}
	fill := func(o ExitOptions) ExitOptions {
		if o.JobAction == "" {
			o.JobAction = def.JobAction
		}
		if o.DependencyAction == "" {
			o.DependencyAction = def.DependencyAction
		}
		return o
	}
	if ec == nil {
		return def
	}
	if kind == OutcomeExited || kind == OutcomeFileUploadError {
		for _, m := range ec.ExitCodes {
			if m.Code == exitCode {
				return fill(m.ExitOptions)
			}
		}
		for _, r := range ec.ExitCodeRanges {
			if exitCode >= r.Start && exitCode <= r.End {
				return fill(r.ExitOptions)
			}
		}
	}
	switch {
	case kind == OutcomePreProcessingError && ec.PreProcessingError != nil:
		return fill(*ec.PreProcessingError)
	case kind == OutcomeFileUploadError && ec.FileUploadError != nil:
		return fill(*ec.FileUploadError)
	}
	if failed && ec.Default != nil {
		return fill(*ec.Default)
	}
	return def
}
