package inprocess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// Handler runs one attempt of a task whose command line names it. It should
// return when ctx is cancelled (the task was terminated or hit its wall-clock
// limit). The returned error decides the exit code: nil is 0, an error
// wrapping *ExitError is its Code, anything else is ExitCodeError; a panic is
// recovered and reported as ExitCodePanic. t is valid only until the handler
// returns, except that t.Stdout and t.Stderr may be written to afterwards.
type Handler func(ctx context.Context, t *Task) error

// ExitError sets the exit code a handler reports: return &ExitError{Code: 3}
// (or an error wrapping it) to exit with 3. Code 0 reports success.
type ExitError struct {
	// Code is the exit code to report.
	Code int
	// Err, if set, is the cause; its text becomes FailureInfo.Message.
	Err error
}

// Error returns "exit status N" or "exit status N: cause".
func (e *ExitError) Error() string {
	s := "exit status " + strconv.Itoa(e.Code)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *ExitError) Unwrap() error { return e.Err }

// Exit returns an *ExitError with code and no cause.
func Exit(code int) error { return &ExitError{Code: code} }

// Task is what a Handler gets to know about its attempt: the arguments, the
// environment and where to write output.
type Task struct {
	// Attempt is the attempt being run. The handler must not modify it.
	Attempt *node.Attempt
	// Name is the handler name: the first word of the command line.
	Name string
	// Args are the command line's words after the name; nil if none.
	Args []string
	// NodeID is the node this handler runs for: Attempt.NodeID, or for a
	// multi-instance coordination command, the instance's node.
	NodeID string
	// Stdout and Stderr are kept in memory and read back as "stdout.txt"
	// and "stderr.txt" through the backend's node.FileReader. Each keeps its
	// last WithOutputLimit bytes. They are safe for concurrent use.
	Stdout io.Writer
	Stderr io.Writer

	// node is the node this handler runs for (for the environment) and, for
	// a Task that owns its output, where the output is registered.
	node  *nodeState
	limit int
	files atomic.Pointer[taskFiles]
}

// Environment variables the backend sets, besides Attempt.Env, in the order
// Environ lists them (node.BatchVars's order, without the directories).
const (
	envNodeID       = "AZ_BATCH_NODE_ID"
	envPoolID       = "AZ_BATCH_POOL_ID"
	envIsDedicated  = "AZ_BATCH_NODE_IS_DEDICATED"
	envJobID        = "AZ_BATCH_JOB_ID"
	envTaskID       = "AZ_BATCH_TASK_ID"
	envHostList     = "AZ_BATCH_HOST_LIST"
	envNodeList     = "AZ_BATCH_NODE_LIST"
	envMasterNode   = "AZ_BATCH_MASTER_NODE"
	envIsMasterNode = "AZ_BATCH_IS_CURRENT_NODE_MASTER"
)

var batchEnvNames = [...]string{envNodeID, envPoolID, envIsDedicated, envJobID, envTaskID, envHostList, envNodeList, envMasterNode, envIsMasterNode}

// Getenv returns the value of the environment variable key, or "" if it is
// not set. See LookupEnv.
func (t *Task) Getenv(key string) string {
	v, _ := t.LookupEnv(key)
	return v
}

// LookupEnv returns the value of the environment variable key and whether it
// is set. The environment is Attempt.Env (a later setting of a name wins)
// plus the AZ_BATCH_* variables Azure sets, as node.BatchVars does but
// without the directory ones (in-process tasks have no directories):
//
//   - AZ_BATCH_NODE_ID (NodeID), AZ_BATCH_POOL_ID and
//     AZ_BATCH_NODE_IS_DEDICATED ("true"/"false", from the node's NodeInfo);
//   - AZ_BATCH_JOB_ID and AZ_BATCH_TASK_ID, except for start tasks;
//   - for multi-instance tasks (node.Attempt.MultiInstance), AZ_BATCH_HOST_LIST
//     (instance node ids joined by ','; Azure lists IP addresses),
//     AZ_BATCH_NODE_LIST (joined by ';'), AZ_BATCH_MASTER_NODE ("primary
//     node id:node.DefaultMasterPort") and AZ_BATCH_IS_CURRENT_NODE_MASTER.
//
// These cannot be overridden by Attempt.Env. Lookups do not allocate, except
// for the list and master variables.
func (t *Task) LookupEnv(key string) (string, bool) {
	if strings.HasPrefix(key, node.BatchVarPrefix) {
		if v, ok := t.batchEnv(key); ok {
			return v, true
		}
	}
	env := t.Attempt.Env
	for i := len(env) - 1; i >= 0; i-- {
		if env[i].Name == key {
			return env[i].Value, true
		}
	}
	return "", false
}

func (t *Task) batchEnv(key string) (string, bool) {
	a := t.Attempt
	switch key {
	case envNodeID:
		return t.NodeID, true
	case envPoolID:
		return a.PoolID, true
	case envIsDedicated:
		return t.node.dedicated, true
	case envJobID:
		return a.JobID, a.Kind != node.KindStartTask
	case envTaskID:
		return a.TaskID, a.Kind != node.KindStartTask
	}
	if !a.MultiInstance() {
		return "", false
	}
	nodes := a.InstanceNodes()
	switch key {
	case envHostList:
		return strings.Join(nodes, ","), true
	case envNodeList:
		return strings.Join(nodes, ";"), true
	case envMasterNode:
		return nodes[0] + ":" + strconv.Itoa(node.DefaultMasterPort), true
	case envIsMasterNode:
		return strconv.FormatBool(t.NodeID == nodes[0]), true
	}
	return "", false
}

// Environ returns the whole environment as "NAME=value" strings, like
// os.Environ, in node.BatchEnv's order: Attempt.Env (a later setting of a
// name replaces the value but keeps the first position; settings of the
// AZ_BATCH_* names above are dropped), then the AZ_BATCH_* variables.
func (t *Task) Environ() []string {
	env := t.Attempt.Env
	var batch []string
	reserved := make(map[string]bool, len(batchEnvNames))
	for _, k := range batchEnvNames {
		if v, ok := t.batchEnv(k); ok {
			reserved[k] = true
			batch = append(batch, k+"="+v)
		}
	}
	out := make([]string, 0, len(env)+len(batch))
	index := make(map[string]int, len(env))
	for _, e := range env {
		if reserved[e.Name] {
			continue
		}
		if i, ok := index[e.Name]; ok {
			out[i] = e.Name + "=" + e.Value
			continue
		}
		index[e.Name] = len(out)
		out = append(out, e.Name+"="+e.Value)
	}
	return append(out, batch...)
}

// stdoutWriter and stderrWriter are a Task seen as its Stdout and Stderr:
// converting *Task to them allocates nothing, and neither does a task that
// never writes.
type (
	stdoutWriter Task
	stderrWriter Task
)

func (w *stdoutWriter) Write(p []byte) (int, error) { return writeTask((*Task)(w), false, p) }

func (w *stdoutWriter) WriteString(p string) (int, error) { return writeTask((*Task)(w), false, p) }

func (w *stderrWriter) Write(p []byte) (int, error) { return writeTask((*Task)(w), true, p) }

func (w *stderrWriter) WriteString(p string) (int, error) { return writeTask((*Task)(w), true, p) }

func writeTask[T string | []byte](t *Task, stderr bool, p T) (int, error) {
	if f := t.taskFiles(); f != nil {
		writeFiles(f, stderr, p, t.limit)
	}
	return len(p), nil
}

// taskFiles returns the task's output, creating and registering it with the
// node on first use. It returns nil if the task keeps no output.
func (t *Task) taskFiles() *taskFiles {
	if f := t.files.Load(); f != nil {
		return f
	}
	if t.limit == 0 {
		return nil
	}
	f := &taskFiles{}
	if !t.files.CompareAndSwap(nil, f) {
		return t.files.Load() // another writer won
	}
	t.node.putFiles(fileKey{t.Attempt.JobID, t.Attempt.TaskID}, f)
	return f
}

// outcomeKind says how a handler call ended.
type outcomeKind uint8

const (
	outcomeOK outcomeKind = iota
	outcomeError
	outcomePanic
	outcomeGoexit
)

type outcome struct {
	kind     outcomeKind
	err      error
	panicVal any
	stack    []byte
}

// call runs h, recovering a panic. A runtime.Goexit cannot be stopped: the
// caller's own deferred code must report it.
func call(ctx context.Context, h Handler, t *Task) (o outcome) {
	normal := false
	defer func() {
		if normal {
			return
		}
		if v := recover(); v != nil {
			o = outcome{kind: outcomePanic, panicVal: v, stack: debug.Stack()}
		}
	}()
	err := h(ctx, t)
	normal = true
	if err != nil {
		return outcome{kind: outcomeError, err: err}
	}
	return outcome{}
}

// result maps an outcome to a Result; see the package documentation.
func (o outcome) result(ctx context.Context, start, end time.Time) node.Result {
	r := node.Result{Kind: task.OutcomeExited, StartTime: start, EndTime: end}
	switch o.kind {
	case outcomePanic:
		v := fmt.Sprint(o.panicVal)
		r.ExitCode = ExitCodePanic
		r.FailureInfo = &task.FailureInfo{
			Category: task.UserError,
			Code:     task.FailureTaskPanicked,
			Message:  "handler panicked: " + v,
			Details:  []task.NameValue{{Name: "panic", Value: v}, {Name: "stack", Value: string(o.stack)}},
		}
		return r
	case outcomeGoexit:
		r.ExitCode = ExitCodePanic
		r.FailureInfo = &task.FailureInfo{
			Category: task.UserError,
			Code:     task.FailureTaskPanicked,
			Message:  "handler called runtime.Goexit",
		}
		return r
	}
	if ctx.Err() != nil {
		return terminated(ctx, o.err, start, end)
	}
	if o.kind == outcomeOK {
		return r
	}
	r.ExitCode = ExitCodeError
	if ee, ok := errors.AsType[*ExitError](o.err); ok {
		if ee.Code == 0 {
			r.ExitCode = 0
			return r
		}
		r.ExitCode = ee.Code
	}
	r.FailureInfo = &task.FailureInfo{Category: task.UserError, Code: task.FailureNonZeroExit, Message: o.err.Error()}
	return r
}
