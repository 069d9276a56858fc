package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleExits is the exit status each example in examples/ is documented
// to have (examples/README.md). Every example must be listed.
var exampleExits = map[string]int{
	"quickstart.json":    exitOK,
	"prep-release.json":  exitOK,
	"retries.json":       exitOK,
	"sweep.json":         exitOK,
	"task-per-file.json": exitOK,
	"output-files.json":  exitOK,
}

// exampleChecks look at an example's data directory after it ran.
var exampleChecks = map[string]func(t *testing.T, data string){
	"output-files.json": func(t *testing.T, data string) {
		for _, name := range []string{"squares/2/square.txt", "squares/3/square.txt", "squares/4/square.txt", "logs/square-3/stdout.txt"} {
			if _, err := os.Stat(filepath.Join(data, "outputs", name)); err != nil {
				t.Errorf("output file: %v", err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(data, "outputs", "squares", "3", "square.txt")); string(b) != "9\n" {
			t.Errorf("squares/3/square.txt = %q, want 9", b)
		}
	},
	"retries.json": func(t *testing.T, data string) {
		b, err := os.ReadFile(filepath.Join(data, "pools", "retries", "nodes", "tvm-1", "workitems", "retries", "job-1", "flaky", "stdout.txt"))
		if err != nil || string(b) != "the retry succeeds\n" {
			t.Errorf("flaky stdout.txt = %q, %v", b, err)
		}
	},
}

func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			t.Parallel()
			want, ok := exampleExits[name]
			if !ok {
				t.Fatalf("examples/%s has no documented exit status in exampleExits", name)
			}
			data := filepath.Join(t.TempDir(), "data")
			res := runEmbatch(t, "", "run", "--data", data, file)
			if res.code != want {
				t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, want, res.stdout, res.stderr)
			}
			if !strings.Contains(res.stderr, "embatch: finished in") {
				t.Errorf("no final progress line:\n%s", res.stderr)
			}
			if check := exampleChecks[name]; check != nil {
				check(t, data)
			}
		})
	}
}
