package nodetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/embatch/embatch/task"
)

func testMultiInstance(t *testing.T, e Env) {
	b := e.Start(t, 3, Options{})
	common := filepath.Join(t.TempDir(), "hosts")
	WriteFile(t, common, "common\n")
	other := filepath.Join(t.TempDir(), "input")
	WriteFile(t, other, "primary-only\n")

	a := e.MultiAttempt("mpi",
		`/bin/sh -c 'env; cat "$AZ_BATCH_TASK_SHARED_DIR/hosts.txt"'`,
		`/bin/sh -c 'env; cat input.txt; cat ../coordination-stdout.txt >/dev/null'`)
	a.CommonResourceFiles = []task.ResourceFile{{HTTPURL: "file://" + common, FilePath: "hosts.txt"}}
	a.ResourceFiles = []task.ResourceFile{{HTTPURL: "file://" + other, FilePath: "input.txt"}}
	r := RunAttempt(t, b, a)
	WantExit(t, r, 0)

	hosts := strings.Join(e.HostAddrs[:3], ",")
	for i, id := range a.Nodes {
		taskDir := filepath.Join(e.Layout(b, id).Root, "workitems", "job", "job-1", "mpi")
		out := ReadFile(t, filepath.Join(taskDir, "coordination-stdout.txt"))
		env := ParseEnv(out)
		want := map[string]string{
			"AZ_BATCH_NODE_ID":                id,
			"AZ_BATCH_HOST_LIST":              hosts,
			"AZ_BATCH_NODE_LIST":              strings.ReplaceAll(hosts, ",", ";"),
			"AZ_BATCH_MASTER_NODE":            e.HostAddrs[0] + ":6000",
			"AZ_BATCH_IS_CURRENT_NODE_MASTER": map[bool]string{true: "true", false: "false"}[i == 0],
			"AZ_BATCH_TASK_SHARED_DIR":        taskDir,
			"AZ_BATCH_TASK_DIR":               taskDir,
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("node %s coordination: %s = %q, want %q", id, k, env[k], v)
			}
		}
		e.checkEnv(t, b, id, env)
		if !strings.Contains(out, "common\n") {
			t.Errorf("node %s: common resource file not in the task directory", id)
		}
		if _, err := os.Stat(filepath.Join(taskDir, "wd", "hosts.txt")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("node %s: common resource file landed in wd: %v", id, err)
		}
		_, err := os.Stat(filepath.Join(taskDir, "wd", "input.txt"))
		if i == 0 && err != nil {
			t.Errorf("primary: resource file missing: %v", err)
		}
		if i > 0 && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("node %s: resource file belongs to the primary only: %v", id, err)
		}
		_, err = os.Stat(filepath.Join(taskDir, "stdout.txt"))
		if i > 0 && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("node %s: the main command ran on a secondary instance", id)
		}
	}
	main := ReadFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt"))
	env := ParseEnv(main)
	if env["AZ_BATCH_IS_CURRENT_NODE_MASTER"] != "true" || env["AZ_BATCH_HOST_LIST"] != hosts {
		t.Errorf("main command env: master %q hosts %q", env["AZ_BATCH_IS_CURRENT_NODE_MASTER"], env["AZ_BATCH_HOST_LIST"])
	}
	e.checkEnv(t, b, a.NodeID, env)
	if !strings.Contains(main, "primary-only\n") {
		t.Errorf("main command did not see its resource file")
	}
}

func testMultiInstanceFailureKillsTheRest(t *testing.T, e Env) {
	b := e.Start(t, 3, Options{})
	f := Fifo(t)
	failing, running := e.Nodes[1], []string{e.Nodes[0], e.Nodes[2]}
	// The second node fails once the others are running (they wrote their
	// pids, in either order), so the others must be killed.
	coord := `/bin/sh -c 'if [ "$AZ_BATCH_NODE_ID" = ` + failing + ` ]; then read x < "$FIFO"; exit 5; fi; sleep 1000 & echo $$ $! > "$FIFO.$AZ_BATCH_NODE_ID"; wait'`
	a := e.MultiAttempt("mpifail", coord, "/bin/echo main")
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: f}}
	for _, id := range running {
		if err := syscall.Mkfifo(f+"."+id, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	ch := StartAttempt(context.Background(), b, a)
	var pids [][]int
	for _, id := range running {
		pids = append(pids, ReadPIDs(t, f+"."+id, ch))
	}
	w, err := os.OpenFile(f, os.O_WRONLY, 0) // releases the failing node
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("go\n")
	w.Close()

	r := Wait(t, ch)
	WantFailure(t, r, task.OutcomeExited, task.FailureMultiInstanceFailure)
	if r.ExitCode != 5 || !strings.Contains(r.FailureInfo.Message, failing) {
		t.Errorf("exit %d, message %q; want 5 from node %s", r.ExitCode, r.FailureInfo.Message, failing)
	}
	if _, err := os.Stat(filepath.Join(r.TaskRootDirectory, "stdout.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the main command ran after a failed coordination: %v", err)
	}
	for _, p := range pids {
		e.wantGone(t, p[0], p[1:]...)
	}
}

func testMultiInstanceCommandNotFound(t *testing.T, e Env) {
	b := e.Start(t, 3, Options{})
	r := RunAttempt(t, b, e.MultiAttempt("mpinf", "no-such-coordinator-embatch", "/bin/true"))
	WantFailure(t, r, task.OutcomePreProcessingError, task.FailureCommandNotFound)
}

func testMultiInstanceWithTerminate(t *testing.T, e Env) {
	b := e.Start(t, 3, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, pids := StartRunning(ctx, t, b, e.MultiAttempt("mpiterm", "/bin/true", `/bin/sh -c 'echo $$ > "$FIFO"; sleep 1000'`))
	cancel()
	WantFailure(t, Wait(t, ch), task.OutcomeExited, task.FailureTaskTerminated)
	e.wantGone(t, pids[0])
}
