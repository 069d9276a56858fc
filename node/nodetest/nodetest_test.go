package nodetest_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOnlyTestsImportNodetest keeps nodetest a test helper: no package's
// non-test source may import it (go list's Imports leave out _test.go
// files).
func TestOnlyTestsImportNodetest(t *testing.T) {
	const self = "github.com/embatch/embatch/node/nodetest"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "github.com/embatch/embatch/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	listed := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		listed++
		for _, imp := range f[1:] {
			if imp == self {
				t.Errorf("%s imports %s outside its tests", f[0], self)
			}
		}
	}
	if listed < 5 {
		t.Fatalf("go list saw only %d packages", listed)
	}
}
