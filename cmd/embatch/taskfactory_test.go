package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/task"
)

func TestSubstitute(t *testing.T) {
	combo := []int{7, 42, -3}
	sweep := func(name string) (string, error) { return sweepValue(name, combo) }
	tests := []struct {
		in, want, err string
	}{
		{in: "no placeholders", want: "no placeholders"},
		{in: "frame {0}", want: "frame 7"},
		{in: "{0}-{1}-{2}", want: "7-42--3"},
		{in: "frame_{0:4}.png", want: "frame_0007.png"},
		{in: "{1:1}", want: "42"}, // padding never truncates
		{in: "{1:9}", want: "000000042"},
		{in: "{{literal}} {{{0}}}", want: "{literal} {7}"},
		{in: "sh -c 'echo ${{HOME}}'", want: "sh -c 'echo ${HOME}'"},
		{in: "{3}", err: "parameter set 3, but there are only 3"},
		{in: "{0:0}", err: "padding must be a number from 1 to 9"},
		{in: "{0:10}", err: "padding must be a number from 1 to 9"},
		{in: "{2:3}", err: "negative"},
		{in: "{x}", err: "unknown placeholder {x}"},
		{in: "{00}", err: "unknown placeholder {00}"},
		{in: "${HOME}", err: "unknown placeholder {HOME}"},
		{in: "open { brace", err: "unclosed '{'"},
		{in: "close } brace", err: "unmatched '}'"},
	}
	for _, tt := range tests {
		got, err := substitute(tt.in, sweep)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("substitute(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("substitute(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParameterSetValues(t *testing.T) {
	p := func(v int) *int { return &v }
	tests := []struct {
		set  parameterSet
		want []int
		err  string
	}{
		{set: parameterSet{Start: p(1), End: p(5)}, want: []int{1, 2, 3, 4, 5}},
		{set: parameterSet{Start: p(5), End: p(10), Step: p(3)}, want: []int{5, 8}}, // Azure's example
		{set: parameterSet{Start: p(10), End: p(0), Step: p(-5)}, want: []int{10, 5, 0}},
		{set: parameterSet{Start: p(3), End: p(3)}, want: []int{3}},
		{set: parameterSet{Start: p(3), End: p(3), Step: p(-1)}, want: []int{3}},
		{set: parameterSet{Start: p(1), End: p(5), Step: p(0)}, err: "cannot be 0"},
		{set: parameterSet{Start: p(5), End: p(1)}, err: "must be negative"},
		{set: parameterSet{Start: p(1), End: p(5), Step: p(-1)}, err: "must be positive"},
		{set: parameterSet{End: p(5)}, err: "start and end are required"},
		{set: parameterSet{Start: p(0), End: p(100)}, err: "at most 10"},
	}
	for _, tt := range tests {
		got, err := tt.set.values(10)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%+v: %v, %v; want error %q", tt.set, got, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tt.set, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", tt.set, diff)
		}
	}
}

// factoryTasks loads a job file holding a task factory and returns the
// tasks it makes.
func factoryTasks(t *testing.T, dir, job string) []task.TaskSpec {
	t.Helper()
	return loadPlan(t, dir, job, 2).Jobs[0].Tasks
}

// loadPlan loads the job file text in dir (as job.json) with a loader
// that sees cpus CPUs, and returns its plan.
func loadPlan(t *testing.T, dir, text string, cpus int) *plan {
	t.Helper()
	f := &inputFile{name: "job.json", data: []byte(text), dir: dir}
	tree, err := parseJSON(f.data)
	if err != nil {
		t.Fatal(err)
	}
	f.tree = tree
	p := &plan{}
	l := &loader{dataDir: filepath.Join(dir, "data"), cpus: cpus}
	if err := l.addFile(p, f); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParametricSweep(t *testing.T) {
	got := factoryTasks(t, t.TempDir(), `{
	  "id": "j", "poolInfo": {"poolId": "p"},
	  "taskFactory": {
	    "type": "parametricSweep",
	    "parameterSets": [{"start": 1, "end": 2}, {"start": 500, "end": 1000, "step": 500}],
	    "repeatTask": {
	      "displayName": "{0:3}x{1}",
	      "commandLine": "ffmpeg -i in_{0:3}.mkv -s {1} out_x{1}_{0:3}.mp4",
	      "environmentSettings": [{"name": "SCALE_{0}", "value": "{1}"}],
	      "constraints": {"maxWallClockTime": "PT{0}M"},
	      "resourceFiles": [{"httpUrl": "https://example.com/in_{0:3}.mkv", "filePath": "in_{0:3}.mkv"}],
	      "outputFiles": [{"filePattern": "out_*.mp4", "destination": {"container": {"containerUrl": "file:///out", "path": "{1}/{0}"}}, "uploadOptions": {}}]
	    },
	    "mergeTask": {"commandLine": "merge"}
	  }}`)
	mk := func(id string, a, b int, aPad, bStr string) task.TaskSpec {
		minutes := task.Duration(a) * task.Duration(60e9)
		return task.TaskSpec{
			ID:                  id,
			DisplayName:         aPad + "x" + bStr,
			CommandLine:         "ffmpeg -i in_" + aPad + ".mkv -s " + bStr + " out_x" + bStr + "_" + aPad + ".mp4",
			EnvironmentSettings: []task.EnvironmentSetting{{Name: "SCALE_" + aPad[2:], Value: bStr}},
			Constraints:         &task.TaskConstraints{MaxWallClockTime: &minutes},
			ResourceFiles:       []task.ResourceFile{{HTTPURL: "https://example.com/in_" + aPad + ".mkv", FilePath: "in_" + aPad + ".mkv"}},
			OutputFiles: []task.OutputFile{{FilePattern: "out_*.mp4",
				Destination: task.OutputFileDestination{Container: &task.OutputFileContainerDestination{ContainerURL: "file:///out", Path: bStr + "/" + aPad[2:]}}}},
		}
	}
	want := []task.TaskSpec{
		mk("0", 1, 500, "001", "500"),
		mk("1", 1, 1000, "001", "1000"),
		mk("2", 2, 500, "002", "500"),
		mk("3", 2, 1000, "002", "1000"),
		{ID: "merge", CommandLine: "merge", DependsOn: &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 0, End: 3}}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
}

func TestTaskPerFile(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"in/b.txt", "in/a.txt", "in/sub/c.txt", "in/sub/d.csv", "in/skip.md", "in/.hidden.txt", "in/.git/e.txt"} {
		writeFile(t, dir, name, "x")
	}
	abs := func(rel string) string { return filepath.Join(dir, "in", rel) }
	job := func(source string) string {
		return `{"id": "j", "poolInfo": {"poolId": "p"}, "taskFactory": {"type": "taskPerFile", "source": ` + source + `,
		  "repeatTask": {
		    "commandLine": "wc {fileName} {filePath} {fileNameWithoutExtension} {fullName} {fullNameWithoutExtension}",
		    "resourceFiles": [{"httpUrl": "{url}", "filePath": "{fileName}"}]
		  }}}`
	}
	mk := func(id, rel string) task.TaskSpec {
		base := filepath.Base(rel)
		noExt := strings.TrimSuffix(base, filepath.Ext(base))
		return task.TaskSpec{
			ID:            id,
			CommandLine:   strings.Join([]string{"wc", base, rel, noExt, abs(rel), strings.TrimSuffix(abs(rel), filepath.Ext(rel))}, " "),
			ResourceFiles: []task.ResourceFile{{HTTPURL: "file://" + abs(rel), FilePath: base}},
		}
	}
	tests := []struct {
		source string
		want   []task.TaskSpec
	}{
		{source: `{"path": "in", "pattern": "*.txt"}`, want: []task.TaskSpec{mk("0", "a.txt"), mk("1", "b.txt")}},
		{source: `{"path": "in", "pattern": "**/*.txt"}`, want: []task.TaskSpec{mk("0", "a.txt"), mk("1", "b.txt"), mk("2", "sub/c.txt")}},
		{source: `{"path": "in", "prefix": "sub/"}`, want: []task.TaskSpec{mk("0", "sub/c.txt"), mk("1", "sub/d.csv")}},
		{source: `{"path": "` + filepath.Join(dir, "in") + `", "prefix": "s"}`, want: []task.TaskSpec{mk("0", "skip.md"), mk("1", "sub/c.txt"), mk("2", "sub/d.csv")}},
	}
	for _, tt := range tests {
		got := factoryTasks(t, dir, job(tt.source))
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("source %s (-want +got):\n%s", tt.source, diff)
		}
	}
}

func TestTaskCollectionFactory(t *testing.T) {
	got := factoryTasks(t, t.TempDir(), `{"id": "j", "poolInfo": {"poolId": "p"},
	  "tasks": [{"id": "first", "commandLine": "a"}],
	  "taskFactory": {"type": "taskCollection", "tasks": [{"id": "second", "commandLine": "b"}]}}`)
	want := []task.TaskSpec{{ID: "first", CommandLine: "a"}, {ID: "second", CommandLine: "b"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
}

func TestResolveURLs(t *testing.T) {
	tests := []struct {
		in, file, output string // output "" means the same as file
	}{
		{in: "file:in.txt", file: "file:///jobs/in.txt"},
		{in: "file:./in.txt", file: "file:///jobs/in.txt"},
		{in: "file://./data/in.txt", file: "file:///jobs/data/in.txt"},
		{in: "file://../shared/in.txt", file: "file:///shared/in.txt"},
		{in: "file:my%20file.txt", file: "file:///jobs/my%20file.txt"},
		{in: "file:///abs/in.txt", file: "file:///abs/in.txt"},
		{in: "file://localhost/abs", file: "file://localhost/abs"},
		{in: "https://example.com/x", file: "https://example.com/x"},
		{in: "outputs", file: "outputs", output: "file:///data/outputs"},
		{in: "/abs/outputs", file: "/abs/outputs"},
		{in: "", file: ""},
	}
	for _, tt := range tests {
		if got := resolveFileURL(tt.in, "/jobs"); got != tt.file {
			t.Errorf("resolveFileURL(%q) = %q, want %q", tt.in, got, tt.file)
		}
		want := tt.output
		if want == "" {
			want = strings.Replace(tt.file, "/jobs", "/data", 1)
		}
		if got := resolveOutputURL(tt.in, "/data"); got != want {
			t.Errorf("resolveOutputURL(%q) = %q, want %q", tt.in, got, want)
		}
	}
}

func TestJSONLocations(t *testing.T) {
	data := []byte("{\n  \"a\": [1,\n    {\"b\": \"x\"}],\n  \"c\": true\n}")
	v, err := parseJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, matched string
		line, col     int
	}{
		{path: "a", matched: "a", line: 2, col: 8},
		{path: "a[1].b", matched: "a[1].b", line: 3, col: 11},
		{path: "a[1].b.z", matched: "a[1].b", line: 3, col: 11},
		{path: "a[7]", matched: "a", line: 2, col: 8},
		{path: "c", matched: "c", line: 4, col: 8},
	}
	for _, tt := range tests {
		at, matched := v.lookup(tt.path)
		e := (&inputError{Offset: at.off}).locate("f", data)
		if matched != tt.matched || e.Line != tt.line || e.Col != tt.col {
			t.Errorf("lookup(%q) = %q at %d:%d, want %q at %d:%d", tt.path, matched, e.Line, e.Col, tt.matched, tt.line, tt.col)
		}
	}
}

// TestDefaultPoolSize: a pool that sets no target node counts gets one
// node per CPU, or one per host when its nodes are SSH hosts.
func TestDefaultPoolSize(t *testing.T) {
	p := loadPlan(t, t.TempDir(), `{
	  "pools": [
	    {"id": "here"},
	    {"id": "hosts", "backend": {"type": "ssh", "hosts": ["a@h1:22", "a@h2:22", "a@h3:22/4"], "insecureIgnoreHostKey": true}},
	    {"id": "sized", "targetDedicatedNodes": 1, "backend": {"type": "ssh", "hosts": ["a@h1:22", "a@h2:22"], "insecureIgnoreHostKey": true}}
	  ],
	  "jobs": [{"id": "j", "poolInfo": {"poolId": "here"}}]}`, 7)
	got := map[string]int{}
	for _, pp := range p.Pools {
		got[pp.Spec.ID] = pp.Spec.TargetDedicatedNodes
	}
	want := map[string]int{"here": 7, "hosts": 3, "sized": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("target dedicated nodes (-want +got):\n%s", diff)
	}
}
