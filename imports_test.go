package embatch_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/embatch/embatch"

type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

// listPackages runs `go list -deps -json ./...` and returns the project's
// packages (not their test variants).
func listPackages(t *testing.T) map[string]listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]listedPackage{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// within reports whether path is pkg or one of its subpackages.
func within(path, pkg string) bool { return path == pkg || strings.HasPrefix(path, pkg+"/") }

// TestImportRules keeps DESIGN §2 true: which project packages and
// libraries each layer may depend on, and which clock and concurrency
// primitives the pure layers may touch.
func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	type rule struct {
		pkg string
		// noDeps are forbidden anywhere in the transitive dependencies.
		noDeps []string
		// noImports are forbidden as direct imports.
		noImports []string
		// noCalls are forbidden in the package's non-test source.
		noCalls []string
		// exceptDeps are allowed even though they fall under noDeps.
		exceptDeps []string
	}
	rules := []rule{
		{pkg: module + "/task", noDeps: []string{module, "github.com/dgraph-io/badger", "go.opentelemetry.io/otel"},
			noImports: []string{"os"}, noCalls: []string{"time.Now(", "time.Sleep("}, exceptDeps: []string{module + "/task"}},
		{pkg: module + "/pool", noDeps: []string{module + "/node", module + "/engine", module + "/sim", "github.com/dgraph-io/badger", "go.opentelemetry.io/otel"},
			noImports: []string{"sync", "os"}, noCalls: []string{"time.Now(", "time.Sleep(", "go func"}},
		{pkg: module + "/node", noDeps: []string{module + "/engine", module + "/sim", module + "/pool"}},
		{pkg: module + "/engine", noDeps: []string{module + "/sim", module + "/bench", "go.opentelemetry.io/otel/sdk"}},
		// The job schedule machine is pure like the pool core: the engine
		// drives it.
		{pkg: module + "/engine/jobschedule", noDeps: []string{module + "/pool", module + "/node", module + "/engine", "github.com/dgraph-io/badger", "go.opentelemetry.io/otel"},
			noImports: []string{"sync", "os"}, noCalls: []string{"time.Now(", "time.Sleep(", "go func"}},
		{pkg: module + "/sim", noDeps: []string{module + "/engine", "github.com/dgraph-io/badger"}},
	}
	checked := 0
	for path, p := range pkgs {
		for _, r := range rules {
			if !within(path, r.pkg) {
				continue
			}
			checked++
			for _, d := range p.Deps {
				for _, bad := range r.noDeps {
					if within(d, bad) && !within(d, r.pkg) && !exempt(d, r.exceptDeps) {
						t.Errorf("%s depends on %s (forbidden by DESIGN §2)", path, d)
					}
				}
			}
			for _, imp := range p.Imports {
				for _, bad := range r.noImports {
					if imp == bad {
						t.Errorf("%s imports %s (forbidden by DESIGN §2)", path, imp)
					}
				}
			}
			for _, f := range p.GoFiles {
				for _, call := range r.noCalls {
					if n := countInFile(t, filepath.Join(p.Dir, f), call); n > 0 {
						t.Errorf("%s/%s uses %s %d times (time and concurrency come from the driver)", path, f, call, n)
					}
				}
			}
		}
		// No library package imports bench; only the CLI does, to offer
		// `embatch bench`.
		for _, d := range p.Imports {
			if within(d, module+"/bench") && !within(path, module+"/bench") && path != module+"/cmd/embatch" {
				t.Errorf("%s imports %s; only cmd/embatch may import bench", path, d)
			}
		}
	}
	if checked < 4 {
		t.Fatalf("checked only %d packages; is go list seeing the module?", checked)
	}
}

func exempt(dep string, except []string) bool {
	for _, e := range except {
		if within(dep, e) {
			return true
		}
	}
	return false
}

// countInFile counts lines of non-comment code containing s.
func countInFile(t *testing.T, path, s string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "//") {
			continue
		}
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}
