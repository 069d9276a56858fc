package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// CodeFileNotFound is Azure's error code for a task file that does not
// exist.
const CodeFileNotFound = node.CodeFileNotFound

// fetchResourceFiles fetches files here and writes them into dir on c's
// host (see node.FetchResourceFiles).
func (b *Backend) fetchResourceFiles(ctx context.Context, c *conn, dir, field string, files []task.ResourceFile) error {
	w := &sftpWriter{c: c, dir: dir}
	if err := w.open(); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return node.FetchResourceFiles(ctx, b.cfg.httpClient, w, field, files)
}

// sftpWriter writes resource files into a directory on a host.
type sftpWriter struct {
	c   *conn
	dir string
}

// open creates the directory, which must not be a symbolic link.
func (w *sftpWriter) open() error {
	if err := w.c.sftp.MkdirAll(w.dir); err != nil {
		return fmt.Errorf("creating %s: %w", w.dir, err)
	}
	fi, err := w.c.sftp.Lstat(w.dir)
	switch {
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link; resource files are not written through links", w.dir)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", w.dir)
	}
	return nil
}

// WriteFile implements node.FileWriter. Parent directories are created one
// by one, and a path element that is a symbolic link is refused, so that a
// link planted by an earlier command cannot redirect the file; an existing
// file (or link) at name is removed first, and the new file is created
// exclusively.
//
// The steps after the directories are the local backend's (remove, create
// exclusively, copy, chmod) through *sftp.Client instead of os.Root; the
// two have different methods, so the dozen lines are not shared.
func (w *sftpWriter) WriteFile(ctx context.Context, name string, r io.Reader, mode fs.FileMode) error {
	s := w.c.sftp
	cur := w.dir
	if dir := path.Dir(name); dir != "." {
		for _, elem := range strings.Split(dir, "/") {
			cur = path.Join(cur, elem)
			fi, err := s.Lstat(cur)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				if err := s.Mkdir(cur); err != nil {
					return err
				}
			case err != nil:
				return err
			case fi.Mode()&fs.ModeSymlink != 0:
				return fmt.Errorf("%s is a symbolic link; resource files are not written through links", cur)
			case !fi.IsDir():
				return fmt.Errorf("%s is not a directory", cur)
			}
		}
	}
	full := path.Join(w.dir, name)
	if err := s.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := s.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return s.Chmod(full, mode)
}

// uploadOutputFiles uploads a command's output files (see
// node.UploadOutputFiles) and writes the upload logs into taskDir. Uploads
// get their own deadline rather than ctx, which is cancelled when the task
// is terminated: a terminated task's logs are worth keeping.
func (b *Backend) uploadOutputFiles(ctx context.Context, t *target, files []task.OutputFile, taskDir, wd string, exitCode int) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.uploadTimeout)
	defer cancel()
	outLog, errLog, first := node.UploadOutputFiles(ctx, sftpFS{t.conn}, b.cfg.openDestination, files, wd, exitCode)
	logs := []struct{ name, text string }{
		{node.FileUploadOutFile, outLog},
		{node.FileUploadErrFile, errLog},
	}
	for _, l := range logs {
		if err := t.conn.writeFile(path.Join(taskDir, l.name), l.text); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// mkdirs creates directory dir and its missing parents over SFTP. The
// common cases take one or three round trips: dir's parent exists (a
// retry), or only dir and its parent are missing (a new task of a job that
// already ran on the node).
func (c *conn) mkdirs(dir string) error {
	err := c.sftp.Mkdir(dir)
	if err == nil {
		return nil
	}
	if fi, serr := c.sftp.Stat(dir); serr == nil && fi.IsDir() {
		return nil
	}
	if c.sftp.Mkdir(path.Dir(dir)) == nil && c.sftp.Mkdir(dir) == nil {
		return nil
	}
	return c.sftp.MkdirAll(dir)
}

// writeFile creates or truncates name on the host and writes text.
func (c *conn) writeFile(name, text string) error {
	f, err := c.sftp.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sftpFS is a host's file system as node.OutputFS.
type sftpFS struct{ c *conn }

func (f sftpFS) Stat(_ context.Context, name string) (fs.FileInfo, error) {
	return f.c.sftp.Stat(name)
}

func (f sftpFS) DirFS(dir string) fs.FS { return dirFS{c: f.c, dir: dir} }

// Fetch downloads name into a temporary file here.
func (f sftpFS) Fetch(ctx context.Context, name string) (string, func(), error) {
	src, err := f.c.sftp.Open(name)
	if err != nil {
		return "", nil, err
	}
	defer src.Close()
	stop := context.AfterFunc(ctx, func() { src.Close() })
	defer stop()
	tmp, err := os.CreateTemp("", "embatch-ssh-output-*")
	if err != nil {
		return "", nil, err
	}
	release := func() { os.Remove(tmp.Name()) }
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		release()
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return "", nil, err
	}
	if err := tmp.Close(); err != nil {
		release()
		return "", nil, err
	}
	return tmp.Name(), release, nil
}

// dirFS is a directory on a host as an fs.FS (with ReadDir and Stat), for
// matching output file patterns.
type dirFS struct {
	c   *conn
	dir string
}

// path is name (an fs.FS name) on the host, or a PathError for op.
func (d dirFS) path(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return path.Join(d.dir, name), nil
}

// Open opens a file for reading; a directory opens as a file whose Read
// fails (list it with ReadDir).
func (d dirFS) Open(name string) (fs.File, error) {
	p, err := d.path("open", name)
	if err != nil {
		return nil, err
	}
	fi, err := d.c.sftp.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return dirFile{fi}, nil
	}
	return d.c.sftp.Open(p)
}

// Stat implements fs.StatFS, following links.
func (d dirFS) Stat(name string) (fs.FileInfo, error) {
	p, err := d.path("stat", name)
	if err != nil {
		return nil, err
	}
	return d.c.sftp.Stat(p)
}

// ReadDir implements fs.ReadDirFS: entries sorted by name, links as links.
func (d dirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := d.path("readdir", name)
	if err != nil {
		return nil, err
	}
	infos, err := d.c.sftp.ReadDir(p)
	if err != nil {
		return nil, err
	}
	entries := make([]fs.DirEntry, len(infos))
	for i, fi := range infos {
		entries[i] = fs.FileInfoToDirEntry(fi)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// dirFile is an opened directory of a dirFS.
type dirFile struct{ fi fs.FileInfo }

func (f dirFile) Stat() (fs.FileInfo, error) { return f.fi, nil }
func (f dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: f.fi.Name(), Err: errors.New("is a directory")}
}
func (f dirFile) Close() error { return nil }

// taskDirOf is the connection to a node's host and the directory of a
// task on it. An empty jobID names the start task's directory; taskID may
// be node.JobPreparationDirName or node.JobReleaseDirName. The node need
// not be up: a removed node's files stay readable while they are kept.
func (b *Backend) taskDirOf(nodeID, jobID, taskID string) (*conn, string, error) {
	if err := task.ValidateID("nodeId", nodeID); err != nil {
		return nil, "", err
	}
	if jobID != "" {
		if err := task.ValidateID("jobId", jobID); err != nil {
			return nil, "", err
		}
		if err := task.ValidateID("taskId", taskID); err != nil {
			return nil, "", err
		}
	}
	b.mu.Lock()
	p, ok := b.placed[nodeID]
	b.mu.Unlock()
	if !ok {
		return nil, "", task.Errorf(task.CodeNodeNotFound, "nodeId", nodeID, "the node was never added to this backend")
	}
	c := p.host.current()
	if c == nil {
		return nil, "", fmt.Errorf("node %s: host %s is not connected; its files can be read when it answers again", nodeID, p.host.spec)
	}
	return c, p.layout.TaskDir(jobID, taskID), nil
}

// openTaskDir returns the connection and the real (symlink-free) path of a
// task directory.
func (b *Backend) openTaskDir(nodeID, jobID, taskID string) (*conn, string, error) {
	c, dir, err := b.taskDirOf(nodeID, jobID, taskID)
	if err != nil {
		return nil, "", err
	}
	if _, err := c.sftp.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, "", task.Errorf(CodeFileNotFound, "taskId", taskID, "node %s has no directory for task %s of job %s", nodeID, taskID, jobID)
	} else if err != nil {
		return nil, "", err
	}
	real, err := c.sftp.RealPath(dir)
	if err != nil {
		return nil, "", err
	}
	return c, real, nil
}

// inside reports whether p is dir or lies below it.
func inside(dir, p string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// ListTaskFiles lists the files of a task directory (stdout.txt, wd/...),
// sorted by name; with recursive false only its top level. Symbolic links
// are listed as what they point to, and left out when that is outside the
// task directory or missing; linked directories are not descended into.
func (b *Backend) ListTaskFiles(ctx context.Context, nodeID, jobID, taskID string, recursive bool) ([]node.FileInfo, error) {
	c, root, err := b.openTaskDir(nodeID, jobID, taskID)
	if err != nil {
		return nil, err
	}
	var out []node.FileInfo
	var walk func(rel string) error
	walk = func(rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		infos, err := c.sftp.ReadDir(path.Join(root, rel))
		if err != nil {
			return err
		}
		slices.SortFunc(infos, func(a, b fs.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
		for _, fi := range infos {
			name := path.Join(rel, fi.Name())
			full := path.Join(root, name)
			isLink := fi.Mode()&fs.ModeSymlink != 0
			if isLink {
				target, err := c.sftp.RealPath(full)
				if err != nil || !inside(root, target) {
					continue
				}
				if fi, err = c.sftp.Stat(full); err != nil {
					continue
				}
			}
			out = append(out, fileInfo(name, fi))
			if recursive && fi.IsDir() && !isLink {
				if err := walk(name); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	return out, nil
}

// fileInfo describes fi under name (relative to the task directory), as
// node.FileInfoOf does. SFTP gives modification times in whole seconds.
func fileInfo(name string, fi fs.FileInfo) node.FileInfo {
	info := node.FileInfoOf(name, fi)
	info.LastModified = info.LastModified.Truncate(time.Second)
	return info
}

// ReadTaskFile returns the content of name, a '/'-separated path relative to
// the task directory such as "stdout.txt" or "wd/out/result.csv". Names that
// leave the directory ("../x", "/etc/passwd", or a symbolic link pointing
// out, as the host's realpath resolves it) are rejected with an
// InvalidPropertyValue error; missing files give a FileNotFound error.
func (b *Backend) ReadTaskFile(ctx context.Context, nodeID, jobID, taskID, name string) ([]byte, error) {
	clean, err := node.CleanRelative(name)
	if err != nil {
		return nil, task.Invalid("filePath", name, "%v", err)
	}
	c, root, err := b.openTaskDir(nodeID, jobID, taskID)
	if err != nil {
		return nil, err
	}
	full := path.Join(root, clean)
	fi, err := c.sftp.Stat(full)
	switch {
	case err != nil:
		return nil, node.TaskFileError(taskID, name, err)
	case fi.IsDir():
		return nil, task.Invalid("filePath", name, "is a directory")
	}
	real, err := c.sftp.RealPath(full)
	if err != nil {
		return nil, task.Invalid("filePath", name, "cannot resolve: %v", err)
	}
	if !inside(root, real) {
		return nil, task.Invalid("filePath", name, "resolves to %s, outside the task directory", real)
	}
	f, err := c.sftp.Open(real)
	if err != nil {
		return nil, task.Invalid("filePath", name, "cannot open: %v", err)
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	data, err := io.ReadAll(f)
	if err != nil && ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	return data, err
}

// RemoveTaskDir deletes a task's directory on its host. A missing
// directory is not an error. The job's directory stays (removing it could
// race with a task of the job starting on the node). The start task's
// directory (empty jobID) cannot be removed this way.
func (b *Backend) RemoveTaskDir(ctx context.Context, nodeID, jobID, taskID string) error {
	if jobID == "" {
		return task.Errorf(task.CodeInvalidPropertyValue, "jobId", "", "the start task's directory is not removable")
	}
	c, dir, err := b.taskDirOf(nodeID, jobID, taskID)
	if err != nil {
		return err
	}
	_, err = c.output(ctx, removeScript, dir)
	return err
}
