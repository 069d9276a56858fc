package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// Limits of the human-readable report.
const (
	// maxListedTasks is the number of tasks up to which a job's table lists
	// every task; bigger jobs list only the tasks that did not succeed.
	maxListedTasks = 50
	// stderrTailLines and stderrTailBytes bound the tail of a failed
	// task's stderr.txt shown in the report.
	stderrTailLines = 10
	stderrTailBytes = 4096
)

// codeFileNotFound is Azure's error code for a task file that does not
// exist.
const codeFileNotFound = "FileNotFound"

// report is what `embatch run` prints at the end. Its JSON form (--json)
// is exactly {"jobs": [{"id", "state", "taskCounts", "tasks": [...]}]},
// each task with the fields of Azure's CloudTask that say what happened.
type report struct {
	Jobs []jobReport `json:"jobs"`
}

// jobReport is one job of the report.
type jobReport struct {
	ID         string          `json:"id"`
	State      task.JobState   `json:"state"`
	TaskCounts task.TaskCounts `json:"taskCounts"`
	Tasks      []taskReport    `json:"tasks"`

	// terminateReason is the job's executionInfo.terminateReason, for the
	// text form.
	terminateReason string
}

// taskReport is one task of the report: Azure's CloudTask id, state,
// executionInfo and nodeInfo.
type taskReport struct {
	ID            string             `json:"id"`
	State         task.TaskState     `json:"state"`
	ExecutionInfo task.ExecutionInfo `json:"executionInfo"`
	NodeInfo      *task.NodeInfo     `json:"nodeInfo,omitempty"`

	// hasDeps is set when the task depends on other tasks.
	hasDeps bool
	// stderrTail is the end of a failed task's stderr.txt.
	stderrTail string
	// stderrErr says why stderrTail could not be read.
	stderrErr error
}

// succeeded reports whether the task completed successfully.
func (t *taskReport) succeeded() bool {
	return t.State == task.TaskCompleted && t.ExecutionInfo.Result == task.ResultSuccess
}

// buildReport reads the jobs' final records from the account, with the
// stderr tail of every failed task.
func buildReport(ctx context.Context, acct *engine.Account, jobIDs []string) *report {
	r := &report{Jobs: []jobReport{}}
	for _, id := range jobIDs {
		j, err := acct.GetJob(ctx, id)
		if err != nil {
			continue
		}
		jr := jobReport{ID: j.ID, State: j.State, terminateReason: j.ExecutionInfo.TerminationReason, Tasks: []taskReport{}}
		if c, err := acct.TaskCounts(ctx, id); err == nil {
			jr.TaskCounts = c.TaskCounts
		}
		for t, err := range acct.Tasks(ctx, id, engine.TaskFilter{}) {
			if err != nil {
				break
			}
			tr := taskReport{ID: t.ID, State: t.State, ExecutionInfo: t.ExecutionInfo, NodeInfo: t.NodeInfo,
				hasDeps: t.DependsOn != nil && (len(t.DependsOn.TaskIDs) > 0 || len(t.DependsOn.TaskIDRanges) > 0)}
			if t.State == task.TaskCompleted && !tr.succeeded() && t.NodeInfo != nil {
				data, err := acct.ReadTaskFile(ctx, id, t.ID, node.StderrFile)
				var te *task.Error
				if errors.As(err, &te) && te.Code == codeFileNotFound {
					err = nil // the command never started
				}
				tr.stderrTail, tr.stderrErr = tail(data, stderrTailLines, stderrTailBytes), err
			}
			jr.Tasks = append(jr.Tasks, tr)
		}
		r.Jobs = append(r.Jobs, jr)
	}
	return r
}

// allSucceeded reports whether every task of every job succeeded.
func (r *report) allSucceeded() bool {
	for _, j := range r.Jobs {
		for i := range j.Tasks {
			if !j.Tasks[i].succeeded() {
				return false
			}
		}
	}
	return true
}

// tail returns the last lines of data, at most maxBytes of them.
func tail(data []byte, lines, maxBytes int) string {
	data = bytes.TrimRight(data, "\n")
	if len(data) > maxBytes {
		data = data[len(data)-maxBytes:]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	for i, n := len(data), 0; i > 0; i-- {
		if data[i-1] == '\n' {
			n++
			if n == lines {
				return string(data[i:])
			}
		}
	}
	return string(data)
}

// writeText writes the human-readable report: a table of each job's tasks,
// then why each failed task failed, with the tail of its stderr.
func (r *report) writeText(w io.Writer) {
	for _, j := range r.Jobs {
		notRun := j.TaskCounts.Active + j.TaskCounts.Running
		fmt.Fprintf(w, "Job %s: %s", j.ID, j.State)
		if j.terminateReason != "" {
			fmt.Fprintf(w, " (%s)", j.terminateReason)
		}
		fmt.Fprintf(w, ", %s: %d succeeded, %d failed", plural(len(j.Tasks), "task", "tasks"), j.TaskCounts.Succeeded, j.TaskCounts.Failed)
		if notRun > 0 {
			fmt.Fprintf(w, ", %d did not complete", notRun)
		}
		fmt.Fprintln(w)
		j.writeTable(w)
		for i := range j.Tasks {
			j.Tasks[i].writeProblem(w, &j)
		}
		fmt.Fprintln(w)
	}
}

// writeTable writes the job's tasks as a table; for a big job, only those
// that did not succeed.
func (j *jobReport) writeTable(w io.Writer) {
	var list []*taskReport
	for i := range j.Tasks {
		if len(j.Tasks) <= maxListedTasks || !j.Tasks[i].succeeded() {
			list = append(list, &j.Tasks[i])
		}
	}
	if len(list) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  TASK\tSTATE\tRESULT\tEXIT\tRETRIES\tREQUEUES\tNODE\tDURATION")
		for _, t := range list {
			e := &t.ExecutionInfo
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", t.ID, t.State, dash(string(e.Result)),
				exitCodeText(e.ExitCode), e.RetryCount, e.RequeueCount, nodeText(t.NodeInfo), durationText(e.StartTime, e.EndTime))
		}
		tw.Flush()
	}
	if hidden := len(j.Tasks) - len(list); hidden > 0 {
		fmt.Fprintf(w, "  (%d succeeded tasks not listed; --json lists every task)\n", hidden)
	}
}

// writeProblem says why a task of job j did not succeed, if it did not.
func (t *taskReport) writeProblem(w io.Writer, j *jobReport) {
	if t.succeeded() {
		return
	}
	jobID := j.ID
	e := &t.ExecutionInfo
	if t.State != task.TaskCompleted {
		why := "the job ended first"
		switch {
		case j.terminateReason == reasonPoolUnusable:
			why = "no node of its pool could run tasks"
		case t.hasDeps && j.terminateReason == reasonTasksBlocked:
			why = "a task it depends on did not succeed"
		}
		fmt.Fprintf(w, "Task %s/%s did not run: %s.\n", jobID, t.ID, why)
		return
	}
	fmt.Fprintf(w, "Task %s/%s failed", jobID, t.ID)
	var details []string
	if e.ExitCode != nil {
		details = append(details, "exit code "+strconv.Itoa(*e.ExitCode))
	}
	if e.RetryCount > 0 {
		details = append(details, "after "+plural(e.RetryCount, "retry", "retries"))
	}
	if len(details) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(details, ", "))
	}
	if f := e.FailureInfo; f != nil {
		fmt.Fprintf(w, ": %s", f.Code)
		if f.Message != "" {
			fmt.Fprintf(w, ": %s", f.Message)
		}
	}
	fmt.Fprintln(w)
	switch {
	case t.stderrErr != nil:
		fmt.Fprintf(w, "  (cannot read stderr.txt: %v)\n", t.stderrErr)
	case t.stderrTail == "":
	default:
		where := "stderr.txt"
		if t.NodeInfo != nil && t.NodeInfo.TaskRootDirectory != "" {
			where = t.NodeInfo.TaskRootDirectory + "/" + node.StderrFile
		}
		fmt.Fprintf(w, "  end of %s:\n", where)
		for line := range strings.SplitSeq(t.stderrTail, "\n") {
			fmt.Fprintf(w, "  | %s\n", line)
		}
	}
}

// plural formats n with the singular or plural noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// dash returns s, or "-" for an empty s.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// exitCodeText formats an exit code, "-" when there is none.
func exitCodeText(code *int) string {
	if code == nil {
		return "-"
	}
	return strconv.Itoa(*code)
}

// nodeText formats where a task ran as pool/node.
func nodeText(n *task.NodeInfo) string {
	if n == nil {
		return "-"
	}
	return n.PoolID + "/" + n.NodeID
}

// durationText formats how long a task ran, "-" if it did not.
func durationText(start, end time.Time) string {
	if start.IsZero() || end.IsZero() {
		return "-"
	}
	return roundDuration(end.Sub(start))
}

// roundDuration formats d with a precision that suits its size.
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
