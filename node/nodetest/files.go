package nodetest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// testResourceFiles fetches files on this side (file:// and http) and
// checks they land in the working directory on the node with their modes.
func testResourceFiles(t *testing.T, e Env) {
	b := e.start(t)
	src := t.TempDir()
	WriteFile(t, filepath.Join(src, "data.txt"), "local\n")
	container := t.TempDir()
	WriteFile(t, filepath.Join(container, "sub", "x.txt"), "x\n")
	WriteFile(t, filepath.Join(container, "sub", "deep", "y.txt"), "y\n")
	WriteFile(t, filepath.Join(container, "other", "z.txt"), "z\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/blob" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("http\n"))
	}))
	defer srv.Close()

	a := e.Attempt("rf", "/bin/cat in/data.txt dl.txt c/sub/x.txt c/sub/deep/y.txt")
	a.ResourceFiles = []task.ResourceFile{
		{HTTPURL: "file://" + filepath.Join(src, "data.txt"), FilePath: "in/data.txt"},
		{HTTPURL: srv.URL + "/blob", FilePath: "dl.txt", FileMode: "0640"},
		{StorageContainerURL: "file://" + container, BlobPrefix: "sub/", FilePath: "c"},
	}
	r := RunAttempt(t, b, a)
	WantExit(t, r, 0)
	if got, want := ReadFile(t, filepath.Join(r.TaskRootDirectory, "stdout.txt")), "local\nhttp\nx\ny\n"; got != want {
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

func testResourceFileFailures(t *testing.T, e Env) {
	b := e.start(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	outside := t.TempDir()

	// A task that plants a symlink out of its working directory; a retry's
	// resource file must not follow it.
	WantExit(t, RunAttempt(t, b, e.Attempt("planted", "/bin/ln -s "+outside+" link")), 0)
	src := filepath.Join(t.TempDir(), "f")
	WriteFile(t, src, "f")

	tests := []struct {
		name   string
		taskID string
		rf     task.ResourceFile
		want   []string // in the message
	}{
		{"http 404", "t404", task.ResourceFile{HTTPURL: srv.URL + "/missing", FilePath: "x"}, []string{"404"}},
		{"missing local file", "tmissing", task.ResourceFile{HTTPURL: "file:///nonexistent/embatch", FilePath: "x"}, []string{"no such file"}},
		{"missing container", "tcont", task.ResourceFile{StorageContainerURL: "file:///nonexistent/embatch"}, []string{"no such file"}},
		{"filePath escapes", "tesc", task.ResourceFile{HTTPURL: "file://" + src, FilePath: "../x"}, []string{"escapes"}},
		{"symlink escapes", "planted", task.ResourceFile{HTTPURL: "file://" + src, FilePath: "link/f"}, []string{`"link/f"`, e.LinkRefusal}},
		{"symlink escapes deeper", "planted", task.ResourceFile{HTTPURL: "file://" + src, FilePath: "link/sub/f"}, []string{`"link/sub/f"`, e.LinkRefusal}},
		{"bad scheme", "tscheme", task.ResourceFile{HTTPURL: "ftp://example.com/x", FilePath: "x"}, []string{"scheme"}},
		{"bad mode", "tmode", task.ResourceFile{HTTPURL: "file://" + src, FilePath: "x", FileMode: "rwx"}, []string{"fileMode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.Attempt(tt.taskID, "/bin/echo ran")
			a.ResourceFiles = []task.ResourceFile{tt.rf}
			r := RunAttempt(t, b, a)
			WantFailure(t, r, task.OutcomePreProcessingError, task.FailureResourceFile)
			msg := r.FailureInfo.Message
			for _, want := range append([]string{"resourceFiles[0]"}, tt.want...) {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q should name resourceFiles[0] and contain %q", msg, want)
				}
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

func testOutputFiles(t *testing.T, e Env) {
	const makeFiles = `mkdir -p out/sub && echo a > out/a.txt && echo b > out/b.txt && echo c > out/c.log && echo s > out/sub/s.txt && echo h > out/.hidden && echo one > single.txt`
	b := e.start(t)
	for _, code := range []int{0, 1} {
		exitCode := strconv.Itoa(code)
		t.Run("exit "+exitCode, func(t *testing.T) {
			dest := t.TempDir()
			file := func(pattern, path string, cond task.OutputFileUploadCondition) task.OutputFile {
				return task.OutputFile{FilePattern: pattern,
					Destination:   task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: "file://" + dest, Path: path}},
					UploadOptions: task.OutputFileUploadOptions{UploadCondition: cond}}
			}
			a := e.Attempt("out"+exitCode, `/bin/sh -c '`+makeFiles+`; echo done; exit `+exitCode+`'`)
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
			r := RunAttempt(t, b, a)
			WantExit(t, r, code)
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
			got := ListDir(t, dest)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("uploaded %q\nwant %q", got, want)
			}
			if s := ReadFile(t, filepath.Join(dest, "logs", "stdout.txt")); s != "done\n" {
				t.Errorf("uploaded stdout = %q", s)
			}
			log := ReadFile(t, filepath.Join(r.TaskRootDirectory, "fileuploadout.txt"))
			if !strings.Contains(log, "uploaded") || !strings.Contains(log, "skipped") {
				t.Errorf("fileuploadout.txt = %q, want uploads and a skip", log)
			}
			if s := ReadFile(t, filepath.Join(r.TaskRootDirectory, "fileuploaderr.txt")); s != "" {
				t.Errorf("fileuploaderr.txt = %q, want empty", s)
			}
		})
	}
}

func testOutputFileUploadError(t *testing.T, e Env) {
	b := e.start(t)
	notADir := filepath.Join(t.TempDir(), "file")
	WriteFile(t, notADir, "x")
	a := e.Attempt("up", `/bin/sh -c 'echo r > result.txt; exit 4'`)
	a.OutputFiles = []task.OutputFile{
		{FilePattern: "result.txt", Destination: task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: notADir}}},
		{FilePattern: "result.txt", Destination: task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: "https://account.blob.core.windows.net/c"}}},
	}
	r := RunAttempt(t, b, a)
	WantFailure(t, r, task.OutcomeFileUploadError, task.FailureFileUpload)
	if r.ExitCode != 4 {
		t.Errorf("ExitCode = %d, want the command's 4", r.ExitCode)
	}
	if !strings.Contains(r.FailureInfo.Message, "outputFiles[0]") {
		t.Errorf("message %q should name outputFiles[0]", r.FailureInfo.Message)
	}
	errLog := ReadFile(t, filepath.Join(r.TaskRootDirectory, "fileuploaderr.txt"))
	if !strings.Contains(errLog, "outputFiles[0]") || !strings.Contains(errLog, "outputFiles[1]") {
		t.Errorf("fileuploaderr.txt = %q, want both failures", errLog)
	}
}

func testOutputFilesAfterTerminate(t *testing.T, e Env) {
	b := e.start(t)
	dest := t.TempDir()
	a := e.Attempt("late", `/bin/sh -c 'echo partial; echo $$ > "$FIFO"; sleep 1000'`)
	a.OutputFiles = []task.OutputFile{{FilePattern: "../std*.txt", Destination: task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: dest, Path: "logs"}}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, _ := StartRunning(ctx, t, b, a)
	cancel()
	r := Wait(t, ch)
	WantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
	if s := ReadFile(t, filepath.Join(dest, "logs", "stdout.txt")); s != "partial\n" {
		t.Errorf("uploaded stdout = %q, want the terminated task's output", s)
	}
}

func testTaskFiles(t *testing.T, e Env) {
	b := e.start(t)
	n1 := e.Nodes[0]
	outside := filepath.Join(t.TempDir(), "secret")
	WriteFile(t, outside, "secret")
	line := `/bin/sh -c 'echo out; mkdir -p d && echo x > d/x.txt && ln -s ` + outside + ` evil && ln -s d/x.txt good && ln -s .. up'`
	r := RunAttempt(t, b, e.Attempt("files", line))
	WantExit(t, r, 0)
	ctx := context.Background()

	got, err := b.ReadTaskFile(ctx, n1, "job", "files", "stdout.txt")
	if err != nil || string(got) != "out\n" {
		t.Errorf("ReadTaskFile(stdout.txt) = %q, %v", got, err)
	}
	got, err = b.ReadTaskFile(ctx, n1, "job", "files", "wd/good")
	if err != nil || string(got) != "x\n" {
		t.Errorf("ReadTaskFile(wd/good) = %q, %v (a link inside the task directory)", got, err)
	}
	for _, name := range []string{"../files/stdout.txt", "/etc/passwd", "wd/../../x", "wd/evil", "wd/up/../../../x", "", "wd/d"} {
		data, err := b.ReadTaskFile(ctx, n1, "job", "files", name)
		if err == nil {
			t.Errorf("ReadTaskFile(%q) = %q, want an error", name, data)
		} else if !errors.Is(err, task.ErrInvalidPropertyValue) {
			t.Errorf("ReadTaskFile(%q) = %v, want InvalidPropertyValue", name, err)
		}
	}
	if _, err := b.ReadTaskFile(ctx, n1, "job", "files", "wd/missing"); err == nil || !strings.Contains(err.Error(), codeFileNotFound) {
		t.Errorf("ReadTaskFile(missing) = %v, want FileNotFound", err)
	}
	if _, err := b.ReadTaskFile(ctx, n1, "..", "files", "stdout.txt"); !errors.Is(err, task.ErrInvalidPropertyValue) {
		t.Errorf("job id '..': %v, want InvalidPropertyValue", err)
	}

	top, err := b.ListTaskFiles(ctx, n1, "job", "files", false)
	if err != nil {
		t.Fatal(err)
	}
	if names := FileNames(top); !slices.Equal(names, []string{"stderr.txt", "stdout.txt", "wd"}) {
		t.Errorf("top-level files %q", names)
	}
	all, err := b.ListTaskFiles(ctx, n1, "job", "files", true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"stderr.txt", "stdout.txt", "wd", "wd/d", "wd/d/x.txt", "wd/good", "wd/up"}
	if names := FileNames(all); !slices.Equal(names, want) {
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

	if err := b.RemoveTaskDir(ctx, n1, "job", "files"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ListTaskFiles(ctx, n1, "job", "files", true); err == nil || !strings.Contains(err.Error(), codeFileNotFound) {
		t.Errorf("ListTaskFiles after RemoveTaskDir = %v, want FileNotFound", err)
	}
	if err := b.RemoveTaskDir(ctx, n1, "job", "files"); err != nil {
		t.Errorf("second RemoveTaskDir = %v", err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("RemoveTaskDir followed a link out: %v", err)
	}
}

func testStartTaskFiles(t *testing.T, e Env) {
	b := e.start(t)
	n1 := e.Nodes[0]
	a := &node.Attempt{ID: NextID(), Kind: node.KindStartTask, PoolID: Pool, TaskID: "starttask", NodeID: n1, CommandLine: "/bin/echo started"}
	WantExit(t, RunAttempt(t, b, a), 0)
	got, err := b.ReadTaskFile(context.Background(), n1, "", "", "stdout.txt")
	if err != nil || string(got) != "started\n" {
		t.Errorf("start task stdout = %q, %v", got, err)
	}
}

func testTerminateDuringDownload(t *testing.T, e Env) {
	b := e.start(t)
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // hang until the client gives up
	}))
	defer srv.Close()
	a := e.Attempt("slowdl", "/bin/echo ran")
	a.ResourceFiles = []task.ResourceFile{{HTTPURL: srv.URL + "/big", FilePath: "big"}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := StartAttempt(ctx, b, a)
	select {
	case <-arrived:
	case <-time.After(Timeout):
		t.Fatal("the download did not start")
	}
	cancel()
	r := Wait(t, ch)
	WantFailure(t, r, task.OutcomeExited, task.FailureTaskTerminated)
	if r.ExitCode != -1 {
		t.Errorf("ExitCode = %d, want -1 (no process ran)", r.ExitCode)
	}
}
