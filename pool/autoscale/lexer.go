package autoscale

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tNumber
	tString
	tLParen
	tRParen
	tComma
	tSemi
	tDot
	tQuestion
	tColon
	tAssign
	tPlus
	tMinus
	tStar
	tSlash
	tNot
	tLT
	tLE
	tGT
	tGE
	tEQ
	tNE
	tAnd
	tOr
)

var tokNames = [...]string{
	tEOF: "end of formula", tIdent: "identifier", tNumber: "number", tString: "string",
	tLParen: "(", tRParen: ")", tComma: ",", tSemi: ";", tDot: ".", tQuestion: "?", tColon: ":",
	tAssign: "=", tPlus: "+", tMinus: "-", tStar: "*", tSlash: "/", tNot: "!",
	tLT: "<", tLE: "<=", tGT: ">", tGE: ">=", tEQ: "==", tNE: "!=", tAnd: "&&", tOr: "||",
}

func (k tokKind) String() string { return tokNames[k] }

// token is one lexical token. text is the identifier's name or the string
// literal's contents; num is the number literal's value.
type token struct {
	kind tokKind
	text string
	num  float64
	pos  pos
}

// describe names the token for an error message.
func (t token) describe() string {
	switch t.kind {
	case tIdent:
		return t.text
	case tNumber:
		return "number " + t.text
	case tString:
		return strconv.Quote(t.text)
	case tEOF:
		return "end of formula"
	}
	return "'" + t.kind.String() + "'"
}

// lexer turns a formula into tokens. Comments are // to the end of the line
// and /* ... */ (not nested); whitespace includes line breaks.
type lexer struct {
	src  string
	i    int // byte offset
	line int
	col  int // characters since the start of the line, 1-based
}

// lex returns the formula's tokens, ending with tEOF.
func lex(src string) ([]token, error) {
	l := &lexer{src: src, line: 1, col: 1}
	var toks []token
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.kind == tEOF {
			return toks, nil
		}
	}
}

// peekByte returns the byte ahead bytes past the current one, or 0 at the end.
func (l *lexer) peekByte(ahead int) byte {
	if l.i+ahead < len(l.src) {
		return l.src[l.i+ahead]
	}
	return 0
}

// advance moves past one rune, keeping line and column.
func (l *lexer) advance() rune {
	r, n := utf8.DecodeRuneInString(l.src[l.i:])
	l.i += n
	if r == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return r
}

func (l *lexer) pos() pos { return pos{l.line, l.col} }

// skipSpace skips whitespace and comments.
func (l *lexer) skipSpace() error {
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.advance()
		case c == '/' && l.peekByte(1) == '/':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.advance()
			}
		case c == '/' && l.peekByte(1) == '*':
			start := l.pos()
			l.advance()
			l.advance()
			for {
				if l.i >= len(l.src) {
					return syntaxError(start, "comment not terminated: /* without */")
				}
				if l.src[l.i] == '*' && l.peekByte(1) == '/' {
					l.advance()
					l.advance()
					break
				}
				l.advance()
			}
		default:
			return nil
		}
	}
	return nil
}

func isLetter(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// next returns the next token.
func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.i >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.i]
	switch {
	case isLetter(c) || c == '$':
		start := l.i
		l.advance()
		if c == '$' && !isLetter(l.peekByte(0)) {
			return token{}, syntaxError(p, "'$' must start a variable name such as $TargetDedicatedNodes")
		}
		for isLetter(l.peekByte(0)) || isDigit(l.peekByte(0)) {
			l.advance()
		}
		return token{kind: tIdent, text: l.src[start:l.i], pos: p}, nil
	case isDigit(c) || c == '.' && isDigit(l.peekByte(1)):
		return l.number(p)
	case c == '"':
		l.advance()
		var b strings.Builder
		for {
			if l.i >= len(l.src) || l.src[l.i] == '\n' {
				return token{}, syntaxError(p, "string not terminated: missing closing \"")
			}
			if l.src[l.i] == '"' {
				l.advance()
				return token{kind: tString, text: b.String(), pos: p}, nil
			}
			start := l.i
			l.advance()
			b.WriteString(l.src[start:l.i])
		}
	}
	if k, ok := twoCharOps[string([]byte{c, l.peekByte(1)})]; ok {
		l.advance()
		l.advance()
		return token{kind: k, pos: p}, nil
	}
	if k, ok := oneCharOps[c]; ok {
		l.advance()
		return token{kind: k, pos: p}, nil
	}
	r := l.advance()
	switch r {
	case '&':
		return token{}, syntaxError(p, "unexpected '&' (the operator is &&)")
	case '|':
		return token{}, syntaxError(p, "unexpected '|' (the operator is ||)")
	case '\'':
		return token{}, syntaxError(p, "unexpected ' (strings use double quotes)")
	case utf8.RuneError:
		return token{}, syntaxError(p, "invalid UTF-8 in formula")
	}
	return token{}, syntaxError(p, "unexpected character %q", r)
}

var twoCharOps = map[string]tokKind{"<=": tLE, ">=": tGE, "==": tEQ, "!=": tNE, "&&": tAnd, "||": tOr}

var oneCharOps = map[byte]tokKind{'(': tLParen, ')': tRParen, ',': tComma, ';': tSemi, '.': tDot, '?': tQuestion,
	':': tColon, '=': tAssign, '+': tPlus, '-': tMinus, '*': tStar, '/': tSlash, '!': tNot, '<': tLT, '>': tGT}

// number lexes digits[.digits][(e|E)[+|-]digits] or .digits.
func (l *lexer) number(p pos) (token, error) {
	start := l.i
	for isDigit(l.peekByte(0)) {
		l.advance()
	}
	if l.peekByte(0) == '.' && isDigit(l.peekByte(1)) {
		l.advance()
		for isDigit(l.peekByte(0)) {
			l.advance()
		}
	}
	if e := l.peekByte(0); e == 'e' || e == 'E' {
		sign := l.peekByte(1)
		if isDigit(sign) || (sign == '+' || sign == '-') && isDigit(l.peekByte(2)) {
			l.advance()
			if !isDigit(sign) {
				l.advance()
			}
			for isDigit(l.peekByte(0)) {
				l.advance()
			}
		}
	}
	text := l.src[start:l.i]
	if isLetter(l.peekByte(0)) {
		return token{}, syntaxError(p, "malformed number %s%c", text, l.peekByte(0))
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return token{}, syntaxError(p, "number %s is out of range", text)
	}
	return token{kind: tNumber, text: text, num: v, pos: p}, nil
}
