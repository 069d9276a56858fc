package node

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitCommandLine(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "echo", want: []string{"echo"}},
		{in: "  echo   a\tb\r\nc  ", want: []string{"echo", "a", "b", "c"}},
		{in: "echo $HOME '*' ~", want: []string{"echo", "$HOME", "*", "~"}},
		{in: `echo 'a "b" \c'`, want: []string{"echo", `a "b" \c`}},
		{in: `echo "a 'b' \"c\" \\ \$ \` + "`" + ` \n"`, want: []string{"echo", `a 'b' "c" \ $ ` + "` \\n"}},
		{in: `echo a\ b \'c\"`, want: []string{"echo", "a b", `'c"`}},
		{in: `echo ab'cd'"ef"gh`, want: []string{"echo", "abcdefgh"}},
		{in: `echo '' ""`, want: []string{"echo", "", ""}},
		{in: `/bin/sh -c 'ls -l | wc -l'`, want: []string{"/bin/sh", "-c", "ls -l | wc -l"}},
		{in: "", wantErr: `commandLine "": empty`},
		{in: " \t\n", wantErr: `commandLine " \t\n": empty`},
		{in: `echo 'open`, wantErr: `commandLine "echo 'open": unterminated single quote at position 5`},
		{in: `echo "open`, wantErr: `commandLine "echo \"open": unterminated double quote`},
	}
	for _, tt := range tests {
		got, err := SplitCommandLine(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("SplitCommandLine(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("SplitCommandLine(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("SplitCommandLine(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
