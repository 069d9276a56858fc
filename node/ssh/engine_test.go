package ssh_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/ssh"
	"github.com/embatch/embatch/node/ssh/internal/sshtest"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// backends records the backends an account's factory made, by pool.
type backends struct {
	mu sync.Mutex
	m  map[string]*ssh.Backend
}

func (bs *backends) get(poolID string) *ssh.Backend {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return bs.m[poolID]
}

// newAccount is an in-memory account whose "ssh" pools run on the SSH
// backend, made from the pool spec's backend object as the CLI does.
func newAccount(t *testing.T, opts ...ssh.Option) (*engine.Account, *backends) {
	t.Helper()
	bs := &backends{m: map[string]*ssh.Backend{}}
	logger := slog.New(slog.NewTextHandler(testLog{t}, nil))
	acct, err := engine.New(engine.WithBackend("ssh", func(spec pool.Spec) (node.Backend, error) {
		s := spec.Backend
		b, err := ssh.New(ssh.Config{Hosts: s.Hosts, IdentityFile: s.IdentityFile, KnownHostsFile: s.KnownHostsFile,
			InsecureIgnoreHostKey: s.InsecureIgnoreHostKey, Root: s.Root}, append([]ssh.Option{ssh.WithLogger(logger)}, opts...)...)
		if err == nil {
			bs.mu.Lock()
			bs.m[spec.ID] = b
			bs.mu.Unlock()
		}
		return b, err
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acct.Close() })
	return acct, bs
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestEngineRunsJobsOnSSHHosts runs a pool over two loopback sshd's through
// the engine: start task, job preparation task, tasks, and their files
// read back through the account.
func TestEngineRunsJobsOnSSHHosts(t *testing.T) {
	keys := sshtest.NewKeys(t)
	var hosts []string
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		hosts = append(hosts, sshtest.Start(t, keys, sshtest.Options{IP: ip}).Host)
	}
	acct, _ := newAccount(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := acct.CreatePool(ctx, pool.Spec{
		ID: "hosts", TargetDedicatedNodes: 2, TaskSlotsPerNode: task.Ptr(2),
		StartTask: &pool.StartTask{CommandLine: `/bin/sh -c 'echo started > "$AZ_BATCH_NODE_SHARED_DIR/started"'`},
		Backend: &pool.BackendSpec{Type: "ssh", Hosts: hosts, IdentityFile: keys.Identity,
			KnownHostsFile: keys.KnownHosts, Root: t.TempDir()},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = acct.AddJob(ctx, task.JobSpec{
		ID: "job", PoolInfo: task.PoolInformation{PoolID: "hosts"}, OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob,
		JobPreparationTask: &task.JobPreparationTask{CommandLine: `/bin/sh -c 'echo prepared > "$AZ_BATCH_NODE_SHARED_DIR/prepared"'`},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tasks []task.TaskSpec
	for i := range 8 {
		tasks = append(tasks, task.TaskSpec{ID: fmt.Sprint("t", i),
			CommandLine: `/bin/sh -c 'cat "$AZ_BATCH_NODE_SHARED_DIR/started" "$AZ_BATCH_NODE_SHARED_DIR/prepared"; echo "$AZ_BATCH_NODE_ID $SSH_CONNECTION"'`})
	}
	if err := acct.AddTasks(ctx, "job", tasks); err != nil {
		t.Fatal(err)
	}
	job, err := acct.WaitJob(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	counts, _ := acct.TaskCounts(ctx, "job")
	if job.State != task.JobCompleted || counts.TaskCounts.Succeeded != len(tasks) {
		t.Fatalf("job %s, counts %+v; want all %d tasks succeeded", job.State, counts.TaskCounts, len(tasks))
	}
	servers := map[string]bool{}
	for _, ts := range tasks {
		out, err := acct.ReadTaskFile(ctx, "job", ts.ID, "stdout.txt")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 3 || lines[0] != "started" || lines[1] != "prepared" {
			t.Errorf("task %s stdout %q, want the start and preparation tasks' marks", ts.ID, out)
			continue
		}
		f := strings.Fields(lines[2]) // node id, then SSH_CONNECTION: client ip, port, server ip, port
		if len(f) == 5 {
			servers[f[0]+"@"+f[3]] = true
		}
	}
	if len(servers) != 2 {
		t.Errorf("tasks ran on %v, want both nodes, each on its own host", servers)
	}
	files, err := acct.ListTaskFiles(ctx, "job", "t0", false)
	if err != nil || len(files) == 0 {
		t.Errorf("ListTaskFiles = %v, %v", files, err)
	}
}
