package node

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/embatch/embatch/task"
)

// CodeFileNotFound is Azure's error code for a task file that does not
// exist.
const CodeFileNotFound = "FileNotFound"

// FileInfoOf describes fi, found at name (a '/'-separated path relative to
// the task directory), for FileReader.ListTaskFiles. A directory has no
// content length; the mode is the permission bits in octal, such as "0644".
func FileInfoOf(name string, fi fs.FileInfo) FileInfo {
	info := FileInfo{
		Name:         name,
		IsDirectory:  fi.IsDir(),
		LastModified: fi.ModTime().UTC(),
		FileMode:     fmt.Sprintf("%04o", fi.Mode().Perm()),
	}
	if !fi.IsDir() {
		info.ContentLength = fi.Size()
	}
	return info
}

// TaskFileError is the error of FileReader.ReadTaskFile when name, a file
// of task taskID, cannot be opened because of err: FileNotFound when it
// does not exist, InvalidPropertyValue for filePath otherwise.
func TaskFileError(taskID, name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return task.Errorf(CodeFileNotFound, "filePath", name, "task %s has no such file", taskID)
	}
	return task.Invalid("filePath", name, "cannot open: %v", err)
}
