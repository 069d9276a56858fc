package inprocess

import (
	"github.com/embatch/embatch/node"
)

// splitCommandLine returns the handler name and arguments of a command line,
// exactly as node.SplitCommandLine splits it. A line without quotes or
// backslashes (the common case) is split here without copying: the name
// allocates nothing and the arguments one slice.
func splitCommandLine(s string) (name string, args []string, err error) {
	// One pass counts the words, finds the first, and looks for quoting.
	n, start, end := 0, 0, len(s) // end: where the first word ends
	in := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' || c == '"' || c == '\\':
			return splitSlow(s)
		case isBlank(c):
			if in && n == 1 {
				end = i
			}
			in = false
		case !in:
			in = true
			n++
			if n == 1 {
				start = i
			}
		}
	}
	if n == 0 {
		return splitSlow(s) // for its error
	}
	if n == 1 {
		return s[start:end], nil, nil
	}
	args = make([]string, 0, n)
	for i := 0; i < len(s); {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		j := i
		for j < len(s) && !isBlank(s[j]) {
			j++
		}
		if j > i {
			args = append(args, s[i:j])
		}
		i = j
	}
	return args[0], args[1:], nil
}

func splitSlow(s string) (string, []string, error) {
	words, err := node.SplitCommandLine(s)
	if err != nil {
		return "", nil, err
	}
	if len(words) == 1 {
		return words[0], nil, nil
	}
	return words[0], words[1:], nil
}

// isBlank matches node.SplitCommandLine's word separators.
func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
