package local

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// CodeFileNotFound is Azure's error code for a task file that does not
// exist.
const CodeFileNotFound = node.CodeFileNotFound

// taskDirOf is the local directory of a task on a node. An empty jobID
// names the start task's directory; taskID may be node.JobPreparationDirName
// or node.JobReleaseDirName for a job's preparation and release tasks. Ids
// are checked, since they become path elements. The node need not be up:
// the files of removed nodes stay readable while they are kept.
func (b *Backend) taskDirOf(nodeID, jobID, taskID string) (string, error) {
	if err := task.ValidateID("nodeId", nodeID); err != nil {
		return "", err
	}
	if jobID != "" {
		if err := task.ValidateID("jobId", jobID); err != nil {
			return "", err
		}
		if err := task.ValidateID("taskId", taskID); err != nil {
			return "", err
		}
	}
	return filepath.FromSlash(b.NodeLayout(nodeID).TaskDir(jobID, taskID)), nil
}

// openTaskRoot opens a task directory as an os.Root, through which no name
// can reach outside it, not even by a symbolic link.
func (b *Backend) openTaskRoot(nodeID, jobID, taskID string) (*os.Root, error) {
	dir, err := b.taskDirOf(nodeID, jobID, taskID)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, task.Errorf(CodeFileNotFound, "taskId", taskID, "node %s has no directory for task %s of job %s", nodeID, taskID, jobID)
	}
	return root, err
}

// ListTaskFiles lists the files of a task directory (stdout.txt, wd/...),
// sorted by name; with recursive false only its top level. Symbolic links
// are listed as what they point to, and left out when that is outside the
// task directory or missing.
func (b *Backend) ListTaskFiles(ctx context.Context, nodeID, jobID, taskID string, recursive bool) ([]node.FileInfo, error) {
	root, err := b.openTaskRoot(nodeID, jobID, taskID)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var out []node.FileInfo
	add := func(name string, d fs.DirEntry) error {
		fi, err := root.Stat(name) // follows links, but only inside the root
		if err != nil {
			if d.Type()&fs.ModeSymlink != 0 {
				return nil
			}
			return err
		}
		out = append(out, node.FileInfoOf(filepath.ToSlash(name), fi))
		return nil
	}
	fsys := root.FS()
	if !recursive {
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			return nil, err
		}
		for _, d := range entries {
			if err := add(d.Name(), d); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if name == "." {
			return nil
		}
		return add(name, d)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadTaskFile returns the content of name, a '/'-separated path relative to
// the task directory such as "stdout.txt" or "wd/out/result.csv". Names that
// leave the directory ("../x", "/etc/passwd", or a symbolic link pointing
// out) are rejected with an InvalidPropertyValue error; missing files give a
// FileNotFound error.
func (b *Backend) ReadTaskFile(ctx context.Context, nodeID, jobID, taskID, name string) ([]byte, error) {
	clean, err := node.CleanRelative(name)
	if err != nil {
		return nil, task.Invalid("filePath", name, "%v", err)
	}
	root, err := b.openTaskRoot(nodeID, jobID, taskID)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(clean)
	if err != nil {
		return nil, node.TaskFileError(taskID, name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, task.Invalid("filePath", name, "is a directory")
	}
	return io.ReadAll(f)
}

// RemoveTaskDir deletes a task's directory. A missing directory is not an
// error. The job's directory stays (removing it could race with a task of
// the job starting on the node). The start task's
// directory (empty jobID) cannot be removed this way.
func (b *Backend) RemoveTaskDir(ctx context.Context, nodeID, jobID, taskID string) error {
	if jobID == "" {
		return task.Errorf(task.CodeInvalidPropertyValue, "jobId", "", "the start task's directory is not removable")
	}
	dir, err := b.taskDirOf(nodeID, jobID, taskID)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// Interface checks.
var (
	_ node.Backend        = (*Backend)(nil)
	_ node.FileReader     = (*Backend)(nil)
	_ node.TaskDirRemover = (*Backend)(nil)
	_ node.Closer         = (*Backend)(nil)
)
