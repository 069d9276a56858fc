package ssh

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

// multiIPs are the loopback addresses of the three sshd's of the
// multi-instance tests: Linux routes all of 127/8 to the loopback
// interface, so each "host" gets its own address on this machine.
var multiIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}

func multiAttempt(taskID, coordination, main string) *node.Attempt {
	return &node.Attempt{ID: nextID(), Kind: node.KindTask, PoolID: testPool, JobID: "job", TaskID: taskID,
		NodeID: "tvm-1", Nodes: []string{"tvm-1", "tvm-2", "tvm-3"}, Dedicated: true,
		CoordinationCommandLine: coordination, CommandLine: main}
}

func TestMultiInstance(t *testing.T) {
	f := newFixture(t, multiIPs)
	common := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, common, "common\n")
	other := filepath.Join(t.TempDir(), "input")
	writeFile(t, other, "primary-only\n")

	a := multiAttempt("mpi",
		`/bin/sh -c 'env; cat "$AZ_BATCH_TASK_SHARED_DIR/hosts.txt"'`,
		`/bin/sh -c 'env; cat input.txt'`)
	a.CommonResourceFiles = []task.ResourceFile{{HTTPURL: "file://" + common, FilePath: "hosts.txt"}}
	a.ResourceFiles = []task.ResourceFile{{HTTPURL: "file://" + other, FilePath: "input.txt"}}
	r := run(t, f.b, a)
	wantExit(t, r, 0)

	hosts := strings.Join(multiIPs, ",")
	for i, id := range a.Nodes {
		taskDir := f.b.NodeLayout(testPool, id).TaskDir("job", "mpi")
		out := readFile(t, filepath.Join(taskDir, node.CoordinationStdoutFile))
		env := parseEnv(out)
		want := map[string]string{
			"AZ_BATCH_NODE_ID":                id,
			"AZ_BATCH_HOST_LIST":              hosts,
			"AZ_BATCH_NODE_LIST":              strings.ReplaceAll(hosts, ",", ";"),
			"AZ_BATCH_MASTER_NODE":            multiIPs[0] + ":6000",
			"AZ_BATCH_IS_CURRENT_NODE_MASTER": map[bool]string{true: "true", false: "false"}[i == 0],
			"AZ_BATCH_TASK_SHARED_DIR":        taskDir,
			"SSH_CONNECTION":                  "", // checked below
		}
		for k, v := range want {
			if k != "SSH_CONNECTION" && env[k] != v {
				t.Errorf("node %s coordination: %s = %q, want %q", id, k, env[k], v)
			}
		}
		// The command really ran on that host's sshd.
		if conn := env["SSH_CONNECTION"]; !strings.Contains(conn, " "+multiIPs[i]+" ") {
			t.Errorf("node %s: SSH_CONNECTION %q, want the host %s", id, conn, multiIPs[i])
		}
		if !strings.Contains(out, "common\n") {
			t.Errorf("node %s: common resource file not in the task directory", id)
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
	f := newFixture(t, multiIPs)
	fi := fifo(t)
	// tvm-2 fails once the others are running (they wrote their pids), so
	// the others must be killed.
	coord := `/bin/sh -c 'if [ "$AZ_BATCH_NODE_ID" = tvm-2 ]; then read x < "$FIFO"; exit 5; fi; sleep 1000 & echo $$ $! > "$FIFO.$AZ_BATCH_NODE_ID"; wait'`
	a := multiAttempt("mpifail", coord, "/bin/echo main")
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: fi}}
	for _, id := range []string{"tvm-1", "tvm-3"} {
		if err := syscall.Mkfifo(fi+"."+id, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	ch := start(context.Background(), f.b, a)
	var pids []int
	for _, id := range []string{"tvm-1", "tvm-3"} {
		pids = append(pids, readPIDs(t, fi+"."+id, ch)...)
	}
	w, err := os.OpenFile(fi, os.O_WRONLY, 0) // releases tvm-2
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("go\n")
	w.Close()

	r := wait(t, ch)
	wantFailure(t, r, task.OutcomeExited, task.FailureMultiInstanceFailure)
	if r.ExitCode != 5 || !strings.Contains(r.FailureInfo.Message, "tvm-2") {
		t.Errorf("exit %d, message %q; want 5 from node tvm-2", r.ExitCode, r.FailureInfo.Message)
	}
	if _, err := os.Stat(filepath.Join(r.TaskRootDirectory, "stdout.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the main command ran after a failed coordination: %v", err)
	}
	wantGone(t, pids...)
}

func TestMultiInstanceCommandNotFound(t *testing.T) {
	f := newFixture(t, multiIPs)
	r := run(t, f.b, multiAttempt("mpinf", "no-such-coordinator-embatch", "/bin/true"))
	wantFailure(t, r, task.OutcomePreProcessingError, task.FailureCommandNotFound)
}

func TestMultiInstanceWithTerminate(t *testing.T) {
	f := newFixture(t, multiIPs)
	fi := fifo(t)
	a := multiAttempt("mpiterm", "/bin/true", `/bin/sh -c 'echo $$ > "$FIFO"; sleep 1000'`)
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: fi}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := start(ctx, f.b, a)
	pids := readPIDs(t, fi, ch)
	cancel()
	wantFailure(t, wait(t, ch), task.OutcomeExited, task.FailureTaskTerminated)
	wantGone(t, pids...)
}
