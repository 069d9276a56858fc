package node

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/embatch/embatch/task"
)

// ExitFailure is the FailureInfo of a command that ran and ended: nil for a
// plain exit (the engine judges exit codes), TaskEnded when the backend
// killed it because its attempt was cancelled (terminated is set; cause is
// the context's cause, named in the message unless it is a plain
// cancellation), ProcessSignaled when signal (non-zero) killed it
// otherwise.
func ExitFailure(terminated bool, cause error, signal syscall.Signal) *task.FailureInfo {
	switch {
	case terminated:
		fi := &task.FailureInfo{Category: task.UserError, Code: task.FailureTaskTerminated, Message: "the task was terminated"}
		if cause != nil && !errors.Is(cause, context.Canceled) {
			fi.Message += ": " + cause.Error()
		}
		if signal != 0 {
			fi.Message += fmt.Sprintf(" (process killed by %s)", SignalName(signal))
			fi.Details = []task.NameValue{{Name: "Signal", Value: SignalName(signal)}}
		}
		return fi
	case signal != 0:
		return &task.FailureInfo{Category: task.UserError, Code: task.FailureSignaled,
			Message: fmt.Sprintf("the process was killed by %s", SignalName(signal)),
			Details: []task.NameValue{{Name: "Signal", Value: SignalName(signal)}}}
	}
	return nil
}

// signalNames are the Linux names of the standard signals.
var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGCHLD: "SIGCHLD", syscall.SIGCONT: "SIGCONT",
	syscall.SIGSTOP: "SIGSTOP", syscall.SIGTSTP: "SIGTSTP", syscall.SIGTTIN: "SIGTTIN",
	syscall.SIGTTOU: "SIGTTOU", syscall.SIGURG: "SIGURG", syscall.SIGXCPU: "SIGXCPU",
	syscall.SIGXFSZ: "SIGXFSZ", syscall.SIGVTALRM: "SIGVTALRM", syscall.SIGPROF: "SIGPROF",
	syscall.SIGWINCH: "SIGWINCH", syscall.SIGIO: "SIGIO", syscall.SIGSYS: "SIGSYS",
}

// SignalName is sig's Linux name, such as "SIGKILL", or "signal 40".
func SignalName(sig syscall.Signal) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return fmt.Sprintf("signal %d", int(sig))
}

// Failure builds a FailureInfo.
func Failure(cat task.ErrorCategory, code, format string, args ...any) *task.FailureInfo {
	return &task.FailureInfo{Category: cat, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ServerErrorResult is res for an attempt the backend itself could not
// carry out (a node that is not up, a directory it cannot create): a
// pre-processing outcome, exit code -1, servererror NodeStateUnusable.
func ServerErrorResult(res Result, err error) Result {
	res.Kind = task.OutcomePreProcessingError
	res.ExitCode = -1
	res.FailureInfo = Failure(task.ServerError, "NodeStateUnusable", "%v", err)
	return res
}

// PreProcessingResult is res for an attempt whose command could not start
// because of its own settings: code is task.FailureResourceFile or
// task.FailureCommandNotFound, exit code -1.
func PreProcessingResult(res Result, code string, err error) Result {
	res.Kind = task.OutcomePreProcessingError
	res.ExitCode = -1
	res.FailureInfo = Failure(task.UserError, code, "%v", err)
	return res
}

// TerminatedResult is res for an attempt terminated before its command ran:
// exit code -1, failure TaskEnded naming cause (the attempt context's
// cause; see ExitFailure).
func TerminatedResult(res Result, cause error) Result {
	res.Kind = task.OutcomeExited
	res.ExitCode = -1
	res.FailureInfo = ExitFailure(true, cause, 0)
	return res
}

// CoordinationFailure is the FailureInfo of a multi-instance task whose
// coordination command on node nodeID ran and did not succeed: it exited
// with code, or signal killed it, or it was terminated (terminated, cause
// and signal as for ExitFailure). A termination is reported as such;
// anything else is a MultiInstanceFailure naming the node and the code. The
// details always name the node (NodeId).
func CoordinationFailure(nodeID string, code int, terminated bool, cause error, signal syscall.Signal) *task.FailureInfo {
	fi := ExitFailure(terminated, cause, signal) // never nil when terminated
	if !terminated {
		signalled := fi // nil for a plain exit
		fi = Failure(task.UserError, task.FailureMultiInstanceFailure,
			"the coordination command on node %s exited with code %d", nodeID, code)
		if signalled != nil {
			fi.Message += " (" + signalled.Message + ")"
			fi.Details = signalled.Details
		}
	}
	fi.Details = append(fi.Details, task.NameValue{Name: "NodeId", Value: nodeID})
	return fi
}
