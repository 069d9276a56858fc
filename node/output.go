package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/embatch/embatch/task"
)

// Destination receives a task's output files: Azure's blob container, stood
// in for by anything that can store a file under a name.
type Destination interface {
	// Upload stores the local file src under name, a '/'-separated blob
	// name such as "logs/t1/stdout.txt". It replaces an existing blob.
	Upload(ctx context.Context, src, name string) error
}

// DestinationOpener returns the Destination for an output file's
// destination.container.containerUrl.
type DestinationOpener func(containerURL string) (Destination, error)

// DirDestination is a local directory standing in for a blob container:
// blob "a/b.txt" becomes the file Dir/a/b.txt.
type DirDestination struct {
	// Dir is the container directory, created on first upload.
	Dir string
}

// OpenDirDestination is the default DestinationOpener: containerURL is
// "file:///dir" or a plain directory path on this machine.
func OpenDirDestination(containerURL string) (Destination, error) {
	if containerURL == "" {
		return nil, errors.New("empty containerUrl")
	}
	if !strings.Contains(containerURL, "://") {
		return DirDestination{Dir: containerURL}, nil
	}
	u, err := url.Parse(containerURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "file" {
		return nil, fmt.Errorf("containerUrl %q: output files are stored in file:// directories only", u.Redacted())
	}
	dir, err := localPath(u)
	if err != nil {
		return nil, err
	}
	return DirDestination{Dir: dir}, nil
}

// Upload copies src to Dir/name through an os.Root, so name cannot escape
// Dir, writing a temporary file first so a reader never sees half a file.
func (d DirDestination) Upload(ctx context.Context, src, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	clean, err := CleanRelative(strings.TrimLeft(name, "/"))
	if err != nil {
		return fmt.Errorf("blob name: %w", err)
	}
	if clean == "." {
		return fmt.Errorf("blob name %q names the container itself", name)
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(d.Dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if dir := path.Dir(clean); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := clean + ".uploading"
	out, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		root.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		root.Remove(tmp)
		return err
	}
	return root.Rename(tmp, clean)
}

// OutputFS is a node's file system as output file uploads read it: the
// local one, or a remote host's. Names are absolute '/'-separated paths on
// the node.
type OutputFS interface {
	// Stat describes name, following symbolic links.
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	// DirFS is the directory dir as an fs.FS, in which patterns are
	// matched.
	DirFS(dir string) fs.FS
	// Fetch makes the content of name available as a file on this machine
	// for Destination.Upload, and returns its path and a function that
	// releases it.
	Fetch(ctx context.Context, name string) (local string, release func(), err error)
}

// UploadOutputFiles uploads the output files of a command that ran in wd on
// the node whose files src reads and exited with exitCode. It returns the
// text of fileuploadout.txt (what was uploaded or skipped) and of
// fileuploaderr.txt (what failed), which the caller writes into the task
// directory, and the first failure. open turns a containerUrl into a
// Destination.
//
// Each filePattern is relative to wd or absolute. Without wildcards it
// names one file, uploaded as destination path (or its base name when path
// is empty); with wildcards, each match is uploaded as path/<match relative
// to the part of the pattern before the first wildcard>. Patterns take *,
// ** (any depth), ?, [abc], [!abc] and {a,b} (github.com/bmatcuk/doublestar);
// wildcards skip names starting with '.' unless the pattern spells the dot.
// A pattern matching nothing is not an error (it is noted in the log). The
// upload condition is applied to exitCode.
func UploadOutputFiles(ctx context.Context, src OutputFS, open DestinationOpener, files []task.OutputFile, wd string, exitCode int) (outLog, errLog string, first error) {
	var out, errs strings.Builder
	for i, of := range files {
		field := fmt.Sprintf("outputFiles[%d] (filePattern %q)", i, of.FilePattern)
		cond := of.UploadOptions.UploadCondition
		if !shouldUpload(cond, exitCode) {
			fmt.Fprintf(&out, "%s: skipped: uploadCondition %s, exit code %d\n", field, cond, exitCode)
			continue
		}
		if err := uploadOutputFile(ctx, src, open, of, wd, &out); err != nil {
			err = fmt.Errorf("%s: %w", field, err)
			fmt.Fprintln(&errs, err)
			if first == nil {
				first = err
			}
		}
	}
	return out.String(), errs.String(), first
}

// shouldUpload applies an upload condition to an exit code: tasksuccess
// wants 0, taskfailure anything else, taskcompletion (the default) either.
func shouldUpload(c task.OutputFileUploadCondition, exitCode int) bool {
	switch c {
	case task.UploadOnTaskSuccess:
		return exitCode == 0
	case task.UploadOnTaskFailure:
		return exitCode != 0
	default:
		return true
	}
}

// uploadOutputFile uploads the files of one filePattern.
func uploadOutputFile(ctx context.Context, src OutputFS, open DestinationOpener, of task.OutputFile, wd string, log io.Writer) error {
	c := of.Destination.Container
	if c == nil {
		return errors.New("destination.container is required")
	}
	dst, err := open(c.ContainerURL)
	if err != nil {
		return err
	}
	pattern := of.FilePattern
	if !path.IsAbs(pattern) {
		pattern = path.Join(wd, pattern)
	}
	if !hasWildcard(pattern) {
		name := unescapePattern(pattern)
		fi, err := src.Stat(ctx, name)
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(log, "%s: no such file, nothing uploaded\n", name)
			return nil
		}
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory; use a pattern such as %s/** to upload its files", name, of.FilePattern)
		}
		blob := c.Path
		if blob == "" {
			blob = path.Base(name)
		}
		return upload(ctx, src, dst, name, blob, c.ContainerURL, log)
	}
	base, rest := doublestar.SplitPattern(pattern)
	matches, err := doublestar.Glob(src.DirFS(base), rest,
		doublestar.WithFilesOnly(), doublestar.WithNoHidden(), doublestar.WithFailOnIOErrors())
	if err != nil {
		return fmt.Errorf("matching: %w", err)
	}
	if len(matches) == 0 {
		fmt.Fprintf(log, "%s: no files match, nothing uploaded\n", pattern)
	}
	for _, m := range matches {
		if err := upload(ctx, src, dst, path.Join(base, m), path.Join(c.Path, m), c.ContainerURL, log); err != nil {
			return err
		}
	}
	return nil
}

// upload fetches name from the node and stores it as blob.
func upload(ctx context.Context, src OutputFS, dst Destination, name, blob, container string, log io.Writer) error {
	local, release, err := src.Fetch(ctx, name)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer release()
	if err := dst.Upload(ctx, local, blob); err != nil {
		return fmt.Errorf("uploading %s as %q: %w", name, blob, err)
	}
	fmt.Fprintf(log, "%s: uploaded to %s as %s\n", name, container, blob)
	return nil
}

// hasWildcard reports whether pattern has an unescaped '*', '?', '[' or
// '{'.
func hasWildcard(pattern string) bool {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			i++
		case '*', '?', '[', '{':
			return true
		}
	}
	return false
}

// unescapePattern removes the backslashes that escape characters in a
// pattern without wildcards.
func unescapePattern(pattern string) string {
	if !strings.Contains(pattern, `\`) {
		return pattern
	}
	var s strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '\\' && i+1 < len(pattern) {
			i++
		}
		s.WriteByte(pattern[i])
	}
	return s.String()
}
