package main

import (
	"strings"
	"testing"
)

func TestBenchBadInput(t *testing.T) {
	for _, args := range [][]string{{"bench"}, {"bench", "nosuch"}, {"bench", "--rounds", "0", "engine"}, {"bench", "--bogus"}} {
		r := runEmbatch(t, "", args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, r.code, exitUsage)
		}
		if strings.TrimSpace(r.stdout) != "" && !strings.Contains(r.stdout, "BENCH") {
			t.Errorf("%v: stdout %q", args, r.stdout)
		}
	}
	r := runEmbatch(t, "", "bench", "nosuch")
	if !strings.Contains(r.stderr, `unknown bench "nosuch"`) {
		t.Errorf("stderr = %q, want it to name the bench", r.stderr)
	}
}
