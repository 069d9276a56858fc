package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/embatch/embatch/node"
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
// "file:///dir" or a plain directory path.
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
		return nil, fmt.Errorf("containerUrl %q: the local backend stores output files in file:// directories only", u.Redacted())
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
	clean, err := node.CleanRelative(strings.TrimLeft(name, "/"))
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

// uploadOutputFiles uploads the output files of a command that ran and
// exited with exitCode, logging each file to fileuploadout.txt and each
// failure to fileuploaderr.txt in taskDir. It returns the first failure.
// Uploads get their own deadline rather than ctx, which is cancelled when
// the task is terminated: a terminated task's logs are worth keeping.
func (b *Backend) uploadOutputFiles(ctx context.Context, files []task.OutputFile, taskDir, wd string, exitCode int) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.uploadTimeout)
	defer cancel()
	var outLog, errLog strings.Builder
	var first error
	for i, of := range files {
		field := fmt.Sprintf("outputFiles[%d] (filePattern %q)", i, of.FilePattern)
		cond := of.UploadOptions.UploadCondition
		if !shouldUpload(cond, exitCode) {
			fmt.Fprintf(&outLog, "%s: skipped: uploadCondition %s, exit code %d\n", field, cond, exitCode)
			continue
		}
		if err := b.uploadOutputFile(ctx, of, wd, &outLog); err != nil {
			err = fmt.Errorf("%s: %w", field, err)
			fmt.Fprintln(&errLog, err)
			if first == nil {
				first = err
			}
		}
	}
	logs := []struct{ name, text string }{
		{node.FileUploadOutFile, outLog.String()},
		{node.FileUploadErrFile, errLog.String()},
	}
	for _, l := range logs {
		if err := os.WriteFile(filepath.Join(taskDir, l.name), []byte(l.text), 0o644); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// uploadOutputFile uploads the files of one filePattern. A pattern is
// relative to wd or absolute. Without wildcards it names one file, uploaded
// as destination path (or its base name when path is empty); with
// wildcards, each match is uploaded as path/<match relative to the part of
// the pattern before the first wildcard>. A pattern matching nothing is not
// an error (it is noted in fileuploadout.txt). Wildcards do not match names
// starting with '.' unless the pattern spells the dot.
func (b *Backend) uploadOutputFile(ctx context.Context, of task.OutputFile, wd string, log io.Writer) error {
	c := of.Destination.Container
	if c == nil {
		return errors.New("destination.container is required")
	}
	dst, err := b.cfg.openDestination(c.ContainerURL)
	if err != nil {
		return err
	}
	pattern := filepath.ToSlash(of.FilePattern)
	if !path.IsAbs(pattern) {
		pattern = path.Join(filepath.ToSlash(wd), pattern)
	}
	if !hasWildcard(pattern) {
		src := filepath.FromSlash(unescapePattern(pattern))
		fi, err := os.Stat(src)
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(log, "%s: no such file, nothing uploaded\n", src)
			return nil
		}
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory; use a pattern such as %s/** to upload its files", src, of.FilePattern)
		}
		name := c.Path
		if name == "" {
			name = path.Base(src)
		}
		return upload(ctx, dst, src, name, c.ContainerURL, log)
	}
	base, rest := doublestar.SplitPattern(pattern)
	matches, err := doublestar.Glob(os.DirFS(filepath.FromSlash(base)), rest,
		doublestar.WithFilesOnly(), doublestar.WithNoHidden(), doublestar.WithFailOnIOErrors())
	if err != nil {
		return fmt.Errorf("matching: %w", err)
	}
	if len(matches) == 0 {
		fmt.Fprintf(log, "%s: no files match, nothing uploaded\n", pattern)
	}
	for _, m := range matches {
		if err := upload(ctx, dst, filepath.Join(filepath.FromSlash(base), filepath.FromSlash(m)), path.Join(c.Path, m), c.ContainerURL, log); err != nil {
			return err
		}
	}
	return nil
}

func upload(ctx context.Context, dst Destination, src, name, container string, log io.Writer) error {
	if err := dst.Upload(ctx, src, name); err != nil {
		return fmt.Errorf("uploading %s as %q: %w", src, name, err)
	}
	fmt.Fprintf(log, "%s: uploaded to %s as %s\n", src, container, name)
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
