package local

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// DefaultResourceFileMode is the mode of a resource file without fileMode,
// as on Azure's Linux nodes.
const DefaultResourceFileMode = node.DefaultResourceFileMode

// fetchResourceFiles puts files into dir (a working directory, or a task
// directory for common resource files) as node.FetchResourceFiles
// describes. field names the list in errors ("resourceFiles" or
// "commonResourceFiles"). Files are written through an os.Root, so neither
// filePath nor a symlink planted by an earlier command can make them land
// outside dir.
func (b *Backend) fetchResourceFiles(ctx context.Context, dir, field string, files []task.ResourceFile) error {
	if len(files) == 0 {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return node.FetchResourceFiles(ctx, b.cfg.httpClient, rootWriter{root}, field, files)
}

// rootWriter writes resource files through an os.Root.
type rootWriter struct{ root *os.Root }

// WriteFile writes r to name in the root, creating parent directories, and
// gives it mode (exactly: the umask does not apply). An existing file is
// replaced.
func (w rootWriter) WriteFile(_ context.Context, name string, r io.Reader, mode fs.FileMode) error {
	root := w.root
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	// Replace rather than truncate: a file left by an earlier attempt may be
	// read-only.
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
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
	return root.Chmod(name, mode)
}
