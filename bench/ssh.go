package bench

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/ssh"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// sshdPath is where sshd is installed, or "" (the ssh case is skipped).
func sshdPath() string {
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// sshServer is a loopback sshd for the ssh case, with a generated host key
// and client key and a configuration that reads nothing from /etc/ssh.
type sshServer struct {
	dir        string
	identity   string
	knownHosts string
	user       string
	host, port string
	cmd        *exec.Cmd
}

// startSSHD starts sshd (at path sshd) on a free loopback port with files
// in a new directory under dir, and returns once it listens.
func startSSHD(sshd, dir string) (_ *sshServer, err error) {
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(dir, "ssh-bench-")
	if err != nil {
		return nil, err
	}
	s := &sshServer{dir: tmp, identity: filepath.Join(tmp, "id_ed25519"), knownHosts: filepath.Join(tmp, "known_hosts"), user: u.Username, host: "127.0.0.1"}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	clientPub, err := writeSSHKey(s.identity)
	if err != nil {
		return nil, err
	}
	hostKey := filepath.Join(tmp, "ssh_host_ed25519_key")
	hostPub, err := writeSSHKey(hostKey)
	if err != nil {
		return nil, err
	}
	authorized := filepath.Join(tmp, "authorized_keys")
	if err := os.WriteFile(authorized, gossh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	_, s.port, _ = net.SplitHostPort(l.Addr().String())
	l.Close()
	addr := net.JoinHostPort(s.host, s.port)
	if err := os.WriteFile(s.knownHosts, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostPub)+"\n"), 0o600); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, err
		}
	}
	config := filepath.Join(tmp, "sshd_config")
	conf := strings.Join([]string{
		"ListenAddress " + addr, "HostKey " + hostKey, "AuthorizedKeysFile " + authorized,
		"PidFile " + config + ".pid", "UsePAM no", "StrictModes no", "PubkeyAuthentication yes",
		"PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
		"AllowUsers " + s.user, "UseDNS no", "MaxSessions 64", "MaxStartups 200",
		"Subsystem sftp internal-sftp", "SetEnv SHLVL=1", "LogLevel INFO", "",
	}, "\n")
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(sshd, "-D", "-e", "-f", config)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	listening := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var log []string
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Server listening on") {
				listening <- nil
			}
			log = append(log, sc.Text())
		}
		listening <- fmt.Errorf("sshd exited: %s", strings.Join(log, "\n"))
		io.Copy(io.Discard, stderr)
	}()
	select {
	case err := <-listening:
		return s, err
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("sshd did not listen within 10s")
	}
}

func (s *sshServer) close() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
	os.RemoveAll(s.dir)
}

// writeSSHKey writes a new ed25519 private key to file (mode 0600) and
// returns its public key.
func writeSSHKey(file string) (gossh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "embatch bench key")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return gossh.NewPublicKey(pub)
}

// SSHTrue runs tasks (from TrueTasks, but `true` by PATH) through an
// account on one SSH node, the loopback sshd s, with slots slots, and
// returns the wall time from AddTasks until all completed.
func (s *sshServer) SSHTrue(ctx context.Context, tasks []task.TaskSpec, slots int) (time.Duration, error) {
	root, err := os.MkdirTemp(s.dir, "root-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(root)
	newBackend := func(pool.Spec) (node.Backend, error) {
		return ssh.New(ssh.Config{Hosts: []string{s.user + "@" + net.JoinHostPort(s.host, s.port)}, IdentityFile: s.identity, KnownHostsFile: s.knownHosts, Root: root},
			ssh.WithMaxSessions(slots+2), ssh.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	}
	res, err := runAccount(ctx, "ssh", newBackend, tasks, slots, 0)
	return res.Elapsed, err
}

// OpenSSHTrue runs `true` n times through the OpenSSH client at path
// client, spawned once per task (a new connection each time), from workers
// goroutines: the peer SSHTrue is compared with.
func (s *sshServer) OpenSSHTrue(ctx context.Context, client string, n, workers int) (time.Duration, error) {
	return parallel(n, workers, func() error {
		cmd := exec.CommandContext(ctx, client, "-F", "/dev/null", "-i", s.identity, "-o", "IdentitiesOnly=yes",
			"-o", "UserKnownHostsFile="+s.knownHosts, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
			"-o", "LogLevel=ERROR", "-p", s.port, "-l", s.user, s.host, "true")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
}

// parallel runs f n times from workers goroutines and returns the wall
// time and the first error.
func parallel(n, workers int, f func() error) (time.Duration, error) {
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for range jobs {
				if err := f(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), firstErr
}
