package ssh_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node/ssh"
	"github.com/embatch/embatch/node/ssh/internal/sshtest"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// TestPoolAcrossNetworkNamespaces is the multi-host test: three hosts, each
// an sshd in its own network namespace, and a pool over the three. One
// host's sshd (with its per-connection processes) is killed while tasks
// run there: the job still completes, the lost tasks requeued elsewhere,
// and nothing of theirs is left running in that namespace. When its sshd
// is back, the node rejoins and a multi-instance task spans all three
// hosts.
func TestPoolAcrossNetworkNamespaces(t *testing.T) {
	nw := sshtest.NewNetwork(t, 3)
	keys := sshtest.NewKeys(t)
	var servers []*sshtest.Server
	var hosts []string
	for _, h := range nw.Hosts {
		s := sshtest.Start(t, keys, sshtest.Options{IP: h.IP, Port: 22, Netns: h.Netns})
		servers = append(servers, s)
		hosts = append(hosts, s.Host)
	}
	acct, bs := newAccount(t, ssh.WithDialer(nw.Dial),
		ssh.WithKeepalive(250*time.Millisecond, 4), ssh.WithDialTimeout(3*time.Second),
		ssh.WithReconnectBackoff(100*time.Millisecond, 500*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	events := acct.Subscribe(nil)
	defer events.Close()

	err := acct.CreatePool(ctx, pool.Spec{
		ID: "cluster", TargetDedicatedNodes: 3, TaskSlotsPerNode: task.Ptr(2),
		StartTask: &pool.StartTask{CommandLine: "/bin/true"},
		Backend: &pool.BackendSpec{Type: "ssh", Hosts: hosts, IdentityFile: keys.Identity,
			KnownHostsFile: keys.KnownHosts, Root: t.TempDir()},
	})
	if err != nil {
		t.Fatal(err)
	}
	idle := map[string]bool{}
	for len(idle) < 3 {
		e, err := events.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for the nodes: %v", err)
		}
		if e.Kind == engine.EventNodeChanged && e.NodeState == pool.NodeIdle {
			idle[e.NodeID] = true
		}
	}
	const victimNode = "tvm-2" // the engine numbers nodes from 1
	if h, ok := bs.get("cluster").HostOf(victimNode); !ok || h.Name != nw.Hosts[1].IP {
		t.Fatalf("%s is on %v, want the second host %s", victimNode, h, nw.Hosts[1].IP)
	}
	victim := servers[1]

	if err := acct.AddJob(ctx, task.JobSpec{ID: "work", PoolInfo: task.PoolInformation{PoolID: "cluster"},
		OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob}); err != nil {
		t.Fatal(err)
	}
	var tasks []task.TaskSpec
	for i := range 12 {
		tasks = append(tasks, task.TaskSpec{ID: fmt.Sprint("t", i), CommandLine: `/bin/sh -c 'sleep 2 & wait; echo done on $AZ_BATCH_NODE_ID'`})
	}
	if err := acct.AddTasks(ctx, "work", tasks); err != nil {
		t.Fatal(err)
	}

	// Kill the victim's sshd once two tasks run on it.
	running := 0
	for running < 2 {
		e, err := events.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for tasks to run on %s: %v", victimNode, err)
		}
		if e.Kind != engine.EventTaskChanged || e.TaskState != task.TaskRunning {
			continue
		}
		tk, err := acct.GetTask(ctx, "work", e.TaskID)
		if err == nil && tk.NodeInfo != nil && tk.NodeInfo.NodeID == victimNode {
			running++
		}
	}
	victim.Kill()
	// What sshd left in the namespace (the tasks' wrappers and commands)
	// must end by itself: the wrapper's watcher sees its input end.
	for _, pid := range nw.Pids(nw.Hosts[1].Netns) {
		if !sshtest.WaitGone(pid, 20*time.Second) {
			t.Errorf("process %d (%s) left behind in %s after its sshd died", pid, sshtest.Describe(pid), nw.Hosts[1].Netns)
		}
	}

	job, err := acct.WaitJob(ctx, "work")
	if err != nil {
		t.Fatal(err)
	}
	counts, _ := acct.TaskCounts(ctx, "work")
	if job.State != task.JobCompleted || counts.TaskCounts.Succeeded != len(tasks) {
		t.Fatalf("job %s, counts %+v; want all %d tasks succeeded", job.State, counts.TaskCounts, len(tasks))
	}
	requeued := 0
	for _, ts := range tasks {
		tk, err := acct.GetTask(ctx, "work", ts.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tk.ExecutionInfo.RequeueCount > 0 {
			requeued++
			if tk.NodeInfo == nil || tk.NodeInfo.NodeID == victimNode {
				t.Errorf("requeued task %s finished on %+v, want another node", ts.ID, tk.NodeInfo)
			}
		}
		if tk.ExecutionInfo.RetryCount != 0 {
			t.Errorf("task %s retryCount %d: a node loss is a requeue, not a retry", ts.ID, tk.ExecutionInfo.RetryCount)
		}
	}
	t.Logf("%d of %d tasks requeued after %s was lost", requeued, len(tasks), victimNode)
	if requeued < 2 {
		t.Errorf("%d tasks requeued, want at least the 2 that ran on the lost node", requeued)
	}
	n, err := acct.GetNode(ctx, "cluster", victimNode)
	if err != nil || n.State != pool.NodeUnusable {
		t.Errorf("victim node %+v, %v; want unusable", n.State, err)
	}

	// Bring the host back: the node rejoins (its start task reruns).
	victim.Restart()
	for {
		e, err := events.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s to come back: %v", victimNode, err)
		}
		if e.Kind == engine.EventNodeChanged && e.NodeID == victimNode && e.NodeState == pool.NodeIdle {
			break
		}
	}

	// A multi-instance task over the three hosts: every instance sees the
	// three addresses, and the primary's address as the master.
	if err := acct.AddJob(ctx, task.JobSpec{ID: "mpi", PoolInfo: task.PoolInformation{PoolID: "cluster"},
		OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob}); err != nil {
		t.Fatal(err)
	}
	err = acct.AddTask(ctx, "mpi", task.TaskSpec{ID: "gang",
		CommandLine: `/bin/sh -c 'echo "$AZ_BATCH_HOST_LIST|$AZ_BATCH_MASTER_NODE|$AZ_BATCH_IS_CURRENT_NODE_MASTER"'`,
		MultiInstanceSettings: &task.MultiInstanceSettings{NumberOfInstances: 3,
			CoordinationCommandLine: `/bin/sh -c 'echo "$AZ_BATCH_NODE_ID $AZ_BATCH_IS_CURRENT_NODE_MASTER"'`}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acct.WaitJob(ctx, "mpi"); err != nil {
		t.Fatal(err)
	}
	gang, err := acct.GetTask(ctx, "mpi", "gang")
	if err != nil || gang.ExecutionInfo.ExitCode == nil || *gang.ExecutionInfo.ExitCode != 0 {
		t.Fatalf("multi-instance task %+v, %v", gang.ExecutionInfo, err)
	}
	out, err := acct.ReadTaskFile(ctx, "mpi", "gang", "stdout.txt")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Split(strings.TrimSpace(string(out)), "|")
	ips := []string{nw.Hosts[0].IP, nw.Hosts[1].IP, nw.Hosts[2].IP}
	if len(fields) != 3 || !sameSet(strings.Split(fields[0], ","), ips) || fields[2] != "true" ||
		!strings.HasPrefix(fields[0], strings.TrimSuffix(fields[1], ":6000")+",") {
		t.Errorf("primary saw %q, want the three host addresses, itself as master", out)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}
