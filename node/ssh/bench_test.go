package ssh

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/local"
	"github.com/embatch/embatch/node/ssh/internal/sshtest"
	"github.com/embatch/embatch/task"
)

var benchConcurrency = flag.Int("ssh.concurrency", 4, "tasks in flight at once in BenchmarkTrue")

// BenchmarkTrue measures the per-task overhead of SSH nodes: tasks/s of
// `true` on one node, all variants with the same number of tasks in
// flight (-ssh.concurrency):
//
//   - backend=ssh: this backend over one connection to a loopback sshd the
//     benchmark starts (a session per task, with the task's directories,
//     stdout/stderr files, process group and pgid file);
//   - backend=openssh-client: the OpenSSH client spawned once per task
//     (`ssh -F /dev/null -i key ... host true`), a new connection each time,
//     against the same sshd;
//   - session=bare: one connection, a bare session running `true` per
//     task: the floor of a session-per-task design;
//   - backend=local: node/local, a local process per task.
//
// The parent benchmark logs the throughput ratios.
func BenchmarkTrue(b *testing.B) {
	keys := sshtest.NewKeys(b)
	srv := sshtest.Start(b, keys, sshtest.Options{})
	c := *benchConcurrency
	rates := map[string]float64{}

	b.Run("backend=ssh", func(b *testing.B) {
		be, err := New(Config{Hosts: []string{srv.Host}, IdentityFile: keys.Identity, KnownHostsFile: keys.KnownHosts, Root: b.TempDir()},
			WithMaxSessions(c+2), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		rates["ssh"] = runTrue(b, be, c)
	})

	b.Run("backend=openssh-client", func(b *testing.B) {
		client, err := exec.LookPath("ssh")
		if err != nil {
			b.Skip("no OpenSSH client (apt-get install openssh-client)")
		}
		host, port, err := net.SplitHostPort(srv.Addr)
		if err != nil {
			b.Fatal(err)
		}
		rates["openssh"] = runTasks(b, c, func(int) error {
			cmd := exec.Command(client, "-F", "/dev/null", "-i", keys.Identity, "-o", "IdentitiesOnly=yes",
				"-o", "UserKnownHostsFile="+keys.KnownHosts, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
				"-o", "LogLevel=ERROR", "-p", port, "-l", srv.User, host, "true")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
	})

	// session=bare is the floor of any design that opens an SSH session
	// per task: one connection, a new session running `true` per task (the
	// remote user's shell starts `true`), nothing else.
	b.Run("session=bare", func(b *testing.B) {
		key, err := os.ReadFile(keys.Identity)
		if err != nil {
			b.Fatal(err)
		}
		signer, err := gossh.ParsePrivateKey(key)
		if err != nil {
			b.Fatal(err)
		}
		hostKeys, err := knownhosts.New(keys.KnownHosts)
		if err != nil {
			b.Fatal(err)
		}
		client, err := gossh.Dial("tcp", srv.Addr, &gossh.ClientConfig{User: srv.User, Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)}, HostKeyCallback: hostKeys})
		if err != nil {
			b.Fatal(err)
		}
		defer client.Close()
		rates["bare"] = runTasks(b, c, func(int) error {
			s, err := client.NewSession()
			if err != nil {
				return err
			}
			defer s.Close()
			return s.Run("true")
		})
	})

	b.Run("backend=local", func(b *testing.B) {
		be, err := local.New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		rates["local"] = runTrue(b, be, c)
	})

	if rates["ssh"] > 0 && rates["openssh"] > 0 && rates["local"] > 0 && rates["bare"] > 0 {
		b.Logf("concurrency %d: ssh backend %.1f tasks/s, OpenSSH client per task %.1f tasks/s, bare session per task %.1f tasks/s, local backend %.1f tasks/s; ssh/openssh-client = %.2fx, bare/openssh-client = %.2fx, ssh/local = %.2fx",
			c, rates["ssh"], rates["openssh"], rates["bare"], rates["local"], rates["ssh"]/rates["openssh"], rates["bare"]/rates["openssh"], rates["ssh"]/rates["local"])
	}
}

// runTrue brings node tvm-1 up on be with c slots, runs `true` there b.N
// times, c at a time, and returns tasks/s.
func runTrue(b *testing.B, be node.Backend, c int) float64 {
	if err := be.AddNode(context.Background(), node.NodeInfo{PoolID: "bench", NodeID: "tvm-1", Slots: c}); err != nil {
		b.Fatal(err)
	}
	var id atomic.Uint64
	return runTasks(b, c, func(i int) error {
		return runAttempt(be, &node.Attempt{ID: id.Add(1), Kind: node.KindTask, PoolID: "bench", JobID: "job",
			TaskID: "t" + strconv.Itoa(i), NodeID: "tvm-1", CommandLine: "true"})
	})
}

// runAttempt runs a to completion and fails unless it exited 0.
func runAttempt(be node.Backend, a *node.Attempt) error {
	ch := make(chan node.Result, 1)
	be.Start(context.Background(), a, func(r node.Result) { ch <- r })
	r := <-ch
	if r.Kind != task.OutcomeExited || r.ExitCode != 0 {
		return fmt.Errorf("task %s: %v exit %d %+v", a.TaskID, r.Kind, r.ExitCode, r.FailureInfo)
	}
	return nil
}

// runTasks runs b.N tasks, c at a time, reports tasks/s and returns it.
func runTasks(b *testing.B, c int, run func(i int) error) float64 {
	next := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	b.ResetTimer()
	began := time.Now()
	for range c {
		wg.Go(func() {
			for i := range next {
				if err := run(i); err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(began)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "tasks/s")
	return rate
}
