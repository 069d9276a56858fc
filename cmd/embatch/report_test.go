package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

func TestTail(t *testing.T) {
	tests := []struct {
		in    string
		lines int
		bytes int
		want  string
	}{
		{in: "", lines: 3, bytes: 100, want: ""},
		{in: "a\nb\n", lines: 3, bytes: 100, want: "a\nb"},
		{in: "a\nb\nc\nd\n", lines: 2, bytes: 100, want: "c\nd"},
		{in: "a\nb\nc\nd", lines: 2, bytes: 100, want: "c\nd"},
		{in: "aaaa\nbbbb\ncccc\n", lines: 10, bytes: 7, want: "cccc"}, // cut to whole lines
	}
	for _, tt := range tests {
		if got := tail([]byte(tt.in), tt.lines, tt.bytes); got != tt.want {
			t.Errorf("tail(%q, %d, %d) = %q, want %q", tt.in, tt.lines, tt.bytes, got, tt.want)
		}
	}
}

func TestTextReportListsOnlyProblemsOfBigJobs(t *testing.T) {
	zero, one := 0, 1
	jr := jobReport{ID: "big", State: task.JobCompleted, terminateReason: task.TerminateReasonAllTasksComplete}
	for i := range maxListedTasks + 10 {
		tr := taskReport{ID: fmt.Sprint(i), State: task.TaskCompleted,
			ExecutionInfo: task.ExecutionInfo{ExitCode: &zero, Result: task.ResultSuccess}}
		if i == 7 {
			tr.ExecutionInfo = task.ExecutionInfo{ExitCode: &one, Result: task.ResultFailure}
			tr.NodeInfo = &task.NodeInfo{PoolID: "p", NodeID: "n", TaskRootDirectory: "/d/7"}
			tr.stderrTail = "it broke"
		}
		jr.Tasks = append(jr.Tasks, tr)
	}
	jr.TaskCounts = task.TaskCounts{Completed: len(jr.Tasks), Succeeded: len(jr.Tasks) - 1, Failed: 1}
	var b strings.Builder
	(&report{Jobs: []jobReport{jr}}).writeText(&b)
	got := b.String()
	for _, want := range []string{
		"Job big: completed (AllTasksComplete), 60 tasks: 59 succeeded, 1 failed\n",
		"  7     completed  failure  1",
		"  (59 succeeded tasks not listed; --json lists every task)\n",
		"Task big/7 failed (exit code 1)\n  end of /d/7/stderr.txt:\n  | it broke\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report does not contain %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "completed  success") != 0 {
		t.Errorf("succeeded tasks listed:\n%s", got)
	}
}

func TestProgressBar(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	acct, err := engine.New(backendOptions(t.TempDir())...)
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tty := range []bool{true, false} {
		var out syncBuffer
		jobID := fmt.Sprintf("j-%v", tty)
		prog := startProgress(acct, &out, tty, 3)
		if err := acct.AddJob(ctx, task.JobSpec{ID: jobID, PoolInfo: task.PoolInformation{PoolID: "p"},
			OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob}); err != nil {
			t.Fatal(err)
		}
		prog.addJob(jobID)
		if err := acct.AddTasks(ctx, jobID, []task.TaskSpec{{ID: "a", CommandLine: "true"}, {ID: "b", CommandLine: "false"}, {ID: "c", CommandLine: "true"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := acct.WaitJob(ctx, jobID); err != nil {
			t.Fatal(err)
		}
		prog.stop()
		got := out.String()
		want := ": 3 tasks: 0 active, 0 running, 2 succeeded, 1 failed\n"
		if !strings.Contains(got, "embatch: finished in ") || !strings.HasSuffix(got, want) {
			t.Errorf("tty %v: progress output ends %q, want %q", tty, got[max(0, len(got)-80):], want)
		}
		if tty && !strings.Contains(got, "(0/3)") {
			t.Errorf("no bar drawn:\n%q", got)
		}
	}
}
