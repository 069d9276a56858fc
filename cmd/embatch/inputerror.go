package main

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/embatch/embatch/task"
)

// inputError is bad input in a job file: where it is (file, line and
// column, JSON path), the value at fault and what is wrong with it. Every
// error that makes `embatch run` exit with status 2 is an inputError or a
// usage error.
type inputError struct {
	// File is the job file's name as the user gave it ("-" for stdin).
	File string
	// Line and Col locate the value (1-based); 0 when unknown.
	Line, Col int
	// Offset is the 1-based byte position of the value in the file, used
	// to compute Line and Col once the file is known; 0 when unknown.
	Offset int64
	// Path is the JSON path of the value, such as
	// "jobs[0].tasks[3].requiredSlots"; empty for the whole file.
	Path string
	// Value is the offending value, as JSON or as the validator quoted it.
	Value string
	// Code is the Azure error code when validation found the problem.
	Code string
	// Msg says what is wrong.
	Msg string
}

// Error formats the error as "file:line:col: path = value: message (Code)",
// leaving out the parts that are unknown.
func (e *inputError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col))
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		if e.Value != "" {
			b.WriteString(" = " + e.Value)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Code != "" {
		b.WriteString(" (" + e.Code + ")")
	}
	return b.String()
}

// locate sets File, and Line and Col (1-based) from Offset within data.
func (e *inputError) locate(file string, data []byte) *inputError {
	e.File = file
	if e.Offset > 0 && e.Offset <= int64(len(data)) {
		before := data[:e.Offset]
		e.Line = bytes.Count(before, []byte("\n")) + 1
		e.Col = int(e.Offset) - (bytes.LastIndexByte(before, '\n') + 1)
	}
	return e
}

// fromTaskError turns an error of the engine's validation (a *task.Error
// whose Field is relative to prefix) into an inputError. Other errors keep
// their text as the message.
func fromTaskError(err error, prefix string) *inputError {
	var ie *inputError
	if errors.As(err, &ie) {
		return ie
	}
	var te *task.Error
	if !errors.As(err, &te) {
		return &inputError{Path: prefix, Msg: err.Error()}
	}
	e := &inputError{Path: prefix, Code: te.Code, Msg: te.Message}
	if te.Field != "" {
		if strings.HasPrefix(te.Field, "[") {
			e.Path = prefix + te.Field
		} else {
			e.Path = joinPath(prefix, te.Field)
		}
	}
	if te.Value != "" {
		e.Value = strconv.Quote(te.Value)
	}
	if e.Msg == "" {
		e.Msg = te.Code
		e.Code = ""
	}
	return e
}
