package local

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// Destination receives a task's output files; see node.Destination.
type Destination = node.Destination

// DestinationOpener returns the Destination for an output file's
// destination.container.containerUrl; see node.DestinationOpener.
type DestinationOpener = node.DestinationOpener

// DirDestination is a local directory standing in for a blob container; see
// node.DirDestination.
type DirDestination = node.DirDestination

// OpenDirDestination is the default DestinationOpener: containerURL is
// "file:///dir" or a plain directory path. See node.OpenDirDestination.
func OpenDirDestination(containerURL string) (Destination, error) {
	return node.OpenDirDestination(containerURL)
}

// uploadOutputFiles uploads the output files of a command that ran and
// exited with exitCode (see node.UploadOutputFiles for patterns and
// conditions), logging each file to fileuploadout.txt and each failure to
// fileuploaderr.txt in taskDir. It returns the first failure. Uploads get
// their own deadline rather than ctx, which is cancelled when the task is
// terminated: a terminated task's logs are worth keeping.
func (b *Backend) uploadOutputFiles(ctx context.Context, files []task.OutputFile, taskDir, wd string, exitCode int) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.uploadTimeout)
	defer cancel()
	outLog, errLog, first := node.UploadOutputFiles(ctx, osFS{}, b.cfg.openDestination, files, filepath.ToSlash(wd), exitCode)
	logs := []struct{ name, text string }{
		{node.FileUploadOutFile, outLog},
		{node.FileUploadErrFile, errLog},
	}
	for _, l := range logs {
		if err := os.WriteFile(filepath.Join(taskDir, l.name), []byte(l.text), 0o644); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// osFS is this machine's file system as node.OutputFS.
type osFS struct{}

func (osFS) Stat(_ context.Context, name string) (fs.FileInfo, error) {
	return os.Stat(filepath.FromSlash(name))
}

func (osFS) DirFS(dir string) fs.FS { return os.DirFS(filepath.FromSlash(dir)) }

func (osFS) Fetch(_ context.Context, name string) (string, func(), error) {
	return filepath.FromSlash(name), func() {}, nil
}
