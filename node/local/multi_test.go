package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

func multiAttempt(taskID, coordination, main string) *node.Attempt {
	return &node.Attempt{ID: 5, Kind: node.KindTask, PoolID: "pool", JobID: "job", TaskID: taskID,
		NodeID: "n1", Nodes: []string{"n1", "n2", "n3"}, Dedicated: true,
		CoordinationCommandLine: coordination, CommandLine: main}
}

func TestMultiInstance(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1", "n2", "n3")
	common := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, common, "common\n")
	other := filepath.Join(t.TempDir(), "input")
	writeFile(t, other, "primary-only\n")

	a := multiAttempt("mpi",
		`/bin/sh -c 'env; cat "$AZ_BATCH_TASK_SHARED_DIR/hosts.txt"'`,
		`/bin/sh -c 'env; cat input.txt; cat ../coordination-stdout.txt >/dev/null'`)
	a.CommonResourceFiles = []task.ResourceFile{{HTTPURL: "file://" + common, FilePath: "hosts.txt"}}
	a.ResourceFiles = []task.ResourceFile{{HTTPURL: "file://" + other, FilePath: "input.txt"}}
	r := run(t, b, a)
	wantExit(t, r, 0)

	hosts := "127.0.0.2,127.0.0.3,127.0.0.4"
	for i, id := range a.Nodes {
		taskDir := filepath.Join(b.NodeLayout(id).Root, "workitems", "job", "job-1", "mpi")
		out := readFile(t, filepath.Join(taskDir, "coordination-stdout.txt"))
		env := parseEnv(out)
		want := map[string]string{
			"AZ_BATCH_NODE_ID":                id,
			"AZ_BATCH_HOST_LIST":              hosts,
			"AZ_BATCH_NODE_LIST":              strings.ReplaceAll(hosts, ",", ";"),
			"AZ_BATCH_MASTER_NODE":            "127.0.0.2:6000",
			"AZ_BATCH_IS_CURRENT_NODE_MASTER": map[bool]string{true: "true", false: "false"}[i == 0],
			"AZ_BATCH_TASK_SHARED_DIR":        taskDir,
			"AZ_BATCH_TASK_DIR":               taskDir,
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("node %s coordination: %s = %q, want %q", id, k, env[k], v)
			}
		}
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
	main := readFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt"))
	if env := parseEnv(main); env["AZ_BATCH_IS_CURRENT_NODE_MASTER"] != "true" || env["AZ_BATCH_HOST_LIST"] != hosts {
		t.Errorf("main command env: master %q hosts %q", env["AZ_BATCH_IS_CURRENT_NODE_MASTER"], env["AZ_BATCH_HOST_LIST"])
	}
	if !strings.Contains(main, "primary-only\n") {
		t.Errorf("main command did not see its resource file")
	}
}

func TestMultiInstanceFailureKillsTheRest(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1", "n2", "n3")
	f := fifo(t)
	// n2 fails once the others are running (they wrote their pids, n1 and n3
	// in either order), so the others must be killed.
	coord := `/bin/sh -c 'if [ "$AZ_BATCH_NODE_ID" = n2 ]; then read x < "$FIFO"; exit 5; fi; echo $$ > "$FIFO.$AZ_BATCH_NODE_ID"; sleep 1000'`
	a := multiAttempt("mpifail", coord, "/bin/echo main")
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: f}}
	for _, id := range []string{"n1", "n3"} {
		if err := syscall.Mkfifo(f+"."+id, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ch := start(context.Background(), b, a)
	var pgids []int
	for _, id := range []string{"n1", "n3"} {
		pgids = append(pgids, readPIDs(t, f+"."+id, ch)...)
	}
	// Release n2.
	w, err := os.OpenFile(f, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("go\n")
	w.Close()

	r := wait(t, ch)
	wantFailure(t, r, task.OutcomeExited, task.FailureMultiInstanceFailure)
	if r.ExitCode != 5 || !strings.Contains(r.FailureInfo.Message, "n2") {
		t.Errorf("exit %d, message %q; want 5 from node n2", r.ExitCode, r.FailureInfo.Message)
	}
	if _, err := os.Stat(filepath.Join(r.TaskRootDirectory, "stdout.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the main command ran after a failed coordination: %v", err)
	}
	for _, pgid := range pgids {
		if live := liveProcesses(t, pgid); len(live) > 0 {
			t.Errorf("processes left behind: %q", live)
		}
	}
}

func TestMultiInstanceCommandNotFound(t *testing.T) {
	b := newBackend(t)
	addNodes(t, b, "n1", "n2", "n3")
	r := run(t, b, multiAttempt("mpinf", "no-such-coordinator-embatch", "/bin/true"))
	wantFailure(t, r, task.OutcomePreProcessingError, task.FailureCommandNotFound)
}
