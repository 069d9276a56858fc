package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/embatch/embatch/task"
)

func TestFileInfoOf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(p, []byte("hello"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	got := FileInfoOf("wd/f.txt", fi)
	want := FileInfo{Name: "wd/f.txt", ContentLength: 5, LastModified: fi.ModTime().UTC(), FileMode: "0640"}
	if got != want || got.LastModified.Location() != time.UTC {
		t.Errorf("FileInfoOf(file) = %+v, want %+v", got, want)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := FileInfoOf("wd", di); !got.IsDirectory || got.ContentLength != 0 {
		t.Errorf("FileInfoOf(dir) = %+v, want a directory without a content length", got)
	}
}

func TestTaskFileError(t *testing.T) {
	var te *task.Error
	err := TaskFileError("t1", "wd/x", fmt.Errorf("open: %w", fs.ErrNotExist))
	if !errors.As(err, &te) || te.Code != CodeFileNotFound {
		t.Errorf("missing file: %v, want code %s", err, CodeFileNotFound)
	}
	err = TaskFileError("t1", "wd/x", fs.ErrPermission)
	if !errors.As(err, &te) || te.Code != task.CodeInvalidPropertyValue {
		t.Errorf("unreadable file: %v, want code %s", err, task.CodeInvalidPropertyValue)
	}
}
