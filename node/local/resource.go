package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// DefaultResourceFileMode is the mode of a resource file without fileMode,
// as on Azure's Linux nodes.
const DefaultResourceFileMode os.FileMode = 0o770

// fetchResourceFiles puts files into dir (a working directory, or a task
// directory for common resource files). field names the list in errors
// ("resourceFiles" or "commonResourceFiles"). Files are written through an
// os.Root, so neither filePath nor a symlink planted by an earlier command
// can make them land outside dir.
func (b *Backend) fetchResourceFiles(ctx context.Context, dir, field string, files []task.ResourceFile) error {
	if len(files) == 0 {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for i, rf := range files {
		if err := b.fetchResourceFile(ctx, root, rf); err != nil {
			return fmt.Errorf("%s[%d] (%s to filePath %q): %w", field, i, resourceSource(rf), rf.FilePath, err)
		}
	}
	return nil
}

// resourceSource is the URL a resource file comes from.
func resourceSource(rf task.ResourceFile) string {
	if rf.HTTPURL != "" {
		return "httpUrl " + rf.HTTPURL
	}
	s := "storageContainerUrl " + rf.StorageContainerURL
	if rf.BlobPrefix != "" {
		s += " blobPrefix " + rf.BlobPrefix
	}
	return s
}

func (b *Backend) fetchResourceFile(ctx context.Context, root *os.Root, rf task.ResourceFile) error {
	mode := DefaultResourceFileMode
	if rf.FileMode != "" {
		m, err := strconv.ParseUint(rf.FileMode, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("fileMode %q is not an octal mode such as 0755", rf.FileMode)
		}
		mode = os.FileMode(m)
	}
	switch {
	case rf.HTTPURL != "" && rf.StorageContainerURL != "":
		return errors.New("set only one of httpUrl and storageContainerUrl")
	case rf.HTTPURL != "":
		if rf.FilePath == "" {
			return errors.New("filePath is required with httpUrl")
		}
		name, err := node.CleanRelative(rf.FilePath)
		if err != nil {
			return err
		}
		u, err := url.Parse(rf.HTTPURL)
		if err != nil {
			return err
		}
		switch u.Scheme {
		case "http", "https":
			return b.download(ctx, root, u, name, mode)
		case "file":
			src, err := localPath(u)
			if err != nil {
				return err
			}
			return copyFileInto(root, src, name, mode)
		default:
			return fmt.Errorf("unsupported URL scheme %q; want http, https or file", u.Scheme)
		}
	case rf.StorageContainerURL != "":
		dest := "."
		if rf.FilePath != "" {
			var err error
			if dest, err = node.CleanRelative(rf.FilePath); err != nil {
				return err
			}
		}
		u, err := url.Parse(rf.StorageContainerURL)
		if err != nil {
			return err
		}
		if u.Scheme != "file" {
			return fmt.Errorf("unsupported container URL scheme %q; embatch takes file:// directories", u.Scheme)
		}
		src, err := localPath(u)
		if err != nil {
			return err
		}
		return copyTreeInto(ctx, root, src, rf.BlobPrefix, dest, mode)
	}
	return errors.New("set one of httpUrl and storageContainerUrl")
}

// localPath is the local file a file:// URL names: file:///abs/path or
// file://localhost/abs/path.
func localPath(u *url.URL) (string, error) {
	if u.Host != "" && u.Host != "localhost" {
		return "", fmt.Errorf("file URL %q names host %q; only local files are supported", u.String(), u.Host)
	}
	if u.Path == "" || !path.IsAbs(u.Path) {
		return "", fmt.Errorf("file URL %q needs an absolute path (file:///dir/file)", u.String())
	}
	return filepath.FromSlash(u.Path), nil
}

// download GETs u into name.
func (b *Backend) download(ctx context.Context, root *os.Root, u *url.URL, name string, mode os.FileMode) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := b.cfg.httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	return writeInto(root, name, resp.Body, mode)
}

// copyFileInto copies the local file src into name.
func copyFileInto(root *os.Root, src, name string, mode os.FileMode) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return err
	} else if fi.IsDir() {
		return fmt.Errorf("%s is a directory; use storageContainerUrl for directories", src)
	}
	return writeInto(root, name, f, mode)
}

// copyTreeInto copies every regular file under dir whose '/'-separated path
// relative to dir starts with prefix (Azure's blobPrefix: a plain string
// prefix, not a directory) to dest/<relative path>, preserving the tree.
// Symbolic links to files are copied as files; links to directories are not
// followed.
func copyTreeInto(ctx context.Context, root *os.Root, dir, prefix, dest string, mode os.FileMode) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, prefix) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		return copyFileInto(root, p, path.Join(dest, rel), mode)
	})
}

// writeInto writes r to name in root, creating parent directories, and
// gives it mode (exactly: the umask does not apply). An existing file is
// replaced.
func writeInto(root *os.Root, name string, r io.Reader, mode os.FileMode) error {
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
