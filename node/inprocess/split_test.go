package inprocess

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/node"
)

func TestSplitCommandLine(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		args    []string
		wantErr bool
	}{
		{in: "noop", name: "noop"},
		{in: "  noop  ", name: "noop"},
		{in: "echo a  b\tc\n", name: "echo", args: []string{"a", "b", "c"}},
		{in: "echo $HOME *", name: "echo", args: []string{"$HOME", "*"}},
		{in: `echo 'a b' "c\"d" e\ f`, name: "echo", args: []string{"a b", `c"d`, "e f"}},
		{in: `'quoted name' x`, name: "quoted name", args: []string{"x"}},
		{in: "", wantErr: true},
		{in: " \t\r\n", wantErr: true},
		{in: `echo "open`, wantErr: true},
	}
	for _, tt := range tests {
		name, args, err := splitCommandLine(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("splitCommandLine(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if name != tt.name {
			t.Errorf("splitCommandLine(%q) name = %q, want %q", tt.in, name, tt.name)
		}
		if diff := cmp.Diff(tt.args, args); diff != "" {
			t.Errorf("splitCommandLine(%q) args (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestSplitCommandLineAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _, _ = splitCommandLine("noop") }); n != 0 {
		t.Errorf("splitting a one-word line allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _ = splitCommandLine("run a b c") }); n != 1 {
		t.Errorf("splitting a line with arguments allocates %v times, want 1", n)
	}
}

// FuzzSplitCommandLine checks the fast path against node.SplitCommandLine.
func FuzzSplitCommandLine(f *testing.F) {
	for _, s := range []string{"noop", " a  b ", "a\tb\nc\rd", `a 'b c'`, `a "b\"c"`, `a\ b`, "", "\v x \f", "ä ö"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, werr := node.SplitCommandLine(s)
		name, args, err := splitCommandLine(s)
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: error %v, SplitCommandLine error %v", s, err, werr)
		}
		if err != nil {
			if err.Error() != werr.Error() {
				t.Fatalf("%q: error %q, SplitCommandLine error %q", s, err, werr)
			}
			return
		}
		got := append([]string{name}, args...)
		if diff := cmp.Diff(words, got); diff != "" {
			t.Fatalf("%q (-SplitCommandLine +splitCommandLine):\n%s", s, diff)
		}
	})
}
