package node

import (
	"fmt"
	"strings"
)

// SplitCommandLine splits a command line into words the way a POSIX shell
// splits a simple command, without expanding anything: words are separated by
// blanks; single quotes keep everything literally; double quotes keep
// everything but let backslash escape `"`, `\`, `$` and a backtick; a
// backslash outside quotes escapes the next character. Azure runs command
// lines without a shell, so "$HOME" stays "$HOME"; use "/bin/sh -c '...'" for
// shell features.
func SplitCommandLine(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("commandLine %q: unterminated single quote at position %d", s, i)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("commandLine %q: unterminated double quote", s)
			}
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("commandLine %q: empty", s)
	}
	return words, nil
}
