package ssh

import (
	"fmt"
	"strings"
)

// Quote returns s quoted for a POSIX shell, so that the shell reads it back
// as exactly one word equal to s, with nothing expanded. Words made only of
// characters no shell treats specially are returned as they are; anything
// else is wrapped in single quotes, inside which every byte is literal, and
// each single quote in s is written as a closing quote, an escaped quote and
// an opening quote. The empty string becomes a pair of quotes:
//
//	Quote("a b")  = 'a b'
//	Quote("it's") = 'it'\''s'
//	Quote("")     = ''
//
// SSH runs a command as one string handed to the remote user's login shell
// ("$SHELL -c string"), so every word the backend sends goes through Quote.
// The login shell must be a POSIX shell (sh, dash, bash, ksh, zsh); csh and
// fish read quotes differently. A NUL byte cannot be part of a command word
// at all; QuoteWords rejects it.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafeWord(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isSafeWord reports whether s needs no quoting in any position of a
// command: letters, digits and "+,-./:@_" only. ('=' would make a first
// word an assignment, and a leading '~' or '#' is special, so none of them
// is in the set.)
func isSafeWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("+,-./:@_", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// QuoteWords quotes each word with Quote and joins them with spaces, giving
// a command line a POSIX shell splits back into exactly words. It fails for
// a word containing NUL, which no argv can hold.
func QuoteWords(words []string) (string, error) {
	var b strings.Builder
	for i, w := range words {
		if strings.IndexByte(w, 0) >= 0 {
			return "", fmt.Errorf("word %d (%q) contains a NUL byte, which cannot be passed to a remote command", i, w)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Quote(w))
	}
	return b.String(), nil
}
