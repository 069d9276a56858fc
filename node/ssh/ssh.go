package ssh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// DefaultRoot is the directory under which node roots live on the hosts
// when Config.Root is empty: <root>/<poolId>/<nodeId>.
const DefaultRoot = "/tmp/embatch"

// Defaults of the options.
const (
	// DefaultKeepaliveInterval and DefaultKeepaliveCount: a host is lost
	// after Count keepalives at Interval go unanswered.
	DefaultKeepaliveInterval = 5 * time.Second
	DefaultKeepaliveCount    = 3
	// DefaultDialTimeout bounds one connection attempt: TCP connect, SSH
	// handshake, authentication, SFTP start and the setsid probe.
	DefaultDialTimeout = 15 * time.Second
	// DefaultReconnectMin and DefaultReconnectMax bound the wait between
	// connection attempts, which doubles from Min up to Max.
	DefaultReconnectMin = 250 * time.Millisecond
	DefaultReconnectMax = 30 * time.Second
	// DefaultMaxSessions is OpenSSH's default MaxSessions: sessions open at
	// once on one connection, the SFTP session included.
	DefaultMaxSessions = 10
	// DefaultDownloadTimeout bounds one resource file download over HTTP
	// when no client is given with WithHTTPClient.
	DefaultDownloadTimeout = 10 * time.Minute
	// DefaultUploadTimeout bounds the output file uploads of one attempt.
	DefaultUploadTimeout = 10 * time.Minute
)

// DefaultPort is the SSH port of a host written without one.
const DefaultPort = 22

// Config says which hosts the backend runs on and how it reaches them. Its
// fields mirror the pool spec's backend object (pool.BackendSpec).
type Config struct {
	// Hosts are the nodes' hosts, each "user@host:port" or
	// "user@host:port/slots" (see ParseHost).
	Hosts []string
	// IdentityFile is the private key (OpenSSH or PEM format, without a
	// passphrase) to log in with. Required unless WithAuth is given.
	IdentityFile string
	// KnownHostsFile is an OpenSSH known_hosts file against which host keys
	// are checked. Required unless InsecureIgnoreHostKey.
	KnownHostsFile string
	// InsecureIgnoreHostKey accepts any host key, so anyone on the network
	// path can impersonate the hosts and see the tasks' commands and
	// files. For throwaway test machines only; the backend logs a warning.
	InsecureIgnoreHostKey bool
	// Root is the absolute directory on each host under which node roots
	// live; default DefaultRoot.
	Root string
}

// Host is one parsed entry of Config.Hosts.
type Host struct {
	// User is the login name; default the user running this process.
	User string
	// Name is the host name or IP address as written (without brackets for
	// IPv6). It is the node's address in AZ_BATCH_HOST_LIST.
	Name string
	// Port is the SSH port; default DefaultPort.
	Port int
	// Slots is the slot count given after '/', or 0. A pool whose
	// taskSlotsPerNode exceeds it cannot use the host.
	Slots int
}

// Addr is "name:port", as dialled and as looked up in known_hosts.
func (h Host) Addr() string { return net.JoinHostPort(h.Name, strconv.Itoa(h.Port)) }

// String is the host as "user@name:port", with "/slots" when set.
func (h Host) String() string {
	s := h.User + "@" + h.Addr()
	if h.Slots > 0 {
		s += "/" + strconv.Itoa(h.Slots)
	}
	return s
}

// ParseHost parses "user@host:port/slots", where "user@", ":port" and
// "/slots" may be left out and an IPv6 address is written in brackets
// ("[::1]:2222").
func ParseHost(s string) (Host, error) {
	h := Host{Port: DefaultPort}
	rest := s
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		n, err := strconv.Atoi(rest[i+1:])
		if err != nil || n < 1 {
			return Host{}, fmt.Errorf("host %q: slots after '/' must be a positive number", s)
		}
		h.Slots, rest = n, rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		h.User, rest = rest[:i], rest[i+1:]
		if h.User == "" {
			return Host{}, fmt.Errorf("host %q: empty user before '@'", s)
		}
	}
	switch {
	case strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]"):
		h.Name = rest[1 : len(rest)-1]
	case strings.HasPrefix(rest, "[") || strings.Count(rest, ":") == 1:
		name, port, err := net.SplitHostPort(rest)
		if err != nil {
			return Host{}, fmt.Errorf("host %q: %v", s, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return Host{}, fmt.Errorf("host %q: port %q is not a number from 1 to 65535", s, port)
		}
		h.Name, h.Port = name, p
	default:
		h.Name = rest // a name, or a bare IPv6 address
	}
	if h.Name == "" || strings.ContainsAny(h.Name, " \t\n/@[]") {
		return Host{}, fmt.Errorf("host %q: want user@host:port", s)
	}
	if h.User == "" {
		u, err := user.Current()
		if err != nil {
			return Host{}, fmt.Errorf("host %q has no user and the current user is unknown: %v", s, err)
		}
		h.User = u.Username
	}
	return h, nil
}

// Option configures a Backend.
type Option func(*config)

type config struct {
	keepaliveInterval time.Duration
	keepaliveCount    int
	dialTimeout       time.Duration
	reconnectMin      time.Duration
	reconnectMax      time.Duration
	maxSessions       int
	killFallback      time.Duration
	dial              func(ctx context.Context, network, addr string) (net.Conn, error)
	auth              []gossh.AuthMethod
	logger            *slog.Logger
	httpClient        *http.Client
	openDestination   node.DestinationOpener
	uploadTimeout     time.Duration
	masterPort        int
	deleteNodeFiles   bool
}

// WithKeepalive sets how node loss is detected: a keepalive request every
// interval, and a host that leaves count of them unanswered is lost. A lost
// host is thus noticed within interval × (count+1). Defaults
// DefaultKeepaliveInterval and DefaultKeepaliveCount. A closed connection
// is noticed at once either way.
func WithKeepalive(interval time.Duration, count int) Option {
	return func(c *config) {
		if interval > 0 {
			c.keepaliveInterval = interval
		}
		if count > 0 {
			c.keepaliveCount = count
		}
	}
}

// WithDialTimeout bounds one connection attempt; default DefaultDialTimeout.
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.dialTimeout = d
		}
	}
}

// WithReconnectBackoff sets the wait between connection attempts to a host:
// min after a failure, doubling up to max. Defaults DefaultReconnectMin and
// DefaultReconnectMax.
func WithReconnectBackoff(min, max time.Duration) Option {
	return func(c *config) {
		if min > 0 {
			c.reconnectMin = min
		}
		if max >= min && max > 0 {
			c.reconnectMax = max
		}
	}
}

// WithMaxSessions sets how many sessions the backend opens at once on one
// connection, the SFTP session included; it must not exceed the hosts'
// sshd MaxSessions. Commands beyond it wait for a session. Default
// DefaultMaxSessions.
func WithMaxSessions(n int) Option {
	return func(c *config) {
		if n >= 2 {
			c.maxSessions = n
		}
	}
}

// WithDialer replaces how TCP connections to hosts are made (for example
// through a proxy, or from another network namespace). Default a
// net.Dialer.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(c *config) { c.dial = dial }
}

// WithAuth replaces the authentication methods (for example an SSH agent's
// signers). Config.IdentityFile is then optional.
func WithAuth(methods ...gossh.AuthMethod) Option {
	return func(c *config) { c.auth = append([]gossh.AuthMethod{}, methods...) }
}

// WithLogger sets where connection events (lost, back, insecure host keys)
// are logged; default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithHTTPClient sets the client that downloads http and https resource
// files. Default: a client with DefaultDownloadTimeout.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) { c.httpClient = client }
}

// WithDestinationOpener sets how output file container URLs become
// destinations. Default node.OpenDirDestination: file:// URLs and plain
// paths on this machine.
func WithDestinationOpener(open node.DestinationOpener) Option {
	return func(c *config) { c.openDestination = open }
}

// WithUploadTimeout bounds the output file uploads of one attempt, which
// also run after the attempt was terminated. Default DefaultUploadTimeout.
func WithUploadTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.uploadTimeout = d
		}
	}
}

// WithMasterPort sets the port in AZ_BATCH_MASTER_NODE. Default
// node.DefaultMasterPort.
func WithMasterPort(port int) Option {
	return func(c *config) { c.masterPort = port }
}

// WithDeleteNodeFiles makes RemoveNode delete the node's directory on its
// host, as Azure does when a node leaves its pool. Default false: files are
// kept so task logs outlive the node.
func WithDeleteNodeFiles(on bool) Option {
	return func(c *config) { c.deleteNodeFiles = on }
}

// withKillFallback sets how long a terminated command may take to end
// before a second session kills its group; tests shorten it.
func withKillFallback(d time.Duration) Option {
	return func(c *config) { c.killFallback = d }
}

// defaultKillFallback is the wait before the fallback kill.
const defaultKillFallback = 5 * time.Second

// Backend runs attempts on SSH hosts. It implements node.Backend,
// node.FileReader, node.TaskDirRemover, node.NodeWatcher and node.Closer,
// and is safe for concurrent use.
type Backend struct {
	cfg   config
	root  string
	hosts []*host

	// closing is cancelled first by Close: every attempt's context derives
	// from it. shutdown is cancelled once the attempts are done, and stops
	// the connection loops.
	closing      context.Context
	stopAttempts context.CancelFunc
	shutdown     context.Context
	stopLoops    context.CancelFunc
	running      sync.WaitGroup // attempts
	loops        sync.WaitGroup // connection loops

	// report is the NodeWatcher's function, if any. It is atomic rather
	// than under mu because hosts call it holding their own locks.
	report atomic.Pointer[func(node.NodeEvent)]

	mu     sync.Mutex
	closed bool
	// placed maps every node ever added to its placement. Entries stay
	// after RemoveNode so the node's files remain readable.
	placed map[string]placement
}

// placement is where a node lives.
type placement struct {
	host   *host
	layout node.Layout
}

var (
	errClosed = errors.New("ssh backend is closed")
)

// New returns a backend for cfg. It checks the configuration and reads the
// key files but does not connect: hosts are dialled when their nodes are
// added.
func New(cfg Config, opts ...Option) (*Backend, error) {
	c := config{
		keepaliveInterval: DefaultKeepaliveInterval,
		keepaliveCount:    DefaultKeepaliveCount,
		dialTimeout:       DefaultDialTimeout,
		reconnectMin:      DefaultReconnectMin,
		reconnectMax:      DefaultReconnectMax,
		maxSessions:       DefaultMaxSessions,
		killFallback:      defaultKillFallback,
		uploadTimeout:     DefaultUploadTimeout,
	}
	for _, o := range opts {
		o(&c)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.dial == nil {
		d := &net.Dialer{KeepAlive: c.keepaliveInterval}
		c.dial = d.DialContext
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{Timeout: DefaultDownloadTimeout}
	}
	if c.openDestination == nil {
		c.openDestination = node.OpenDirDestination
	}
	root := cfg.Root
	if root == "" {
		root = DefaultRoot
	}
	if !path.IsAbs(root) {
		return nil, task.Invalid("backend.root", cfg.Root, "must be an absolute path on the hosts")
	}
	if len(cfg.Hosts) == 0 {
		return nil, task.Missing("backend.hosts")
	}
	auth, err := authMethods(cfg.IdentityFile, c.auth)
	if err != nil {
		return nil, err
	}
	hostKeys, err := hostKeyChecker(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.InsecureIgnoreHostKey {
		c.logger.Warn("ssh backend: HOST KEY CHECKING IS OFF (insecureIgnoreHostKey): anyone on the network path can impersonate the hosts and read or change the tasks' commands and files; set knownHostsFile instead",
			"hosts", strings.Join(cfg.Hosts, ","))
	}
	b := &Backend{cfg: c, root: path.Clean(root), placed: make(map[string]placement)}
	b.closing, b.stopAttempts = context.WithCancel(context.Background())
	b.shutdown, b.stopLoops = context.WithCancel(context.Background())
	seen := make(map[string]bool)
	for i, s := range cfg.Hosts {
		hs, err := ParseHost(s)
		if err != nil {
			return nil, task.Invalid(fmt.Sprintf("backend.hosts[%d]", i), s, "%v", err)
		}
		key := hs.User + "@" + hs.Addr()
		if seen[key] {
			return nil, task.Invalid(fmt.Sprintf("backend.hosts[%d]", i), s, "listed twice; each host is one node")
		}
		seen[key] = true
		algos, err := hostKeys.algorithms(hs.Addr())
		if err != nil {
			return nil, err
		}
		b.hosts = append(b.hosts, newHost(b, i, hs, &gossh.ClientConfig{
			User:              hs.User,
			Auth:              auth,
			HostKeyCallback:   hostKeys.callback,
			HostKeyAlgorithms: algos,
		}))
	}
	return b, nil
}

// authMethods is WithAuth's methods, else the key in identityFile.
func authMethods(identityFile string, given []gossh.AuthMethod) ([]gossh.AuthMethod, error) {
	if len(given) > 0 {
		return given, nil
	}
	if identityFile == "" {
		return nil, task.Missing("backend.identityFile")
	}
	pem, err := os.ReadFile(identityFile)
	if err != nil {
		return nil, task.Invalid("backend.identityFile", identityFile, "%v", err)
	}
	signer, err := gossh.ParsePrivateKey(pem)
	var missing *gossh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, task.Invalid("backend.identityFile", identityFile, "the key is protected by a passphrase; use a key without one, or an SSH agent through ssh.WithAuth")
	case err != nil:
		return nil, task.Invalid("backend.identityFile", identityFile, "not a private key: %v", err)
	}
	return []gossh.AuthMethod{gossh.PublicKeys(signer)}, nil
}

// Hosts is the backend's hosts, in the order nodes are placed on them.
func (b *Backend) Hosts() []Host {
	out := make([]Host, len(b.hosts))
	for i, h := range b.hosts {
		out[i] = h.spec
	}
	return out
}

// Root is the directory on the hosts under which node roots live.
func (b *Backend) Root() string { return b.root }

// NodeLayout is the directory layout of node nodeID of pool poolID on its
// host: <root>/<poolId>/<nodeId>.
func (b *Backend) NodeLayout(poolID, nodeID string) node.Layout {
	return node.Layout{Root: path.Join(b.root, poolID, nodeID)}
}

// HostOf is the host node nodeID is placed on, and whether it is.
func (b *Backend) HostOf(nodeID string) (Host, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.placed[nodeID]
	if !ok {
		return Host{}, false
	}
	return p.host.spec, true
}

// WatchNodes implements node.NodeWatcher: report receives NodeLost and
// NodeBack events for nodes whose hosts stop or start answering.
func (b *Backend) WatchNodes(report func(node.NodeEvent)) {
	if report != nil {
		b.report.Store(&report)
	}
}

// reportEvent passes e to the watcher, if any. Callers hold the node's
// host lock, which orders a node's events with its attempts' results.
func (b *Backend) reportEvent(e node.NodeEvent) {
	if report := b.report.Load(); report != nil {
		(*report)(e)
	}
}

// AddNode places the node on a host (see place), connects to the host if needed, and creates the node's directories,
// killing anything earlier attempts left there. It fails when every host
// holds a node, when the pool's taskSlotsPerNode exceeds the host's slot
// count, or when the host cannot be reached within the dial timeout; in
// that last case the backend keeps trying and reports node.NodeBack when
// the host answers.
func (b *Backend) AddNode(ctx context.Context, info node.NodeInfo) error {
	if err := task.ValidateID("nodeId", info.NodeID); err != nil {
		return err
	}
	if err := task.ValidateID("poolId", info.PoolID); err != nil {
		return err
	}
	layout := b.NodeLayout(info.PoolID, info.NodeID)
	h, err := b.place(info, layout)
	if err != nil {
		return err
	}
	if h.spec.Slots > 0 && info.Slots > h.spec.Slots {
		h.release(info.NodeID)
		return fmt.Errorf("node %s: host %s offers %d slots but the pool's taskSlotsPerNode is %d", info.NodeID, h.spec, h.spec.Slots, info.Slots)
	}
	if info.Slots > b.cfg.maxSessions-1 {
		b.cfg.logger.Warn("ssh backend: more task slots than sessions per connection; tasks beyond will wait for a session (raise sshd's MaxSessions and ssh.WithMaxSessions)",
			"node", info.NodeID, "host", h.spec.String(), "slots", info.Slots, "sessions", b.cfg.maxSessions-1)
	}
	c, err := h.waitConnected(ctx)
	if err == nil {
		err = c.prepare(ctx, layout.Root)
	}
	if err != nil {
		h.failedToStart()
		return fmt.Errorf("node %s on host %s: %w", info.NodeID, h.spec, err)
	}
	return nil
}

// place assigns a host to the node: the host it is on, or the N-th host for
// the engine's node "tvm-N" when that host is free (so that nodes added at once
// land on the hosts in order whatever order the calls come in), or else the
// first free host.
func (b *Backend) place(info node.NodeInfo, layout node.Layout) (*host, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	for _, h := range b.hosts {
		if h.holder() == info.NodeID {
			b.placed[info.NodeID] = placement{h, layout}
			return h, nil
		}
	}
	free := -1
	for i, h := range b.hosts {
		if h.holder() == "" && (free < 0 || i == preferredHost(info.NodeID)) {
			free = i
		}
	}
	if free >= 0 {
		h := b.hosts[free]
		h.take(info.NodeID)
		b.placed[info.NodeID] = placement{h, layout}
		return h, nil
	}
	return nil, task.Errorf(task.CodeInvalidPropertyValue, "nodeId", info.NodeID,
		"all %d hosts of the ssh backend hold a node; the pool's targetDedicatedNodes should not exceed the number of hosts", len(b.hosts))
}

// preferredHost is N-1 for a node id "tvm-N" (the engine numbers a pool's
// nodes from 1), else -1.
func preferredHost(nodeID string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(nodeID, "tvm-"))
	if err != nil || !strings.HasPrefix(nodeID, "tvm-") || n < 1 {
		return -1
	}
	return n - 1
}

// RemoveNode frees the node's host for another node. The connection stays
// open for reading the node's files, which are kept unless
// WithDeleteNodeFiles(true) was given. It returns a NodeNotFound error for
// a node that is not up.
func (b *Backend) RemoveNode(ctx context.Context, nodeID string) error {
	b.mu.Lock()
	p, ok := b.placed[nodeID]
	b.mu.Unlock()
	if !ok || !p.host.release(nodeID) {
		return task.Errorf(task.CodeNodeNotFound, "nodeId", nodeID, "the node is not up on this backend")
	}
	if b.cfg.deleteNodeFiles {
		c := p.host.current()
		if c == nil {
			return fmt.Errorf("node %s: cannot delete its files: host %s is not connected", nodeID, p.host.spec)
		}
		if _, err := c.output(ctx, removeScript, p.layout.Root); err != nil {
			return fmt.Errorf("node %s: deleting its files: %w", nodeID, err)
		}
	}
	return nil
}

// Close terminates every running attempt (killing their remote process
// groups), waits for their done callbacks, closes the connections and makes
// further calls fail. Node files are kept. Close is idempotent.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.stopAttempts()
	b.running.Wait()
	b.stopLoops()
	for _, h := range b.hosts {
		h.kick()
	}
	b.loops.Wait()
	return nil
}

// Interface checks.
var (
	_ node.Backend        = (*Backend)(nil)
	_ node.FileReader     = (*Backend)(nil)
	_ node.TaskDirRemover = (*Backend)(nil)
	_ node.NodeWatcher    = (*Backend)(nil)
	_ node.Closer         = (*Backend)(nil)
)
