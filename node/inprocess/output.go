package inprocess

import (
	"context"
	"sync"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// File names served by the FileReader capability.
const (
	stdoutFile = "stdout.txt"
	stderrFile = "stderr.txt"
)

// codeFileNotFound is Azure's error code for a missing task file.
const codeFileNotFound = "FileNotFound"

// taskFiles is one task's retained stdout and stderr on a node.
type taskFiles struct {
	mu  sync.Mutex
	out [2]tail // stdout, stderr
}

// writeFiles appends p to the task's stdout or stderr.
func writeFiles[T string | []byte](f *taskFiles, stderr bool, p T, limit int) {
	f.mu.Lock()
	writeTail(f.stream(stderr), p, limit)
	f.mu.Unlock()
}

func (f *taskFiles) stream(stderr bool) *tail {
	if stderr {
		return &f.out[1]
	}
	return &f.out[0]
}

// info and read take f.mu.
func (f *taskFiles) info(stderr bool) (n int64, mod time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.stream(stderr)
	return int64(len(t.buf)), t.mod
}

func (f *taskFiles) read(stderr bool) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stream(stderr).bytes()
}

// tail keeps the last limit bytes written to it in a ring buffer that grows
// as needed up to limit bytes.
type tail struct {
	buf []byte
	// w is where the next byte goes once buf is full (len(buf) == limit);
	// the oldest kept byte is then buf[w].
	w   int
	mod time.Time
}

// writeTail appends p to t, keeping the last limit bytes.
func writeTail[T string | []byte](t *tail, p T, limit int) {
	t.mod = time.Now()
	if limit <= 0 || len(p) == 0 {
		return
	}
	if len(p) >= limit {
		t.grow(limit, limit)
		t.buf = append(t.buf[:0], p[len(p)-limit:]...)
		t.w = 0
		return
	}
	if len(t.buf) < limit {
		n := min(limit-len(t.buf), len(p))
		t.grow(len(t.buf)+n, limit)
		t.buf = append(t.buf, p[:n]...)
		p = p[n:]
	}
	for len(p) > 0 {
		n := copy(t.buf[t.w:], p)
		p = p[n:]
		t.w = (t.w + n) % limit
	}
}

// grow makes cap(t.buf) at least need, doubling but never beyond limit.
func (t *tail) grow(need, limit int) {
	if cap(t.buf) >= need {
		return
	}
	c := min(max(need, 2*cap(t.buf), 512), limit)
	b := make([]byte, len(t.buf), c)
	copy(b, t.buf)
	t.buf = b
}

// bytes returns a copy of the kept bytes, oldest first.
func (t *tail) bytes() []byte {
	out := make([]byte, 0, len(t.buf))
	out = append(out, t.buf[t.w:]...)
	return append(out, t.buf[:t.w]...)
}

// putFiles registers a task's output, replacing a previous attempt's. On a
// removed node the output is kept only by the Task.
func (ns *nodeState) putFiles(k fileKey, f *taskFiles) {
	ns.filesMu.Lock()
	defer ns.filesMu.Unlock()
	if ns.removed.Load() {
		return
	}
	if ns.files == nil {
		ns.files = make(map[fileKey]*taskFiles)
	}
	ns.files[k] = f
	ns.nfiles.Store(int64(len(ns.files)))
}

func (ns *nodeState) dropFiles(k fileKey) {
	ns.filesMu.Lock()
	defer ns.filesMu.Unlock()
	delete(ns.files, k)
	ns.nfiles.Store(int64(len(ns.files)))
}

func (ns *nodeState) getFiles(k fileKey) *taskFiles {
	ns.filesMu.Lock()
	defer ns.filesMu.Unlock()
	return ns.files[k]
}

func (b *Backend) node(nodeID string) (*nodeState, error) {
	ns := (*b.nodes.Load())[nodeID]
	if ns == nil {
		return nil, task.Errorf(task.CodeNodeNotFound, "nodeId", nodeID, "the node is not in this backend")
	}
	return ns, nil
}

// ListTaskFiles lists "stdout.txt" and "stderr.txt" of the task's latest
// attempt on the node, with ContentLength the bytes kept and LastModified
// the time of the last write (zero if the task never wrote). The backend
// does not track which tasks ran on a node, so a task that never ran there
// lists two empty files; the engine knows better. recursive is ignored: there
// is no wd directory. An unknown node is a task.CodeNodeNotFound error.
func (b *Backend) ListTaskFiles(ctx context.Context, nodeID, jobID, taskID string, recursive bool) ([]node.FileInfo, error) {
	ns, err := b.node(nodeID)
	if err != nil {
		return nil, err
	}
	f := ns.getFiles(fileKey{jobID, taskID})
	out := []node.FileInfo{{Name: stderrFile}, {Name: stdoutFile}}
	if f != nil {
		out[0].ContentLength, out[0].LastModified = f.info(true)
		out[1].ContentLength, out[1].LastModified = f.info(false)
	}
	return out, nil
}

// ReadTaskFile returns the kept bytes of "stdout.txt" or "stderr.txt" (empty
// if the task never wrote). Any other name is an error with Azure's code
// FileNotFound; an unknown node is task.CodeNodeNotFound.
func (b *Backend) ReadTaskFile(ctx context.Context, nodeID, jobID, taskID, name string) ([]byte, error) {
	ns, err := b.node(nodeID)
	if err != nil {
		return nil, err
	}
	var stderr bool
	switch name {
	case stdoutFile:
	case stderrFile:
		stderr = true
	default:
		return nil, task.Errorf(codeFileNotFound, "filePath", name, "the inprocess backend keeps only stdout.txt and stderr.txt")
	}
	f := ns.getFiles(fileKey{jobID, taskID})
	if f == nil {
		return []byte{}, nil
	}
	return f.read(stderr), nil
}

// RemoveTaskDir drops the task's kept output on the node. Removing output
// that is not there is not an error; an unknown node is
// task.CodeNodeNotFound.
func (b *Backend) RemoveTaskDir(ctx context.Context, nodeID, jobID, taskID string) error {
	ns, err := b.node(nodeID)
	if err != nil {
		return err
	}
	ns.dropFiles(fileKey{jobID, taskID})
	return nil
}
