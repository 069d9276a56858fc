package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildEmbatch builds the embatch binary into a temporary directory.
func buildEmbatch(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "embatch")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// markedProcesses returns the pids of live processes whose environment
// holds marker.
func markedProcesses(t *testing.T, marker string) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(env, []byte(marker)) {
			continue // gone, a zombie, or not ours to read
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		pids = append(pids, pid)
	}
	return pids
}

func TestInterruptKillsTasks(t *testing.T) {
	bin := buildEmbatch(t)
	dir := t.TempDir()
	marker := fmt.Sprintf("EMBATCH_SIGNAL_TEST=%d-%d", os.Getpid(), time.Now().UnixNano())
	name, value, _ := strings.Cut(marker, "=")
	// Four tasks fill the pool's four slots: two sleep directly, two under a
	// shell (whose child sleep must die too).
	var tasks []string
	for i := range 4 {
		cmd := "sleep 1000"
		if i%2 == 1 {
			cmd = "/bin/sh -c 'sleep 1000; echo unreachable'"
		}
		tasks = append(tasks, fmt.Sprintf(`{"id": "t%d", "commandLine": %q, "environmentSettings": [{"name": %q, "value": %q}]}`, i, cmd, name, value))
	}
	job := writeFile(t, dir, "job.json", fmt.Sprintf(`{
	  "pools": [{"id": "p", "targetDedicatedNodes": 2, "taskSlotsPerNode": 2}],
	  "jobs": [{"id": "sleepers", "poolInfo": {"poolId": "p"}, "tasks": [%s]}]}`, strings.Join(tasks, ",")))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--data", filepath.Join(dir, "data"), job)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// If the test failed half-way, leave nothing behind.
		for _, pid := range markedProcesses(t, marker) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	// Wait for the progress line that says all four tasks run.
	lines := make(chan string)
	var errText strings.Builder
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for running := false; !running; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("embatch ended before the tasks ran; stderr:\n%s", errText.String())
			}
			errText.WriteString(line + "\n")
			running = strings.Contains(line, "4 running")
		case <-ctx.Done():
			t.Fatalf("tasks never all ran; stderr:\n%s", errText.String())
		}
	}
	if pids := markedProcesses(t, marker); len(pids) < 4 {
		t.Fatalf("%d task processes running, want at least 4", len(pids))
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for line := range lines {
		errText.WriteString(line + "\n")
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("embatch: %v, want exit status %d; stderr:\n%s", err, exitInterrupted, errText.String())
	}
	if pids := markedProcesses(t, marker); len(pids) > 0 {
		t.Errorf("task processes left behind: %v", pids)
	}
	if !strings.Contains(errText.String(), "interrupted") {
		t.Errorf("stderr does not say it was interrupted:\n%s", errText.String())
	}
	for _, want := range []string{"Job sleepers: completed (UserTerminate), 4 tasks: 0 succeeded, 4 failed", "TaskEnded"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("report does not contain %q:\n%s", want, stdout.String())
		}
	}
}
