package ssh

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/embatch/embatch/node"
)

// quoteCases are words that break naive quoting.
var quoteCases = []string{
	"", "plain", "two words", "it's", "'", "''", `"double"`, `back\slash`, `trailing\`,
	"$HOME", "${HOME}", "$(id)", "`id`", "a;b", "a&&b", "a|b", "a>b", "<in", "*", "?", "[a]",
	"~", "~root", "#comment", "a#b", "-n", "--", "x=y", "new\nline", "tab\there", "\r",
	"!", "!!", "{a,b}", "é ü 日本", " leading", "trailing ", "%s", "a\\'b",
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"plain", "plain"},
		{"/usr/bin/env", "/usr/bin/env"},
		{"a-b_c.d:e@f+g,h", "a-b_c.d:e@f+g,h"},
		{"two words", "'two words'"},
		{"it's", `'it'\''s'`},
		{"$HOME", "'$HOME'"},
		{"x=y", "'x=y'"},
		{"~", "'~'"},
		{"new\nline", "'new\nline'"},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if _, err := QuoteWords([]string{"ok", "nul\x00byte"}); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("QuoteWords with a NUL byte: err = %v, want a NUL error", err)
	}
}

// TestQuoteRoundTripShell hands quoted words to real shells, as sshd hands
// a command to the login shell, and checks each word arrives intact.
func TestQuoteRoundTripShell(t *testing.T) {
	for _, sh := range []string{"/bin/sh", "dash", "bash", "zsh", "ksh"} {
		path, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		t.Run(sh, func(t *testing.T) {
			line, err := QuoteWords(append([]string{"printf", "%s\\0"}, quoteCases...))
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(path, "-c", line).Output()
			if err != nil {
				t.Fatalf("%s -c %s: %v", sh, line, err)
			}
			got := strings.Split(string(out), "\x00")
			got = got[:len(got)-1]
			if !slices.Equal(got, quoteCases) {
				t.Errorf("%s read back\n%q\nwant\n%q", sh, got, quoteCases)
			}
		})
	}
}

// FuzzQuote checks that node.SplitCommandLine, which splits words as a
// POSIX shell does, reads every quoted word back unchanged.
func FuzzQuote(f *testing.F) {
	for _, s := range quoteCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			t.Skip()
		}
		line, err := QuoteWords([]string{"cmd", s, "end"})
		if err != nil {
			t.Fatal(err)
		}
		words, err := node.SplitCommandLine(line)
		if err != nil {
			t.Fatalf("SplitCommandLine(%s): %v", line, err)
		}
		if want := []string{"cmd", s, "end"}; !slices.Equal(words, want) {
			t.Fatalf("Quote(%q) = %s, split back into %q", s, Quote(s), words)
		}
	})
}

func TestParseHost(t *testing.T) {
	tests := []struct {
		in      string
		want    Host
		wantErr string
	}{
		{in: "alice@example.com:2222", want: Host{User: "alice", Name: "example.com", Port: 2222}},
		{in: "alice@10.0.0.5:22/8", want: Host{User: "alice", Name: "10.0.0.5", Port: 22, Slots: 8}},
		{in: "bob@host", want: Host{User: "bob", Name: "host", Port: 22}},
		{in: "bob@[::1]:2200", want: Host{User: "bob", Name: "::1", Port: 2200}},
		{in: "bob@[fe80::1]", want: Host{User: "bob", Name: "fe80::1", Port: 22}},
		{in: "bob@host:0", wantErr: "port"},
		{in: "bob@host:99999", wantErr: "port"},
		{in: "bob@host:22/0", wantErr: "slots"},
		{in: "bob@host:22/x", wantErr: "slots"},
		{in: "@host", wantErr: "empty user"},
		{in: "bob@", wantErr: "want user@host:port"},
	}
	for _, tt := range tests {
		got, err := ParseHost(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseHost(%q) error = %v, want one mentioning %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseHost(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	h, err := ParseHost("example.com")
	if err != nil || h.User == "" || h.Port != DefaultPort {
		t.Errorf("ParseHost without user and port = %+v, %v; want the current user and port 22", h, err)
	}
}

func TestIsShellName(t *testing.T) {
	for name, want := range map[string]bool{"PATH": true, "_x1": true, "a": true, "1a": false, "": false, "a-b": false, "a.b": false, "é": false} {
		if got := isShellName(name); got != want {
			t.Errorf("isShellName(%q) = %v, want %v", name, got, want)
		}
	}
}
