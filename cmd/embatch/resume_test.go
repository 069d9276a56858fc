package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// resumeJob is a job of 150 marking tasks and a task "crash" that runs
// after tasks 0-99 and, the first time, kills embatch (its parent) with
// SIGKILL.
func resumeJob(dir, marks string) string {
	var tasks []string
	for i := range 150 {
		tasks = append(tasks, fmt.Sprintf(`{"id": "%d", "commandLine": "/bin/sh -c 'echo x >> %s/$AZ_BATCH_TASK_ID'"}`, i, marks))
	}
	crash := fmt.Sprintf(`if [ ! -e %[1]s/crashed ]; then touch %[1]s/crashed; kill -9 $PPID; sleep 5; fi`, dir)
	tasks = append(tasks, fmt.Sprintf(`{"id": "crash", "commandLine": "/bin/sh -c '%s'", "dependsOn": {"taskIdRanges": [{"start": 0, "end": 99}]}}`, crash))
	return fmt.Sprintf(`{
	  "pools": [{"id": "p", "targetDedicatedNodes": 2, "taskSlotsPerNode": 4}],
	  "jobs": [{"id": "resumable", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": true,
	            "onAllTasksComplete": "terminatejob", "tasks": [%s]}]}`, strings.Join(tasks, ",\n"))
}

// TestRunResumesAfterCrash: embatch is killed (by one of its tasks) in the
// middle of a job; the same command again finishes the job without
// running again the tasks that had completed. A different job file for
// the job is then refused, unless --replace.
func TestRunResumesAfterCrash(t *testing.T) {
	bin := buildEmbatch(t)
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	if err := os.Mkdir(marks, 0o755); err != nil {
		t.Fatal(err)
	}
	job := writeFile(t, dir, "job.json", resumeJob(dir, marks))
	data := filepath.Join(dir, "data")

	out, err := exec.Command(bin, "run", "--quiet", "--data", data, job).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("first run: %v, want killed by its task\n%s", err, out)
	}

	out, err = exec.Command(bin, "run", "--data", data, job).CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "job resumable: resumed") {
		t.Errorf("second run does not say it resumed:\n%s", out)
	}
	for i := range 150 {
		b, err := os.ReadFile(filepath.Join(marks, fmt.Sprint(i)))
		if err != nil {
			t.Fatalf("task %d never ran: %v", i, err)
		}
		n := strings.Count(string(b), "x")
		// Tasks 0-99 completed before "crash" started, so before the
		// kill: they never run again. Others may have been running at
		// the kill and run again once.
		if n != 1 && (i < 100 || n > 2) {
			t.Errorf("task %d ran %d times", i, n)
		}
	}

	// The same command a third time only reports.
	out, err = exec.Command(bin, "run", "--quiet", "--data", data, job).CombinedOutput()
	if err != nil {
		t.Fatalf("third run: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(marks, "0")); string(b) != "x\n" {
		t.Errorf("task 0 ran again in the third run: %q", b)
	}

	// A different job file for the same job id.
	changed := writeFile(t, dir, "changed.json", strings.Replace(resumeJob(dir, marks), `"id": "149"`, `"id": "150"`, 1))
	res := runEmbatch(t, "", "run", "--quiet", "--data", data, changed)
	if res.code != exitUsage || !strings.Contains(res.stderr, "--replace") {
		t.Fatalf("changed job file: exit %d\n%s", res.code, res.stderr)
	}
	res = runEmbatch(t, "", "run", "--quiet", "--replace", "--data", data, changed)
	if res.code != exitOK {
		t.Fatalf("changed job file with --replace: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(marks, "0")); string(b) != "x\nx\n" {
		t.Errorf("task 0 after --replace: %q, want a second run", b)
	}
}
