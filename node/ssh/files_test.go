package ssh

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// listDir lists the files under dir as '/'-separated relative paths.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func fileNames(files []node.FileInfo) []string {
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	return names
}

// TestResourceFiles fetches files on this side (file:// and http) and
// checks they land in the working directory on the host with their modes.
func TestResourceFiles(t *testing.T) {
	f := newFixture(t, nil)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "data.txt"), "local\n")
	container := t.TempDir()
	writeFile(t, filepath.Join(container, "sub", "x.txt"), "x\n")
	writeFile(t, filepath.Join(container, "sub", "deep", "y.txt"), "y\n")
	writeFile(t, filepath.Join(container, "other", "z.txt"), "z\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/blob" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("http\n"))
	}))
	defer srv.Close()

	a := taskAttempt("rf", "/bin/cat in/data.txt dl.txt c/sub/x.txt c/sub/deep/y.txt")
	a.ResourceFiles = []task.ResourceFile{
		{HTTPURL: "file://" + filepath.Join(src, "data.txt"), FilePath: "in/data.txt"},
		{HTTPURL: srv.URL + "/blob", FilePath: "dl.txt", FileMode: "0640"},
		{StorageContainerURL: "file://" + container, BlobPrefix: "sub/", FilePath: "c"},
	}
	r := run(t, f.b, a)
	wantExit(t, r, 0)
	if got, want := readFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt")), "local\nhttp\nx\ny\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	wd := filepath.Join(r.TaskRootDirectory, "wd")
	if _, err := os.Stat(filepath.Join(wd, "c", "other")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("blobPrefix did not filter: %v", err)
	}
	modes := map[string]os.FileMode{"in/data.txt": 0o770, "dl.txt": 0o640, "c/sub/x.txt": 0o770}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(wd, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %04o, want %04o", name, fi.Mode().Perm(), want)
		}
	}
}

func TestResourceFileFailures(t *testing.T) {
	f := newFixture(t, nil)
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	outside := t.TempDir()

	// A task that plants a symlink out of its working directory; a retry's
	// resource file must not follow it.
	wantExit(t, run(t, f.b, taskAttempt("planted", "/bin/ln -s "+outside+" link")), 0)
	src := filepath.Join(t.TempDir(), "f")
	writeFile(t, src, "f")

	tests := []struct {
		name   string
		taskID string
		rf     task.ResourceFile
		want   string // in the message
	}{
		{"http 404", "t404", task.ResourceFile{HTTPURL: srv.URL + "/missing", FilePath: "x"}, "404"},
		{"missing local file", "tmissing", task.ResourceFile{HTTPURL: "file:///nonexistent/embatch", FilePath: "x"}, "no such file"},
		{"filePath escapes", "tesc", task.ResourceFile{HTTPURL: "file://" + src, FilePath: "../x"}, "escapes"},
		{"symlink escapes", "planted", task.ResourceFile{HTTPURL: "file://" + src, FilePath: "link/f"}, "symbolic link"},
		{"symlink escapes deeper", "planted", task.ResourceFile{HTTPURL: "file://" + src, FilePath: "link/sub/f"}, "symbolic link"},
		{"bad scheme", "tscheme", task.ResourceFile{HTTPURL: "ftp://example.com/x", FilePath: "x"}, "scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := taskAttempt(tt.taskID, "/bin/echo ran")
			a.ResourceFiles = []task.ResourceFile{tt.rf}
			r := run(t, f.b, a)
			wantFailure(t, r, task.OutcomePreProcessingError, task.FailureResourceFile)
			msg := r.FailureInfo.Message
			if !strings.Contains(msg, "resourceFiles[0]") || !strings.Contains(msg, tt.want) {
				t.Errorf("message %q should name resourceFiles[0] and contain %q", msg, tt.want)
			}
			if out, err := os.ReadFile(filepath.Join(r.TaskRootDirectory, "stdout.txt")); err == nil && strings.Contains(string(out), "ran") {
				t.Error("the command ran despite the resource file failure")
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Errorf("a resource file was written outside the working directory: %v", entries)
	}
}

func TestOutputFiles(t *testing.T) {
	const makeFiles = `mkdir -p out/sub && echo a > out/a.txt && echo b > out/b.txt && echo c > out/c.log && echo s > out/sub/s.txt && echo h > out/.hidden && echo one > single.txt`
	f := newFixture(t, nil)
	for _, exitCode := range []string{"0", "1"} {
		t.Run("exit "+exitCode, func(t *testing.T) {
			dest := t.TempDir()
			file := func(pattern, path string, cond task.OutputFileUploadCondition) task.OutputFile {
				return task.OutputFile{FilePattern: pattern,
					Destination:   task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: "file://" + dest, Path: path}},
					UploadOptions: task.OutputFileUploadOptions{UploadCondition: cond}}
			}
			a := taskAttempt("out"+exitCode, `/bin/sh -c '`+makeFiles+`; echo done; exit `+exitCode+`'`)
			a.OutputFiles = []task.OutputFile{
				file("out/**", "all", ""),
				file("**/*.txt", "txt", task.UploadOnTaskCompletion),
				file("out/?.txt", "q", task.UploadOnTaskSuccess),
				file("out/[ab].txt", "br", task.UploadOnTaskFailure),
				file("single.txt", "renamed.txt", ""),
				file("single.txt", "", ""),
				file("../stdout.txt", "logs/stdout.txt", ""),
				file("nothing/*.bin", "none", ""),
			}
			r := run(t, f.b, a)
			code := 0
			if exitCode == "1" {
				code = 1
			}
			wantExit(t, r, code)
			if r.FailureInfo != nil {
				t.Errorf("FailureInfo = %+v", r.FailureInfo)
			}
			want := []string{
				"all/a.txt", "all/b.txt", "all/c.log", "all/sub/s.txt",
				"logs/stdout.txt", "renamed.txt", "single.txt",
				"txt/out/a.txt", "txt/out/b.txt", "txt/out/sub/s.txt", "txt/single.txt",
			}
			if code == 0 {
				want = append(want, "q/a.txt", "q/b.txt")
			} else {
				want = append(want, "br/a.txt", "br/b.txt")
			}
			slices.Sort(want)
			got := listDir(t, dest)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("uploaded %q\nwant %q", got, want)
			}
			if s := readFile(t, filepath.Join(dest, "logs", "stdout.txt")); s != "done\n" {
				t.Errorf("uploaded stdout = %q", s)
			}
			log := readFile(t, filepath.Join(r.TaskRootDirectory, "fileuploadout.txt"))
			if !strings.Contains(log, "uploaded") || !strings.Contains(log, "skipped") {
				t.Errorf("fileuploadout.txt = %q, want uploads and a skip", log)
			}
			if s := readFile(t, filepath.Join(r.TaskRootDirectory, "fileuploaderr.txt")); s != "" {
				t.Errorf("fileuploaderr.txt = %q, want empty", s)
			}
		})
	}
}

func TestOutputFileUploadError(t *testing.T) {
	f := newFixture(t, nil)
	notADir := filepath.Join(t.TempDir(), "file")
	writeFile(t, notADir, "x")
	a := taskAttempt("up", `/bin/sh -c 'echo r > result.txt; exit 4'`)
	a.OutputFiles = []task.OutputFile{
		{FilePattern: "result.txt", Destination: task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: notADir}}},
		{FilePattern: "result.txt", Destination: task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: "https://account.blob.core.windows.net/c"}}},
	}
	r := run(t, f.b, a)
	wantFailure(t, r, task.OutcomeFileUploadError, task.FailureFileUpload)
	if r.ExitCode != 4 {
		t.Errorf("ExitCode = %d, want the command's 4", r.ExitCode)
	}
	errLog := readFile(t, filepath.Join(r.TaskRootDirectory, "fileuploaderr.txt"))
	if !strings.Contains(errLog, "outputFiles[0]") || !strings.Contains(errLog, "outputFiles[1]") {
		t.Errorf("fileuploaderr.txt = %q, want both failures", errLog)
	}
}

func TestOutputFilesAfterTerminate(t *testing.T) {
	f := newFixture(t, nil)
	dest := t.TempDir()
	fi := fifo(t)
	a := taskAttempt("late", `/bin/sh -c 'echo partial; echo $$ > "$FIFO"; sleep 1000'`)
	a.Env = []task.EnvironmentSetting{{Name: "FIFO", Value: fi}}
	a.OutputFiles = []task.OutputFile{{FilePattern: "../std*.txt", Destination: task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: dest, Path: "logs"}}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := start(ctx, f.b, a)
	readPIDs(t, fi, ch)
	cancel()
	r := wait(t, ch)
	wantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
	if s := readFile(t, filepath.Join(dest, "logs", "stdout.txt")); s != "partial\n" {
		t.Errorf("uploaded stdout = %q, want the terminated task's output", s)
	}
}

func TestTaskFiles(t *testing.T) {
	f := newFixture(t, nil)
	b := f.b
	outside := filepath.Join(t.TempDir(), "secret")
	writeFile(t, outside, "secret")
	line := `/bin/sh -c 'echo out; mkdir -p d && echo x > d/x.txt && ln -s ` + outside + ` evil && ln -s d/x.txt good && ln -s .. up'`
	r := run(t, b, taskAttempt("files", line))
	wantExit(t, r, 0)
	ctx := context.Background()

	got, err := b.ReadTaskFile(ctx, "tvm-1", "job", "files", "stdout.txt")
	if err != nil || string(got) != "out\n" {
		t.Errorf("ReadTaskFile(stdout.txt) = %q, %v", got, err)
	}
	got, err = b.ReadTaskFile(ctx, "tvm-1", "job", "files", "wd/good")
	if err != nil || string(got) != "x\n" {
		t.Errorf("ReadTaskFile(wd/good) = %q, %v (a link inside the task directory)", got, err)
	}
	for _, name := range []string{"../files/stdout.txt", "/etc/passwd", "wd/../../x", "wd/evil", "wd/up/../../../x", "", "wd/d"} {
		data, err := b.ReadTaskFile(ctx, "tvm-1", "job", "files", name)
		if err == nil {
			t.Errorf("ReadTaskFile(%q) = %q, want an error", name, data)
		} else if !errors.Is(err, task.ErrInvalidPropertyValue) && !strings.Contains(err.Error(), CodeFileNotFound) {
			t.Errorf("ReadTaskFile(%q) = %v, want InvalidPropertyValue or FileNotFound", name, err)
		}
	}
	if _, err := b.ReadTaskFile(ctx, "tvm-1", "job", "files", "wd/evil"); !errors.Is(err, task.ErrInvalidPropertyValue) {
		t.Errorf("ReadTaskFile(wd/evil) = %v, want InvalidPropertyValue (the link points out)", err)
	}
	if _, err := b.ReadTaskFile(ctx, "tvm-1", "job", "files", "wd/missing"); err == nil || !strings.Contains(err.Error(), CodeFileNotFound) {
		t.Errorf("ReadTaskFile(missing) = %v, want FileNotFound", err)
	}
	if _, err := b.ReadTaskFile(ctx, "tvm-1", "..", "files", "stdout.txt"); !errors.Is(err, task.ErrInvalidPropertyValue) {
		t.Errorf("job id '..': %v, want InvalidPropertyValue", err)
	}

	top, err := b.ListTaskFiles(ctx, "tvm-1", "job", "files", false)
	if err != nil {
		t.Fatal(err)
	}
	if names := fileNames(top); !slices.Equal(names, []string{"stderr.txt", "stdout.txt", "wd"}) {
		t.Errorf("top-level files %q", names)
	}
	all, err := b.ListTaskFiles(ctx, "tvm-1", "job", "files", true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"stderr.txt", "stdout.txt", "wd", "wd/d", "wd/d/x.txt", "wd/good", "wd/up"}
	if names := fileNames(all); !slices.Equal(names, want) {
		t.Errorf("recursive files %q\nwant %q (wd/evil points out and is left out)", names, want)
	}
	for _, fi := range all {
		switch fi.Name {
		case "stdout.txt":
			if fi.ContentLength != 4 || fi.IsDirectory || fi.LastModified.IsZero() || fi.FileMode != "0644" {
				t.Errorf("stdout.txt info %+v", fi)
			}
		case "wd":
			if !fi.IsDirectory {
				t.Errorf("wd info %+v", fi)
			}
		}
	}

	if err := b.RemoveTaskDir(ctx, "tvm-1", "job", "files"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ListTaskFiles(ctx, "tvm-1", "job", "files", true); err == nil || !strings.Contains(err.Error(), CodeFileNotFound) {
		t.Errorf("ListTaskFiles after RemoveTaskDir = %v, want FileNotFound", err)
	}
	if err := b.RemoveTaskDir(ctx, "tvm-1", "job", "files"); err != nil {
		t.Errorf("second RemoveTaskDir = %v", err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("RemoveTaskDir followed a link out: %v", err)
	}
}

func TestStartTaskFiles(t *testing.T) {
	f := newFixture(t, nil)
	a := &node.Attempt{ID: nextID(), Kind: node.KindStartTask, PoolID: testPool, TaskID: "starttask", NodeID: "tvm-1", CommandLine: "/bin/echo started"}
	wantExit(t, run(t, f.b, a), 0)
	got, err := f.b.ReadTaskFile(context.Background(), "tvm-1", "", "", "stdout.txt")
	if err != nil || string(got) != "started\n" {
		t.Errorf("start task stdout = %q, %v", got, err)
	}
}

func TestTerminateDuringDownload(t *testing.T) {
	f := newFixture(t, nil)
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // hang until the client gives up
	}))
	defer srv.Close()
	a := taskAttempt("slowdl", "/bin/echo ran")
	a.ResourceFiles = []task.ResourceFile{{HTTPURL: srv.URL + "/big", FilePath: "big"}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := start(ctx, f.b, a)
	select {
	case <-arrived:
	case <-time.After(testTimeout):
		t.Fatal("the download did not start")
	}
	cancel()
	r := wait(t, ch)
	wantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
	if r.ExitCode != -1 {
		t.Errorf("ExitCode = %d, want -1 (no process ran)", r.ExitCode)
	}
}
