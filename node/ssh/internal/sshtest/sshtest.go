// Package sshtest starts real OpenSSH servers for the ssh backend's tests and
// benchmarks: an sshd on a loopback port (or inside a network namespace)
// with a generated host key, a generated client key, and a generated
// sshd_config that depends on nothing of the machine's own SSH setup.
//
// Without sshd installed, Require skips the test with a message; with
// EMBATCH_REQUIRE_SSHD=1 in the environment it fails it instead, so that CI
// cannot silently skip the SSH tests.
package sshtest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// RequireEnv is the environment variable that turns a missing sshd (or
// missing network namespaces) from a skip into a failure.
const RequireEnv = "EMBATCH_REQUIRE_SSHD"

// sshdPaths are where Debian and most distributions install sshd; sshd must
// be started by absolute path.
var sshdPaths = []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"}

// Require returns the path of sshd, or ends the test: a skip with a message
// saying how to install it, or a failure when EMBATCH_REQUIRE_SSHD=1.
func Require(tb testing.TB) string {
	tb.Helper()
	for _, p := range sshdPaths {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	Unavailable(tb, "OpenSSH sshd is not installed (apt-get install openssh-server); SSH integration tests need a real sshd")
	return ""
}

// Unavailable ends the test because something it needs is missing: a skip,
// or a failure when EMBATCH_REQUIRE_SSHD=1.
func Unavailable(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%s (and %s=1 forbids skipping)", why, RequireEnv)
	}
	tb.Skip("skipping: " + why)
}

// Keys are a generated client key pair and host key, as files.
type Keys struct {
	Dir string
	// Identity is the client's private key file (OpenSSH format), for
	// ssh.Config.IdentityFile and ssh -i.
	Identity string
	// AuthorizedKeys holds the client's public key.
	AuthorizedKeys string
	// HostKey is the server's private host key file.
	HostKey string
	// HostPublic is the server's public host key.
	HostPublic gossh.PublicKey
	// KnownHosts is the known_hosts file, which Server.Start fills.
	KnownHosts string
}

// NewKeys generates ed25519 keys into a temporary directory.
func NewKeys(tb testing.TB) *Keys {
	tb.Helper()
	dir := tb.TempDir()
	k := &Keys{
		Dir:            dir,
		Identity:       filepath.Join(dir, "id_ed25519"),
		AuthorizedKeys: filepath.Join(dir, "authorized_keys"),
		HostKey:        filepath.Join(dir, "ssh_host_ed25519_key"),
		KnownHosts:     filepath.Join(dir, "known_hosts"),
	}
	clientPub := writeKey(tb, k.Identity)
	k.HostPublic = writeKey(tb, k.HostKey)
	if err := os.WriteFile(k.AuthorizedKeys, gossh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(k.KnownHosts, nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	return k
}

// writeKey writes a new ed25519 private key to file (mode 0600, as sshd
// and ssh insist) and returns its public key.
func writeKey(tb testing.TB, file string) gossh.PublicKey {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "embatch test key")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		tb.Fatal(err)
	}
	sp, err := gossh.NewPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return sp
}

// addKnownHost appends addr's host key to the known_hosts file.
func (k *Keys) addKnownHost(tb testing.TB, addr string) {
	tb.Helper()
	f, err := os.OpenFile(k.KnownHosts, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(addr)}, k.HostPublic)); err != nil {
		tb.Fatal(err)
	}
}

// Server is a running sshd.
type Server struct {
	// Addr is "ip:port".
	Addr string
	// Host is "user@ip:port", for ssh.Config.Hosts.
	Host string
	// User is the login name: the user running the test.
	User string
	Keys *Keys

	tb     testing.TB
	sshd   string // path of the sshd binary
	cmd    *exec.Cmd
	config string
	netns  string
	log    *logBuffer
	exited chan struct{}
}

// Options are where a Server listens.
type Options struct {
	// IP is the address to listen on; default 127.0.0.1.
	IP string
	// Netns is the network namespace to run sshd in (by name, see
	// Network); empty for this process's namespace.
	Netns string
	// Port is the port; 0 picks a free one (loopback only).
	Port int
}

// Start starts sshd with a generated configuration (public key login
// only, for the current user, with an internal SFTP server) and returns
// once it listens; it is killed when the test ends. The server's host key
// is added to keys.KnownHosts.
func Start(tb testing.TB, keys *Keys, o Options) *Server {
	tb.Helper()
	sshd := Require(tb)
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	u, err := user.Current()
	if err != nil {
		tb.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd running as root separates privileges into an empty
		// directory it expects to exist (systemd normally creates it).
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	// A free port can be taken between our probe and sshd's bind; try a
	// few times.
	var lastErr error
	for try := 0; try < 5; try++ {
		port := o.Port
		if port == 0 {
			if port, err = freePort(o.IP); err != nil {
				tb.Fatal(err)
			}
		}
		s := &Server{Addr: net.JoinHostPort(o.IP, strconv.Itoa(port)), User: u.Username, Keys: keys, tb: tb, sshd: sshd, netns: o.Netns}
		s.Host = s.User + "@" + s.Addr
		if lastErr = s.start(sshd); lastErr == nil {
			keys.addKnownHost(tb, s.Addr)
			return s
		}
		if o.Port != 0 {
			break
		}
	}
	tb.Fatalf("starting sshd: %v", lastErr)
	return nil
}

// freePort is a TCP port on ip that nothing listens on right now.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeConfig writes the server's sshd_config: nothing from /etc/ssh is
// read.
func (s *Server) writeConfig() error {
	dir := s.Keys.Dir
	s.config = filepath.Join(dir, "sshd_config-"+strings.NewReplacer(":", "_", ".", "_").Replace(s.Addr))
	conf := strings.Join([]string{
		"ListenAddress " + s.Addr,
		"HostKey " + s.Keys.HostKey,
		"AuthorizedKeysFile " + s.Keys.AuthorizedKeys,
		"PidFile " + s.config + ".pid",
		"UsePAM no",
		"StrictModes no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowUsers " + s.User,
		"UseDNS no",
		"MaxSessions 64",
		"MaxStartups 200",
		"Subsystem sftp internal-sftp",
		// Debian's bash sources ~/.bashrc for every command run by sshd
		// unless SHLVL says it is nested: keep the test machine's rc files
		// (however slow) out of the tests.
		"SetEnv SHLVL=1",
		"LogLevel INFO",
		"",
	}, "\n")
	return os.WriteFile(s.config, []byte(conf), 0o600)
}

// start runs sshd and waits for it to say it listens. That line on its
// standard error (-e) is the event; the wait is bounded.
func (s *Server) start(sshd string) error {
	if err := s.writeConfig(); err != nil {
		return err
	}
	args := []string{sshd, "-D", "-e", "-f", s.config}
	if s.netns != "" {
		args = append([]string{"ip", "netns", "exec", s.netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	s.log = &logBuffer{}
	s.exited = make(chan struct{})
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			s.log.add(line)
			if strings.Contains(line, "Server listening on") {
				once.Do(func() { close(listening) })
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-listening:
		s.tb.Cleanup(s.Kill)
		return nil
	case <-s.exited:
		return fmt.Errorf("sshd exited: %s", s.log.String())
	case <-t.C:
		s.Kill()
		return fmt.Errorf("sshd did not listen within 10s: %s", s.log.String())
	}
}

// Log is what sshd wrote to its standard error so far.
func (s *Server) Log() string { return s.log.String() }

// Pid is the listening sshd's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Kill kills the listening sshd and every sshd process it forked (one per
// connection, privilege-separated), but not the sessions' commands: they
// lose their sshd as they would if sshd crashed. Kill is idempotent.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	// Freeze the sshd tree before killing it: a connection accepted in
	// between would otherwise fork an sshd that outlives the kill
	// (reparented to init) and keeps serving the client. Stopped processes
	// cannot fork; the tree is read again until it no longer grows.
	stopped := map[int]bool{}
	for range 20 {
		grew := false
		for _, pid := range s.SSHDProcesses() {
			if !stopped[pid] {
				syscall.Kill(pid, syscall.SIGSTOP)
				stopped[pid], grew = true, true
			}
		}
		if !grew {
			break
		}
	}
	for pid := range stopped {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	s.cmd.Process.Kill()
	<-s.exited
}

// Restart starts a new sshd with the same configuration after Kill.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Kill()
	var err error
	for try := 0; try < 5; try++ {
		if err = s.start(s.sshd); err == nil {
			return
		}
	}
	s.tb.Fatalf("restarting sshd: %v", err)
}

// Signal sends sig to the listening sshd and every sshd process it forked;
// SIGSTOP makes the server stop answering without closing anything.
func (s *Server) Signal(sig syscall.Signal) {
	for _, pid := range s.SSHDProcesses() {
		syscall.Kill(pid, sig)
	}
}

// SSHDProcesses lists the listening sshd and its descendants that are
// sshd processes (not the sessions' shells and commands).
func (s *Server) SSHDProcesses() []int {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	var out []int
	for _, p := range Descendants(s.cmd.Process.Pid) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); strings.TrimSpace(string(comm)) == "sshd" {
			out = append(out, p)
		}
	}
	return append(out, s.cmd.Process.Pid)
}

// Descendants lists the processes below pid (not pid itself), read from
// /proc.
func Descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}

// logBuffer keeps sshd's log lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) add(l string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lines) < 1000 {
		b.lines = append(b.lines, l)
	}
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// WaitGone waits, for at most timeout, until process pid has exited (a
// zombie counts as exited), and reports whether it has. It waits on a
// pidfd, which becomes readable when the process exits: an event, not a
// poll, and it works for processes that are not our children.
func WaitGone(pid int, timeout time.Duration) bool {
	fd, err := pidfdOpen(pid)
	if errors.Is(err, syscall.ESRCH) {
		return true
	}
	if err != nil {
		return false
	}
	defer syscall.Close(fd)
	return pollReadable(fd, timeout)
}

// Describe is process pid's /proc stat line, for messages.
func Describe(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "gone"
	}
	return strings.TrimSpace(string(stat))
}
