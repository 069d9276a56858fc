package task

import (
	"fmt"
	"strconv"
)

// Error is the error type of every public embatch API. Code is Azure Batch's
// error code (for example "TaskExists" or "InvalidPropertyValue"); Field and
// Value, when set, name the property and the offending value so that a user can
// find the bad input without reading the source.
//
// Errors are matched with errors.Is against the sentinels below, which compare
// by Code only, or with errors.As to read Field and Value.
type Error struct {
	// Code is the Azure Batch error code. Never empty.
	Code string
	// Field is the JSON name (dotted path) of the property at fault, if any.
	Field string
	// Value is the offending value as the user wrote it, if any.
	Value string
	// Message says what is wrong in a sentence.
	Message string
}

// Error formats the error as `Code: field = "value": message`, leaving out
// the parts that are empty (the value is shown only with a field).
func (e *Error) Error() string {
	s := e.Code
	if e.Field != "" {
		s += ": " + e.Field
		if e.Value != "" {
			s += " = " + strconv.Quote(e.Value)
		}
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is reports whether target is an *Error with the same Code. It lets
// errors.Is(err, task.ErrTaskExists) match any TaskExists error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Code == e.Code
}

// Azure Batch error codes used by embatch. The names and meanings are Azure's.
const (
	CodeInvalidPropertyValue       = "InvalidPropertyValue"
	CodeMissingRequiredProperty    = "MissingRequiredProperty"
	CodeInvalidRequestBody         = "InvalidRequestBody"
	CodeTaskExists                 = "TaskExists"
	CodeTaskNotFound               = "TaskNotFound"
	CodeTaskCompleted              = "TaskCompleted"
	CodeJobExists                  = "JobExists"
	CodeJobNotFound                = "JobNotFound"
	CodeJobNotActive               = "JobNotActive"
	CodeJobCompleted               = "JobCompleted"
	CodeJobDisabled                = "JobDisabled"
	CodeJobBeingTerminated         = "JobBeingTerminated"
	CodeJobBeingDeleted            = "JobBeingDeleted"
	CodePoolExists                 = "PoolExists"
	CodePoolNotFound               = "PoolNotFound"
	CodePoolBeingDeleted           = "PoolBeingDeleted"
	CodePoolNotSteady              = "PoolNotSteady"
	CodeNodeNotFound               = "NodeNotFound"
	CodeNodeAlreadyInTargetState   = "NodeAlreadyInTargetSchedulingState"
	CodeTaskDependenciesNotAllowed = "TaskDependenciesNotSpecifiedOnJob"
	CodeTaskDependencyNotFound     = "TaskDependencyNotFound"
	CodeTaskDependencyCycle        = "TaskDependencyCycle"
	CodeOperationInvalidForState   = "OperationInvalidForCurrentState"

	CodeJobScheduleExists           = "JobScheduleExists"
	CodeJobScheduleNotFound         = "JobScheduleNotFound"
	CodeJobScheduleCompleted        = "JobScheduleCompleted"
	CodeJobScheduleBeingTerminated  = "JobScheduleBeingTerminated"
	CodeJobScheduleBeingDeleted     = "JobScheduleBeingDeleted"
	CodeJobScheduleWithSameIDExists = "JobScheduleWithSameIdExists"
	CodeJobWithSameIDExists         = "JobWithSameIdExists"
)

// Sentinels for errors.Is. They compare by Code only.
var (
	ErrInvalidPropertyValue       = &Error{Code: CodeInvalidPropertyValue}
	ErrMissingRequiredProperty    = &Error{Code: CodeMissingRequiredProperty}
	ErrInvalidRequestBody         = &Error{Code: CodeInvalidRequestBody}
	ErrTaskExists                 = &Error{Code: CodeTaskExists}
	ErrTaskNotFound               = &Error{Code: CodeTaskNotFound}
	ErrTaskCompleted              = &Error{Code: CodeTaskCompleted}
	ErrJobExists                  = &Error{Code: CodeJobExists}
	ErrJobNotFound                = &Error{Code: CodeJobNotFound}
	ErrJobNotActive               = &Error{Code: CodeJobNotActive}
	ErrJobCompleted               = &Error{Code: CodeJobCompleted}
	ErrJobDisabled                = &Error{Code: CodeJobDisabled}
	ErrJobBeingTerminated         = &Error{Code: CodeJobBeingTerminated}
	ErrJobBeingDeleted            = &Error{Code: CodeJobBeingDeleted}
	ErrPoolExists                 = &Error{Code: CodePoolExists}
	ErrPoolNotFound               = &Error{Code: CodePoolNotFound}
	ErrPoolBeingDeleted           = &Error{Code: CodePoolBeingDeleted}
	ErrPoolNotSteady              = &Error{Code: CodePoolNotSteady}
	ErrNodeNotFound               = &Error{Code: CodeNodeNotFound}
	ErrNodeAlreadyInTargetState   = &Error{Code: CodeNodeAlreadyInTargetState}
	ErrTaskDependenciesNotAllowed = &Error{Code: CodeTaskDependenciesNotAllowed}
	ErrTaskDependencyNotFound     = &Error{Code: CodeTaskDependencyNotFound}
	ErrTaskDependencyCycle        = &Error{Code: CodeTaskDependencyCycle}
	ErrOperationInvalidForState   = &Error{Code: CodeOperationInvalidForState}

	ErrJobScheduleExists           = &Error{Code: CodeJobScheduleExists}
	ErrJobScheduleNotFound         = &Error{Code: CodeJobScheduleNotFound}
	ErrJobScheduleCompleted        = &Error{Code: CodeJobScheduleCompleted}
	ErrJobScheduleBeingTerminated  = &Error{Code: CodeJobScheduleBeingTerminated}
	ErrJobScheduleBeingDeleted     = &Error{Code: CodeJobScheduleBeingDeleted}
	ErrJobScheduleWithSameIDExists = &Error{Code: CodeJobScheduleWithSameIDExists}
	ErrJobWithSameIDExists         = &Error{Code: CodeJobWithSameIDExists}
)

// Invalid returns an InvalidPropertyValue error for field with value.
func Invalid(field string, value any, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidPropertyValue, Field: field, Value: fmt.Sprint(value), Message: fmt.Sprintf(format, args...)}
}

// Missing returns a MissingRequiredProperty error for field.
func Missing(field string) *Error {
	return &Error{Code: CodeMissingRequiredProperty, Field: field, Message: "the property is required"}
}

// Errorf returns an *Error with code, field and value.
func Errorf(code, field string, value any, format string, args ...any) *Error {
	v := ""
	if value != nil {
		v = fmt.Sprint(value)
	}
	return &Error{Code: code, Field: field, Value: v, Message: fmt.Sprintf(format, args...)}
}

// prefixed returns a copy of err with prefix prepended to its Field, so that
// nested validation can say "tasks[3].constraints.maxWallClockTime".
func prefixed(prefix string, err error) error {
	e, ok := err.(*Error)
	if !ok || prefix == "" {
		return err
	}
	c := *e
	if c.Field == "" {
		c.Field = prefix
	} else {
		c.Field = prefix + "." + c.Field
	}
	return &c
}

// WithFieldPrefix is prefixed for other packages: it returns err with prefix
// prepended to its Field when err is an *Error, and err unchanged otherwise.
func WithFieldPrefix(prefix string, err error) error { return prefixed(prefix, err) }
