package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is what an in-process run of embatch did.
type result struct {
	code           int
	stdout, stderr string
}

// runEmbatch runs the embatch command line args in-process.
func runEmbatch(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	env := &cmdEnv{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr}
	code := run(ctx, env, args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadInputStartsNothing(t *testing.T) {
	const okJob = `{"id": "other", "poolInfo": {"poolId": "p"}, "tasks": [{"id": "a", "commandLine": "echo"}]}`
	tests := []struct {
		name  string
		files map[string]string // the first file is job.json
		want  []string          // substrings of the error
	}{
		{
			name: "unknown field",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"},
 "tasks": [{"id": "a", "commandLine": "echo", "comandLine": "x"}]}`},
			want: []string{"job.json:2:", `tasks[0].comandLine = "x"`, "unknown field", `did you mean "commandLine"`},
		},
		{
			name:  "field names are case-sensitive",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "tasks": [{"id": "a", "CommandLine": "echo"}]}`},
			want:  []string{`tasks[0].CommandLine = "echo"`, "unknown field"},
		},
		{
			name: "wrong type",
			files: map[string]string{"job.json": `{"pools": [], "jobs": [{"id": "j", "poolInfo": {"poolId": "p"}, "tasks": [
  {"id": "0", "commandLine": "echo"}, {"id": "1", "commandLine": "echo"}, {"id": "2", "commandLine": "echo"},
  {"id": "3", "commandLine": "echo", "requiredSlots": "two"}]}]}`},
			want: []string{"job.json:3:", `jobs[0].tasks[3].requiredSlots = "two"`, "want an integer"},
		},
		{
			name:  "fraction for an integer",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "priority": 1.5}`},
			want:  []string{"priority = 1.5", "want an integer"},
		},
		{
			name:  "invalid task id",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "tasks": [{"id": "a/b", "commandLine": "echo"}]}`},
			want:  []string{`tasks[0].id = "a/b"`, "InvalidPropertyValue"},
		},
		{
			name:  "invalid job id",
			files: map[string]string{"job.json": `{"id": "my job", "poolInfo": {"poolId": "p"}}`},
			want:  []string{`id = "my job"`, "InvalidPropertyValue"},
		},
		{
			name: "missing dependency target",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": true, "tasks": [
  {"id": "a", "commandLine": "echo"},
  {"id": "b", "commandLine": "echo", "dependsOn": {"taskIds": ["a", "nope"]}}]}`},
			want: []string{"job.json:3:", `tasks[1].dependsOn.taskIds[1] = "nope"`, "TaskDependencyNotFound"},
		},
		{
			name: "dependency cycle",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": true, "tasks": [
  {"id": "a", "commandLine": "echo", "dependsOn": {"taskIds": ["b"]}},
  {"id": "b", "commandLine": "echo", "dependsOn": {"taskIds": ["a"]}}]}`},
			want: []string{"TaskDependencyCycle"},
		},
		{
			name:  "unknown backend type",
			files: map[string]string{"job.json": `{"pools": [{"id": "p", "backend": {"type": "kubernetes"}}], "jobs": [{"id": "j", "poolInfo": {"poolId": "p"}}]}`},
			want:  []string{`pools[0].backend.type = "kubernetes"`, "unknown backend type", "local"},
		},
		{
			name:  "bad enum",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "onAllTasksComplete": "terminate"}`},
			want:  []string{`onAllTasksComplete = "terminate"`, "terminatejob"},
		},
		{
			name:  "bad duration",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "tasks": [{"id": "a", "commandLine": "echo", "constraints": {"maxWallClockTime": "5m"}}]}`},
			want:  []string{`tasks[0].constraints.maxWallClockTime = "5m"`, "ISO-8601"},
		},
		{
			name:  "task needs more slots than the pool has",
			files: map[string]string{"job.json": `{"pools": [{"id": "p", "taskSlotsPerNode": 2}], "jobs": [{"id": "j", "poolInfo": {"poolId": "p"}, "tasks": [{"id": "a", "commandLine": "echo", "requiredSlots": 3}]}]}`},
			want:  []string{"jobs[0].tasks[0].requiredSlots = 3", "2 slots per node"},
		},
		{
			name: "duplicate job id across files",
			files: map[string]string{
				"job.json":   `{"id": "Other", "poolInfo": {"poolId": "p"}}`,
				"other.json": okJob,
			},
			want: []string{"other.json:1:", `id = "other"`, "JobExists", "job.json"},
		},
		{
			name:  "key given twice",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "id": "k"}`},
			want:  []string{"job.json:1:", `key "id" appears twice`},
		},
		{
			name:  "syntax error",
			files: map[string]string{"job.json": "{\"id\": \"j\",\n \"poolInfo\": {\"poolId\": \"p\"},,}"},
			want:  []string{"job.json:2:", "invalid JSON"},
		},
		{
			name:  "sweep placeholder out of range",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "taskFactory": {"type": "parametricSweep", "parameterSets": [{"start": 1, "end": 2}], "repeatTask": {"commandLine": "echo {1}"}}}`},
			want:  []string{`taskFactory.repeatTask.commandLine = "echo {1}"`, "parameter set 1"},
		},
		{
			name:  "invalid generated task",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "taskFactory": {"type": "parametricSweep", "parameterSets": [{"start": 0, "end": 2}], "repeatTask": {"commandLine": "echo", "requiredSlots": 0}}}`},
			want:  []string{"taskFactory.repeatTask.requiredSlots", `made by the task factory`},
		},
		{
			name:  "repeatTask sets its id",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "taskFactory": {"type": "parametricSweep", "parameterSets": [{"start": 1, "end": 2}], "repeatTask": {"id": "x{0}", "commandLine": "echo"}}}`},
			want:  []string{`taskFactory.repeatTask.id = "x{0}"`, "not allowed"},
		},
		{
			name:  "unknown task factory type",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "taskFactory": {"type": "sweep"}}`},
			want:  []string{`taskFactory.type = "sweep"`, "parametricSweep"},
		},
		{
			name:  "taskPerFile matching nothing",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"poolId": "p"}, "taskFactory": {"type": "taskPerFile", "source": {"path": ".", "pattern": "*.nothing"}, "repeatTask": {"commandLine": "echo {fileName}"}}}`},
			want:  []string{"taskFactory.source", "no file"},
		},
		{
			name:  "gang bigger than its pool",
			files: map[string]string{"job.json": `{"pools": [{"id": "p", "targetDedicatedNodes": 2}], "jobs": [{"id": "j", "poolInfo": {"poolId": "p"}, "tasks": [{"id": "a", "commandLine": "echo", "multiInstanceSettings": {"numberOfInstances": 3, "coordinationCommandLine": "true"}}]}]}`},
			want:  []string{"jobs[0].tasks[0].multiInstanceSettings.numberOfInstances = 3", "needs 3 nodes"},
		},
		{
			name:  "auto pool with an unknown field",
			files: map[string]string{"job.json": `{"id": "j", "poolInfo": {"autoPoolSpecification": {"pool": {"targetDedicatedNode": 2}}}}`},
			want:  []string{"poolInfo.autoPoolSpecification.pool.targetDedicatedNode = 2", `did you mean "targetDedicatedNodes"`},
		},
		{
			name:  "not an object",
			files: map[string]string{"job.json": `[1, 2]`},
			want:  []string{"job.json:1:1", "want a job object"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var files []string
			for name, content := range tt.files {
				files = append(files, writeFile(t, dir, name, content))
			}
			slices.Sort(files) // job.json first
			data := filepath.Join(dir, "data")
			res := runEmbatch(t, "", append([]string{"run", "--data", data}, files...)...)
			if res.code != exitUsage {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", res.code, exitUsage, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, res.stderr)
				}
			}
			if strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
				t.Errorf("want a one-line error, got:\n%s", res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("the data directory exists after bad input (err %v): something started", err)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdout     string // substring; "" means stdout must be empty
		stderr     string // substring; "" means stderr must be empty
		dataExists bool
	}{
		{args: nil, code: exitUsage, stderr: "embatch run examples/quickstart.json"},
		{args: []string{"help"}, code: exitOK, stdout: "Commands:"},
		{args: []string{"--help"}, code: exitOK, stdout: "Commands:"},
		{args: []string{"help", "run"}, code: exitOK, stdout: "Usage: embatch run"},
		{args: []string{"help", "nope"}, code: exitUsage, stderr: `unknown command "nope"`},
		{args: []string{"run", "-h"}, code: exitOK, stdout: "Exit status: 0"},
		{args: []string{"run", "--help"}, code: exitOK, stdout: "--data DIR"},
		{args: []string{"frobnicate"}, code: exitUsage, stderr: `unknown command "frobnicate"`},
		{args: []string{"--json", "run"}, code: exitUsage, stderr: "flags go after the command"},
		{args: []string{"run"}, code: exitUsage, stderr: "no job file given"},
		{args: []string{"run", "--bogus", "x.json"}, code: exitUsage, stderr: "flag provided but not defined: -bogus"},
		{args: []string{"run", "does-not-exist.json"}, code: exitUsage, stderr: "does-not-exist.json: cannot read"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := runEmbatch(t, "", tt.args...)
			if res.code != tt.code {
				t.Errorf("exit status %d, want %d", res.code, tt.code)
			}
			check := func(name, got, want string) {
				if want == "" && got != "" || !strings.Contains(got, want) {
					t.Errorf("%s = %q, want it to contain %q", name, got, want)
				}
			}
			check("stdout", res.stdout, tt.stdout)
			check("stderr", res.stderr, tt.stderr)
		})
	}
}

func TestParseRunFlags(t *testing.T) {
	tests := []struct {
		args  []string
		files []string
		json  bool
		quiet bool
	}{
		{args: []string{"a.json"}, files: []string{"a.json"}},
		{args: []string{"--json", "a.json", "--quiet", "b.json"}, files: []string{"a.json", "b.json"}, json: true, quiet: true},
		{args: []string{"a.json", "b.json", "-json"}, files: []string{"a.json", "b.json"}, json: true},
		{args: []string{"--quiet", "--", "--json", "-"}, files: []string{"--json", "-"}, quiet: true},
	}
	for _, tt := range tests {
		env := &cmdEnv{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
		o, code := parseRunFlags(env, tt.args)
		if code != -1 {
			t.Errorf("%q: exit %d", tt.args, code)
			continue
		}
		if !slices.Equal(o.files, tt.files) || o.json != tt.json || o.quiet != tt.quiet {
			t.Errorf("%q: files %q json %v quiet %v; want %q %v %v", tt.args, o.files, o.json, o.quiet, tt.files, tt.json, tt.quiet)
		}
		if wd, _ := os.Getwd(); o.dataDir != filepath.Join(wd, defaultDataDir) {
			t.Errorf("%q: data dir %q", tt.args, o.dataDir)
		}
	}
}

// failingJob has a task that succeeds, one that fails after a retry, one
// that never runs because it depends on the failed one, and one whose
// program does not exist.
const failingJob = `{
  "id": "j",
  "poolInfo": {"poolId": "p"},
  "usesTaskDependencies": true,
  "tasks": [
    {"id": "ok", "commandLine": "/bin/sh -c 'echo fine'"},
    {"id": "bad", "commandLine": "/bin/sh -c 'echo first line >&2; echo oops, something broke >&2; exit 3'",
     "constraints": {"maxTaskRetryCount": 1}},
    {"id": "after", "commandLine": "echo never", "dependsOn": {"taskIds": ["bad"]}},
    {"id": "nocmd", "commandLine": "/no/such/program"}
  ]
}`

func TestFailingTaskReport(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "job.json", failingJob)
	res := runEmbatch(t, "", "run", "--data", filepath.Join(dir, "data"), file)
	if res.code != exitFailed {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", res.code, exitFailed, res.stderr)
	}
	for _, want := range []string{
		"Job j: completed (TasksBlocked), 4 tasks: 1 succeeded, 2 failed, 1 did not complete",
		"Task j/bad failed (exit code 3, after 1 retry): FailureExitCode",
		"  | first line\n  | oops, something broke\n",
		"Task j/after did not run: a task it depends on did not succeed.",
		"Task j/nocmd failed: CommandProgramNotFound",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("report does not contain %q:\n%s", want, res.stdout)
		}
	}
	if !strings.Contains(res.stderr, "embatch: finished in") {
		t.Errorf("no final progress line on stderr:\n%s", res.stderr)
	}
}

func TestJSONReport(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "job.json", failingJob)
	res := runEmbatch(t, "", "run", "--data", filepath.Join(dir, "data"), "--json", "--quiet", file)
	if res.code != exitFailed {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", res.code, exitFailed, res.stderr)
	}
	if res.stderr != "" {
		t.Errorf("--quiet wrote to stderr:\n%s", res.stderr)
	}

	// The top level and each job have exactly the documented keys.
	var shape struct {
		Jobs []map[string]json.RawMessage `json:"jobs"`
	}
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&shape); err != nil {
		t.Fatalf("report: %v\n%s", err, res.stdout)
	}
	if len(shape.Jobs) != 1 {
		t.Fatalf("%d jobs, want 1", len(shape.Jobs))
	}
	var keys []string
	for k := range shape.Jobs[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if diff := cmp.Diff([]string{"id", "state", "taskCounts", "tasks"}, keys); diff != "" {
		t.Errorf("job keys (-want +got):\n%s", diff)
	}

	type failureInfo struct {
		Category, Code string
	}
	type executionInfo struct {
		StartTime, EndTime       time.Time
		ExitCode                 *int
		Result                   string
		RetryCount, RequeueCount int
		FailureInfo              *failureInfo
	}
	type nodeInfo struct {
		PoolID string `json:"poolId"`
	}
	type taskOut struct {
		ID            string
		State         string
		ExecutionInfo executionInfo
		NodeInfo      *nodeInfo
	}
	type jobOut struct {
		ID         string
		State      string
		TaskCounts map[string]int
		Tasks      []taskOut
	}
	var got struct{ Jobs []jobOut }
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
		t.Fatal(err)
	}
	for i, tk := range got.Jobs[0].Tasks {
		e := &got.Jobs[0].Tasks[i].ExecutionInfo
		if tk.State == "completed" && (e.StartTime.IsZero() || e.EndTime.Before(e.StartTime)) {
			t.Errorf("task %s: start %v end %v", tk.ID, e.StartTime, e.EndTime)
		}
		e.StartTime, e.EndTime = time.Time{}, time.Time{}
	}
	zero, three := 0, 3
	want := []jobOut{{
		ID: "j", State: "completed",
		TaskCounts: map[string]int{"active": 1, "running": 0, "completed": 3, "succeeded": 1, "failed": 2},
		Tasks: []taskOut{
			{ID: "ok", State: "completed", ExecutionInfo: executionInfo{ExitCode: &zero, Result: "success"}, NodeInfo: &nodeInfo{PoolID: "p"}},
			{ID: "bad", State: "completed", ExecutionInfo: executionInfo{ExitCode: &three, Result: "failure", RetryCount: 1,
				FailureInfo: &failureInfo{Category: "usererror", Code: "FailureExitCode"}}, NodeInfo: &nodeInfo{PoolID: "p"}},
			{ID: "after", State: "active"},
			{ID: "nocmd", State: "completed", ExecutionInfo: executionInfo{Result: "failure",
				FailureInfo: &failureInfo{Category: "usererror", Code: "CommandProgramNotFound"}}, NodeInfo: &nodeInfo{PoolID: "p"}},
		},
	}}
	if diff := cmp.Diff(want, got.Jobs); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

func TestStdinAndDefaultPool(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	job := `{"id": "from-stdin", "poolInfo": {"poolId": "mine"}, "tasks": [{"id": "t", "commandLine": "echo hi"}]}`
	res := runEmbatch(t, job, "run", "--quiet", "--data", data, "-")
	if res.code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s", res.code, res.stderr)
	}
	// The job sets no onAllTasksComplete: run terminates it itself.
	if !strings.Contains(res.stdout, "Job from-stdin: completed (AllTasksComplete)") {
		t.Errorf("report:\n%s", res.stdout)
	}
	matches, _ := filepath.Glob(filepath.Join(data, "pools", "mine", "nodes", "*", "workitems", "from-stdin", "job-1", "t", "stdout.txt"))
	if len(matches) != 1 {
		t.Fatalf("task stdout files: %q", matches)
	}
	if b, _ := os.ReadFile(matches[0]); string(b) != "hi\n" {
		t.Errorf("stdout.txt = %q", b)
	}
}

func TestInterruptedBeforeStart(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "job.json", `{"id": "j", "poolInfo": {"poolId": "p"}, "tasks": [{"id": "t", "commandLine": "echo"}]}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr syncBuffer
	code := run(ctx, &cmdEnv{Stdout: &stdout, Stderr: &stderr}, []string{"run", "--json", "--data", filepath.Join(dir, "data"), file})
	if code != exitInterrupted {
		t.Errorf("exit status %d, want %d; stderr:\n%s", code, exitInterrupted, stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != `{
  "jobs": []
}` {
		t.Errorf("report = %s", got)
	}
}

func TestPoolWithoutUsableNodes(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "job.json", `{
	  "pools": [{"id": "p", "targetDedicatedNodes": 2, "startTask": {"commandLine": "/bin/sh -c 'exit 1'"}}],
	  "jobs": [{"id": "j", "poolInfo": {"poolId": "p"}, "tasks": [{"id": "t", "commandLine": "echo"}]}]}`)
	res := runEmbatch(t, "", "run", "--data", filepath.Join(dir, "data"), file)
	if res.code != exitFailed {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", res.code, exitFailed, res.stderr)
	}
	if want := "pool p has no node that can run tasks (2 starttaskfailed)"; !strings.Contains(res.stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
	}
	for _, want := range []string{"Job j: completed (PoolUnusable)", "Task j/t did not run: no node of its pool could run tasks."} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("report does not say %q:\n%s", want, res.stdout)
		}
	}
}

func TestAutoPool(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	file := writeFile(t, dir, "job.json", `{"id": "j",
	  "poolInfo": {"autoPoolSpecification": {"autoPoolIdPrefix": "auto", "pool": {"targetDedicatedNodes": 1, "taskSlotsPerNode": 3}}},
	  "tasks": [{"id": "t", "commandLine": "echo", "requiredSlots": 3}]}`)
	res := runEmbatch(t, "", "run", "--quiet", "--json", "--data", data, file)
	if res.code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, `"poolId": "auto_j"`) {
		t.Errorf("the task did not run on pool auto_j:\n%s", res.stdout)
	}
	if _, err := os.Stat(filepath.Join(data, "pools", "auto_j", "nodes")); err != nil {
		t.Error(err)
	}
}
