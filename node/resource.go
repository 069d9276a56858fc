package node

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

	"github.com/embatch/embatch/task"
)

// DefaultResourceFileMode is the mode of a resource file without fileMode,
// as on Azure's Linux nodes.
const DefaultResourceFileMode fs.FileMode = 0o770

// FileWriter is a directory that resource files are written into: a local
// directory (the local backend writes through an os.Root) or a directory on
// a remote host (the SSH backend writes through SFTP).
type FileWriter interface {
	// WriteFile writes r to name, a clean '/'-separated path relative to
	// the directory (see CleanRelative), creating parent directories and
	// replacing an existing file, and gives the file exactly mode (no
	// umask). It must not write outside the directory, not even through a
	// symbolic link planted by an earlier command.
	WriteFile(ctx context.Context, name string, r io.Reader, mode fs.FileMode) error
}

// FetchResourceFiles fetches files, on the machine this process runs on,
// into dst: httpUrl over http(s) or from a file:// path, storageContainerUrl
// from a file:// directory tree filtered by blobPrefix, each given fileMode
// (default DefaultResourceFileMode). field names the list in errors
// ("resourceFiles" or "commonResourceFiles"); an error names the failing
// file and its cause. client downloads http(s) URLs.
func FetchResourceFiles(ctx context.Context, client *http.Client, dst FileWriter, field string, files []task.ResourceFile) error {
	for i, rf := range files {
		if err := fetchResourceFile(ctx, client, dst, rf); err != nil {
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

func fetchResourceFile(ctx context.Context, client *http.Client, dst FileWriter, rf task.ResourceFile) error {
	mode := DefaultResourceFileMode
	if rf.FileMode != "" {
		m, err := strconv.ParseUint(rf.FileMode, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("fileMode %q is not an octal mode such as 0755", rf.FileMode)
		}
		mode = fs.FileMode(m)
	}
	switch {
	case rf.HTTPURL != "" && rf.StorageContainerURL != "":
		return errors.New("set only one of httpUrl and storageContainerUrl")
	case rf.HTTPURL != "":
		if rf.FilePath == "" {
			return errors.New("filePath is required with httpUrl")
		}
		name, err := CleanRelative(rf.FilePath)
		if err != nil {
			return err
		}
		u, err := url.Parse(rf.HTTPURL)
		if err != nil {
			return err
		}
		switch u.Scheme {
		case "http", "https":
			return download(ctx, client, dst, u, name, mode)
		case "file":
			src, err := localPath(u)
			if err != nil {
				return err
			}
			return copyFileInto(ctx, dst, src, name, mode)
		default:
			return fmt.Errorf("unsupported URL scheme %q; want http, https or file", u.Scheme)
		}
	case rf.StorageContainerURL != "":
		dest := "."
		if rf.FilePath != "" {
			var err error
			if dest, err = CleanRelative(rf.FilePath); err != nil {
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
		return copyTreeInto(ctx, dst, src, rf.BlobPrefix, dest, mode)
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
func download(ctx context.Context, client *http.Client, dst FileWriter, u *url.URL, name string, mode fs.FileMode) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	return dst.WriteFile(ctx, name, resp.Body, mode)
}

// copyFileInto copies the local file src into name.
func copyFileInto(ctx context.Context, dst FileWriter, src, name string, mode fs.FileMode) error {
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
	return dst.WriteFile(ctx, name, f, mode)
}

// copyTreeInto copies every regular file under dir whose '/'-separated path
// relative to dir starts with prefix (Azure's blobPrefix: a plain string
// prefix, not a directory) to dest/<relative path>, preserving the tree.
// Symbolic links to files are copied as files; links to directories are not
// followed.
func copyTreeInto(ctx context.Context, dst FileWriter, dir, prefix, dest string, mode fs.FileMode) error {
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
		return copyFileInto(ctx, dst, p, path.Join(dest, rel), mode)
	})
}
