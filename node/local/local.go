// Package local is a node backend that runs attempts as child processes on
// this machine. Every node gets its own node root, <root>/nodes/<nodeID>,
// laid out as Azure lays out /mnt/batch (see node.Layout), so a task sees the
// same directories and AZ_BATCH_* variables it would see on an Azure node.
//
// What an attempt goes through, in order:
//
//  1. Its task directory and working directory (wd/) are created; for a
//     multi-instance task, on every instance's node.
//  2. Resource files are fetched into wd/ (common resource files of a
//     multi-instance task into the task directory): httpUrl over http(s)
//     or from a file:// path, storageContainerUrl from a file:// directory
//     tree filtered by blobPrefix, each given fileMode (default 0770). A
//     failure is a pre-processing error (ResourceFileDownloadError naming
//     the file and the cause) and the command does not run.
//  3. The command line is split into words by node.SplitCommandLine and run
//     without a shell, in wd/, with stdout and stderr written straight to
//     stdout.txt and stderr.txt in the task directory (no pipes, so a chatty
//     task never blocks on the backend). The program is found as execvp
//     finds it: a word containing '/' is a path, relative ones resolved
//     against wd/; a bare name is looked up in the task's PATH (relative
//     PATH entries are relative to wd/, and wd/ itself is not searched).
//  4. Output files are copied to their destinations according to their
//     upload condition, with fileuploadout.txt and fileuploaderr.txt written
//     in the task directory. Patterns take *, ** (any depth), ?, [abc],
//     [!abc] and {a,b} (github.com/bmatcuk/doublestar); wildcards skip
//     names starting with '.' unless the pattern spells the dot; a pattern
//     matching nothing is not an error. Uploads also run after a
//     termination, since that is when logs are most wanted. A failed upload
//     makes the outcome a FileUploadError, keeping the exit code.
//
// Results: a command that ran reports its exit code, or 128+N when signal
// N killed it (FailureInfo ProcessSignaled, or TaskEnded when the kill came
// from cancelling the attempt, with the context's cause in the message). A
// command that never ran reports exit code -1: a pre-processing error
// (CommandProgramNotFound for a missing or non-executable program or a
// malformed command line), or TaskEnded when cancelled first.
//
// Every command runs in its own process group. When its main process exits,
// or when the attempt's context is cancelled (terminate, maxWallClockTime:
// the engine decides), the backend kills the whole group with SIGKILL
// (after an optional SIGTERM grace, WithKillGrace), so background children
// do not outlive their task. Processes that leave the group (setsid, or a
// daemon that double-forks into a new session) are not tracked; this
// includes daemons a start task launches on purpose.
//
// The environment is a small base copied from this process (PATH, HOME,
// USER, LOGNAME, LANG, LC_ALL, TZ, TMPDIR; see WithBaseEnv), then the job's
// and task's environment settings, then the AZ_BATCH_* variables, which
// cannot be overridden (see node.BatchEnv).
//
// Multi-instance tasks: every node gets a distinct loopback address
// (127.0.0.2, 127.0.0.3, ... in the order nodes are added), reported in
// AZ_BATCH_HOST_LIST and friends, so instances can listen on the same port
// without colliding. The task's resource files go to the primary only; the
// common resource files go to every instance's task directory, and the
// coordination command runs on every instance's node at once, each writing coordination-stdout.txt and coordination-stderr.txt
// in its own task directory; when all succeed the main command runs on the
// primary. Any instance failing kills the others and fails the attempt.
// AZ_BATCH_TASK_SHARED_DIR is the task directory of each node, so unlike on
// Azure the path differs between instances.
//
// The backend is for Linux: it relies on process groups and reads /proc to
// wait out the members of a killed group.
//
// Node files are kept when a node is removed, so task logs stay readable
// with the account (Azure deletes them with the node; WithDeleteNodeFiles
// restores that).
package local

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// DefaultDownloadTimeout bounds one resource file download over HTTP when no
// client is given with WithHTTPClient.
const DefaultDownloadTimeout = 10 * time.Minute

// DefaultUploadTimeout bounds the output file uploads of one attempt.
const DefaultUploadTimeout = 10 * time.Minute

// DefaultBaseEnv names the variables copied from this process into every
// command's environment, before the task's own settings.
var DefaultBaseEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// defaultPath is the PATH commands get when this process has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Option configures a Backend.
type Option func(*config)

type config struct {
	killGrace       time.Duration
	deleteNodeFiles bool
	baseEnv         []string
	httpClient      *http.Client
	openDestination DestinationOpener
	uploadTimeout   time.Duration
	masterPort      int
}

// WithKillGrace makes a cancelled attempt's process group get SIGTERM first
// and SIGKILL only after d if the main process has not exited by then.
// Default 0: SIGKILL at once, as a terminated task has no say in the matter.
func WithKillGrace(d time.Duration) Option {
	return func(c *config) { c.killGrace = d }
}

// WithDeleteNodeFiles makes RemoveNode delete the node's directory, as Azure
// does when a node leaves its pool. Default false: files are kept so task
// logs outlive the node.
func WithDeleteNodeFiles(on bool) Option {
	return func(c *config) { c.deleteNodeFiles = on }
}

// WithBaseEnv replaces the base environment of every command: env is a list
// of "NAME=value" strings, used as given. Default: the variables named in
// DefaultBaseEnv, copied from this process, with a standard PATH if this
// process has none.
func WithBaseEnv(env []string) Option {
	return func(c *config) { c.baseEnv = append([]string{}, env...) }
}

// WithHTTPClient sets the client that downloads http and https resource
// files. Default: a client with DefaultDownloadTimeout.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) { c.httpClient = client }
}

// WithDestinationOpener sets how output file container URLs become
// destinations. Default: OpenDirDestination, which takes file:// URLs and
// plain paths.
func WithDestinationOpener(open DestinationOpener) Option {
	return func(c *config) { c.openDestination = open }
}

// WithUploadTimeout bounds the output file uploads of one attempt. Uploads
// also run after an attempt was terminated (its logs are most wanted then),
// so they are not bound by the attempt's context. Default
// DefaultUploadTimeout.
func WithUploadTimeout(d time.Duration) Option {
	return func(c *config) { c.uploadTimeout = d }
}

// WithMasterPort sets the port in AZ_BATCH_MASTER_NODE. Default
// node.DefaultMasterPort.
func WithMasterPort(port int) Option {
	return func(c *config) { c.masterPort = port }
}

// Backend runs attempts as local processes. It implements node.Backend,
// node.FileReader, node.TaskDirRemover and node.Closer, and is safe for
// concurrent use.
type Backend struct {
	root string
	cfg  config

	// closing is cancelled by Close; every attempt's context derives from it.
	closing context.Context
	stop    context.CancelFunc
	running sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	nodes    map[string]*localNode
	numAddrs uint32 // loopback addresses handed out so far
}

// localNode is a node the backend brought up.
type localNode struct {
	info   node.NodeInfo
	layout node.Layout
	// addr is the node's loopback address for multi-instance variables.
	addr string
}

// New returns a backend that keeps node directories under root (created if
// missing; made absolute so AZ_BATCH_* paths are absolute).
func New(root string, opts ...Option) (*Backend, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("local backend root %q: %w", root, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "nodes"), 0o755); err != nil {
		return nil, fmt.Errorf("local backend root: %w", err)
	}
	cfg := config{uploadTimeout: DefaultUploadTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.baseEnv == nil {
		cfg.baseEnv = defaultBaseEnv()
	}
	if cfg.httpClient == nil {
		cfg.httpClient = &http.Client{Timeout: DefaultDownloadTimeout}
	}
	if cfg.openDestination == nil {
		cfg.openDestination = OpenDirDestination
	}
	if cfg.uploadTimeout <= 0 {
		cfg.uploadTimeout = DefaultUploadTimeout
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Backend{root: abs, cfg: cfg, closing: ctx, stop: stop, nodes: make(map[string]*localNode)}, nil
}

func defaultBaseEnv() []string {
	var env []string
	for _, name := range DefaultBaseEnv {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		} else if name == "PATH" {
			env = append(env, "PATH="+defaultPath)
		}
	}
	return env
}

// Root is the directory the backend keeps node directories under.
func (b *Backend) Root() string { return b.root }

// NodeLayout is the directory layout of node nodeID, whose root is
// <root>/nodes/<nodeID>. It does not check that the node exists.
func (b *Backend) NodeLayout(nodeID string) node.Layout {
	return node.Layout{Root: filepath.Join(b.root, "nodes", nodeID)}
}

// HostAddress is the loopback address node nodeID has in multi-instance
// variables, and whether the node is up.
func (b *Backend) HostAddress(nodeID string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ok := b.nodes[nodeID]
	if !ok {
		return "", false
	}
	return n.addr, true
}

// AddNode creates the node's root with its shared/ and startup/ directories.
// Adding a node that is already up only re-creates missing directories.
func (b *Backend) AddNode(ctx context.Context, info node.NodeInfo) error {
	if err := task.ValidateID("nodeId", info.NodeID); err != nil {
		return err
	}
	l := b.NodeLayout(info.NodeID)
	for _, dir := range []string{l.SharedDir(), l.StartupDir(), l.WorkItemsDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("node %s: %w", info.NodeID, err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	if n, ok := b.nodes[info.NodeID]; ok {
		n.info = info
		return nil
	}
	b.numAddrs++
	b.nodes[info.NodeID] = &localNode{info: info, layout: l, addr: loopbackAddr(b.numAddrs)}
	return nil
}

// loopbackAddr is the address of the i-th node added (i from 1):
// 127.0.0.2 ... 127.0.0.254, then 127.0.1.1 and so on, using last bytes 1 to
// 254 only. 127.0.0.1 stays the host's own. Linux routes all of 127/8 to the
// loopback interface.
func loopbackAddr(i uint32) string {
	block, host := i/254, i%254+1
	return fmt.Sprintf("127.%d.%d.%d", block>>8&0xff, block&0xff, host)
}

// RemoveNode forgets the node. Its files are kept unless
// WithDeleteNodeFiles(true) was given. It returns a NodeNotFound error for a
// node that is not up.
func (b *Backend) RemoveNode(ctx context.Context, nodeID string) error {
	b.mu.Lock()
	_, ok := b.nodes[nodeID]
	delete(b.nodes, nodeID)
	b.mu.Unlock()
	if !ok {
		return task.Errorf(task.CodeNodeNotFound, "nodeId", nodeID, "the node is not up on this backend")
	}
	if b.cfg.deleteNodeFiles {
		if err := os.RemoveAll(b.NodeLayout(nodeID).Root); err != nil {
			return fmt.Errorf("node %s: %w", nodeID, err)
		}
	}
	return nil
}

// Close kills every running attempt, waits for their done callbacks, and
// makes further calls fail. Node directories are kept. Close is idempotent.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.stop()
	b.running.Wait()
	return nil
}

var errClosed = errors.New("local backend is closed")

// Start runs attempt a in a new goroutine and calls done with its result.
// Cancelling ctx (or closing the backend) kills the attempt's processes.
func (b *Backend) Start(ctx context.Context, a *node.Attempt, done func(node.Result)) {
	b.mu.Lock()
	closed := b.closed
	if !closed {
		b.running.Add(1)
	}
	b.mu.Unlock()
	if closed {
		now := time.Now()
		go done(node.ServerErrorResult(node.Result{StartTime: now, EndTime: now}, errClosed))
		return
	}
	go func() {
		defer b.running.Done()
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		stop := context.AfterFunc(b.closing, func() { cancel(errClosed) })
		defer stop()
		done(b.run(ctx, a))
	}()
}
