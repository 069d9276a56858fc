package autoscale

import (
	"errors"
	"fmt"
)

// Error codes carried by *Error. The first three are Azure Batch's; Azure
// does not document a code for other run-time failures, so
// CodeEvaluationFailed is embatch's.
const (
	// CodeSyntaxError is Azure's AutoScalingFormulaSyntaxError: the formula
	// does not lex, parse or type-check, or has more than MaxStatements
	// statements.
	CodeSyntaxError = "AutoScalingFormulaSyntaxError"
	// CodeTooLong is Azure's AutoScalingFormulaTooLong: the formula has more
	// than MaxFormulaLength characters.
	CodeTooLong = "AutoScalingFormulaTooLong"
	// CodeInsufficientSampleData is Azure's InsufficientSampleData: a
	// GetSample call with a samplePercent found fewer samples than that.
	CodeInsufficientSampleData = "InsufficientSampleData"
	// CodeEvaluationFailed is any other run-time failure (avg of an empty
	// vector, val index out of range, a negative target, ...).
	CodeEvaluationFailed = "AutoScaleEvaluationFailed"
)

// Sentinel errors, one per code. Every *Error unwraps to the one for its
// code, so errors.Is(err, ErrInsufficientSampleData) works.
var (
	ErrSyntax                 = errors.New("autoscale: formula syntax error")
	ErrTooLong                = errors.New("autoscale: formula too long")
	ErrInsufficientSampleData = errors.New("autoscale: insufficient sample data")
	ErrEvaluation             = errors.New("autoscale: evaluation failed")
)

// Error is a formula error: what went wrong and where. Parse returns only
// CodeSyntaxError and CodeTooLong; Evaluate returns CodeInsufficientSampleData
// and CodeEvaluationFailed.
type Error struct {
	// Code is the Azure-style error code (Code* constants).
	Code string
	// Line and Col are the 1-based position in the formula (Col counts
	// characters, not bytes); both are 0 when the error is about the whole
	// formula (too long, no statements).
	Line, Col int
	// Msg says what is wrong, without the position.
	Msg string
}

// Error returns "line:col: msg", or just msg when there is no position.
func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
}

// Detail formats the error as Azure writes it in AutoScaleRun.error.values
// ("Line 15, Col 44: ...").
func (e *Error) Detail() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("Line %d, Col %d: %s", e.Line, e.Col, e.Msg)
}

// Unwrap returns the sentinel error for e.Code.
func (e *Error) Unwrap() error {
	switch e.Code {
	case CodeSyntaxError:
		return ErrSyntax
	case CodeTooLong:
		return ErrTooLong
	case CodeInsufficientSampleData:
		return ErrInsufficientSampleData
	case CodeEvaluationFailed:
		return ErrEvaluation
	}
	return nil
}

// pos is a 1-based position in the formula source.
type pos struct{ line, col int }

func syntaxError(p pos, format string, args ...any) *Error {
	return &Error{Code: CodeSyntaxError, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
}

func evalError(p pos, format string, args ...any) *Error {
	return &Error{Code: CodeEvaluationFailed, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
}
