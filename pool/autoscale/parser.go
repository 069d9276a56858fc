package autoscale

import (
	"fmt"
	"unicode/utf8"
)

// Limits Azure Batch puts on a formula.
const (
	// MaxFormulaLength is the longest formula, in characters ("8 KB").
	MaxFormulaLength = 8192
	// MaxStatements is the most statements a formula may have.
	MaxStatements = 100
)

// Formula is a parsed, type-checked autoscale formula. It is immutable and
// safe for concurrent use.
type Formula struct {
	stmts []*statement
}

// Parse parses and type-checks a formula. Errors are *Error with
// CodeSyntaxError or CodeTooLong and name the line and column.
func Parse(src string) (*Formula, error) {
	if n := utf8.RuneCountInString(src); n > MaxFormulaLength {
		return nil, &Error{Code: CodeTooLong, Msg: fmt.Sprintf("formula has %d characters; at most %d are allowed", n, MaxFormulaLength)}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, vars: map[string]Type{}}
	return p.formula()
}

// parser is a recursive-descent parser that type-checks as it goes. User
// variables are typed by the statements that assign them, in order: a
// variable must be assigned before it is read, and a later assignment may
// change its type.
type parser struct {
	toks []token
	i    int
	vars map[string]Type
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(ahead int) token {
	if p.i+ahead < len(p.toks) {
		return p.toks[p.i+ahead]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) expect(k tokKind, context string) (token, error) {
	t := p.next()
	if t.kind != k {
		want := "'" + k.String() + "'"
		if k == tIdent {
			want = "a name"
		}
		return t, syntaxError(t.pos, "expected %s %s, found %s", want, context, t.describe())
	}
	return t, nil
}

// formula = [statement] { ";" [statement] }
func (p *parser) formula() (*Formula, error) {
	f := &Formula{}
	for {
		for p.peek().kind == tSemi {
			p.next()
		}
		if p.peek().kind == tEOF {
			break
		}
		s, err := p.statement()
		if err != nil {
			return nil, err
		}
		if len(f.stmts) == MaxStatements {
			return nil, syntaxError(s.p, "formula has more than %d statements", MaxStatements)
		}
		f.stmts = append(f.stmts, s)
		switch t := p.peek(); t.kind {
		case tSemi, tEOF:
		default:
			return nil, syntaxError(t.pos, "expected ';' between statements, found %s", t.describe())
		}
	}
	if len(f.stmts) == 0 {
		return nil, &Error{Code: CodeSyntaxError, Msg: "formula has no statements"}
	}
	return f, nil
}

// statement = name "=" expr | expr
func (p *parser) statement() (*statement, error) {
	t := p.peek()
	if t.kind != tIdent || p.peekAt(1).kind != tAssign {
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		return &statement{p: t.pos, kind: stmtExpr, x: x}, nil
	}
	p.next()
	p.next()
	name := t.text
	s := &statement{p: t.pos, kind: stmtAssign, target: name}
	sv, isService := serviceVars[name]
	switch {
	case isService && !sv.writable:
		return nil, syntaxError(t.pos, "cannot assign to %s: it is read-only", name)
	case isService:
		s.kind, s.sv = stmtAssignSvc, sv
	case metricByName[name] != metricInvalid:
		return nil, syntaxError(t.pos, "cannot assign to %s: it is a read-only sampled metric", name)
	case constants[name].typ != typeInvalid:
		return nil, syntaxError(t.pos, "cannot assign to %s: it is a constant", name)
	case similarServiceName(name) != "":
		// Names are case-sensitive, so this would be a user variable that
		// silently leaves the service variable alone.
		return nil, syntaxError(t.pos, "%s differs from the service variable %s only in letter case: fix the case, or rename the variable", name, similarServiceName(name))
	}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	s.x = x
	if s.kind == stmtAssignSvc {
		if x.typ() != sv.typ && x.typ() != typeNone {
			return nil, syntaxError(x.at(), "%s must be a %s, not a %s", name, sv.typ, x.typ())
		}
		return s, nil
	}
	p.vars[name] = x.typ()
	return s, nil
}

// expr = or [ "?" expr ":" expr ]
func (p *parser) expr() (expr, error) {
	c, err := p.binary(0)
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tQuestion {
		return c, nil
	}
	q := p.next()
	if c.typ() != TypeDouble {
		return nil, syntaxError(q.pos, "the condition before '?' must be a double, not a %s", c.typ())
	}
	a, err := p.expr()
	if err != nil {
		return nil, err
	}
	colon, err := p.expect(tColon, "in ?: expression")
	if err != nil {
		return nil, err
	}
	b, err := p.expr()
	if err != nil {
		return nil, err
	}
	t := a.typ()
	switch {
	case a.typ() == b.typ():
	case a.typ() == typeNone:
		t = b.typ()
	case b.typ() == typeNone:
	default:
		return nil, syntaxError(colon.pos, "the branches of ?: have different types: %s and %s", a.typ(), b.typ())
	}
	return &condExpr{node: node{c.at(), t}, c: c, a: a, b: b}, nil
}

// precedence lists the binary operators from the loosest to the tightest
// binding; all are left-associative. Azure does not document precedence;
// this is C's, which every formula in Azure's documentation assumes.
var precedence = [][]tokKind{
	{tOr},
	{tAnd},
	{tEQ, tNE},
	{tLT, tLE, tGT, tGE},
	{tPlus, tMinus},
	{tStar, tSlash},
}

// binary parses the operators of precedence level and tighter.
func (p *parser) binary(level int) (expr, error) {
	if level == len(precedence) {
		return p.unary()
	}
	x, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		found := false
		for _, k := range precedence[level] {
			found = found || op.kind == k
		}
		if !found {
			return x, nil
		}
		p.next()
		y, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		t, ok := binaryType(op.kind, x.typ(), y.typ())
		if !ok {
			return nil, syntaxError(op.pos, "operator %s is not defined for %s and %s", op.kind, x.typ(), y.typ())
		}
		x = &binaryExpr{node: node{x.at(), t}, op: op.kind, opAt: op.pos, x: x, y: y}
	}
}

// opKey is an operator and its operand types (y is typeInvalid for unary
// operators).
type opKey struct {
	op   tokKind
	x, y Type
}

// opTypes is Azure's table of operations: the result type of each operator
// and operand types it defines. Note what the table leaves out and embatch
// therefore rejects: double op doubleVec, timestamp - timeinterval (write
// t + (-1 * i), as Azure's own examples do), timeinterval / timeinterval,
// unary +, and comparisons of vectors.
var opTypes = func() map[opKey]Type {
	const (
		d  = TypeDouble
		v  = TypeDoubleVec
		s  = TypeString
		ts = TypeTimestamp
		ti = TypeTimeInterval
	)
	m := map[opKey]Type{
		{tPlus, d, d}: d, {tPlus, v, d}: v, {tPlus, v, v}: v, {tPlus, ti, ti}: ti, {tPlus, ti, ts}: ts, {tPlus, ts, ti}: ts,
		{tMinus, d, d}: d, {tMinus, v, d}: v, {tMinus, v, v}: v, {tMinus, ti, ti}: ti, {tMinus, ts, ts}: ti,
		{tStar, d, d}: d, {tStar, d, ti}: ti, {tStar, v, d}: v, {tStar, v, v}: v, {tStar, ti, d}: ti,
		{tSlash, d, d}: d, {tSlash, v, d}: v, {tSlash, v, v}: v, {tSlash, ti, d}: ti,
		{tAnd, d, d}: d, {tOr, d, d}: d,
		{tMinus, d, typeInvalid}: d, {tNot, d, typeInvalid}: d, {tMinus, ti, typeInvalid}: ti,
	}
	for _, op := range []tokKind{tLT, tLE, tGT, tGE, tEQ, tNE} {
		for _, t := range []Type{d, s, ts, ti} {
			m[opKey{op, t, t}] = d
		}
	}
	return m
}()

// binaryType returns the result type of x op y, or false when Azure does
// not define the operation.
func binaryType(op tokKind, x, y Type) (Type, bool) {
	t, ok := opTypes[opKey{op, x, y}]
	return t, ok
}

// unary = ("-" | "!") unary | postfix
func (p *parser) unary() (expr, error) {
	op := p.peek()
	if op.kind != tMinus && op.kind != tNot {
		return p.postfix()
	}
	p.next()
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	t, ok := opTypes[opKey{op.kind, x.typ(), typeInvalid}]
	if !ok {
		return nil, syntaxError(op.pos, "operator %s is not defined for %s", op.kind, x.typ())
	}
	return &unaryExpr{node: node{op.pos, t}, op: op.kind, x: x}, nil
}

// postfix = primary { "." member }
func (p *parser) postfix() (expr, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tDot {
		dot := p.next()
		name, err := p.expect(tIdent, "after '.'")
		if err != nil {
			return nil, err
		}
		if p.peek().kind == tLParen {
			return nil, syntaxError(name.pos, "a %s has no methods; methods such as GetSample belong to sampled metrics like $PendingTasks", x.typ())
		}
		if x.typ() != TypeTimestamp {
			return nil, syntaxError(dot.pos, "a %s has no members; members such as .hour belong to timestamps", x.typ())
		}
		if timestampMembers[name.text] == nil {
			return nil, syntaxError(name.pos, "timestamp has no member %s (members: year, month, day, weekday, hour, minute, second)", name.text)
		}
		x = &memberExpr{node: node{x.at(), TypeDouble}, x: x, name: name.text}
	}
	return x, nil
}

// primary = number | string | "(" expr ")" | call | method | name
func (p *parser) primary() (expr, error) {
	t := p.next()
	switch t.kind {
	case tNumber:
		return &numberLit{node: node{t.pos, TypeDouble}, text: t.text, v: t.num}, nil
	case tString:
		return &stringLit{node: node{t.pos, TypeString}, v: t.text}, nil
	case tLParen:
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "to close '('"); err != nil {
			return nil, err
		}
		return x, nil
	case tIdent:
		return p.name(t)
	}
	return nil, syntaxError(t.pos, "expected an expression, found %s", t.describe())
}

// name resolves an identifier: a function call, a metric's method call, a
// service variable, a constant or a user variable.
func (p *parser) name(t token) (expr, error) {
	if p.peek().kind == tLParen {
		return p.call(t)
	}
	if m := metricByName[t.text]; m != metricInvalid {
		return p.method(t, m)
	}
	if sv, ok := serviceVars[t.text]; ok {
		return &serviceRef{node: node{t.pos, sv.typ}, name: t.text, sv: sv}, nil
	}
	if v, ok := constants[t.text]; ok {
		return &constRef{node: node{t.pos, v.typ}, name: t.text, v: v}, nil
	}
	typ, ok := p.vars[t.text]
	switch {
	case !ok && similarServiceName(t.text) != "":
		return nil, syntaxError(t.pos, "undefined variable %s (names are case-sensitive: did you mean %s?)", t.text, similarServiceName(t.text))
	case !ok:
		return nil, syntaxError(t.pos, "undefined variable %s: assign it before reading it", t.text)
	case typ == typeNone:
		return nil, syntaxError(t.pos, "%s has no value: it was assigned stop()", t.text)
	}
	return &varRef{node: node{t.pos, typ}, name: t.text}, nil
}

// args parses "(" [expr {"," expr}] ")"; the "(" is next.
func (p *parser) args() ([]expr, error) {
	p.next()
	var args []expr
	if p.peek().kind == tRParen {
		p.next()
		return args, nil
	}
	for {
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		args = append(args, x)
		t := p.next()
		switch t.kind {
		case tRParen:
			return args, nil
		case tComma:
		default:
			return nil, syntaxError(t.pos, "expected ',' or ')' in argument list, found %s", t.describe())
		}
	}
}

// call parses a built-in function call.
func (p *parser) call(name token) (expr, error) {
	b, ok := builtins[name.text]
	if !ok {
		return nil, syntaxError(name.pos, "unknown function %s", name.text)
	}
	args, err := p.args()
	if err != nil {
		return nil, err
	}
	c := &callExpr{node: node{name.pos, typeInvalid}, name: name.text, args: args}
	t, err := b.check(c)
	if err != nil {
		return nil, err
	}
	c.t = t
	return c, nil
}

// method parses $Metric.Method(args).
func (p *parser) method(recv token, m Metric) (expr, error) {
	if p.peek().kind != tDot {
		return nil, syntaxError(recv.pos, "%s is a sampled metric, not a value: call a method such as %s.GetSample(TimeInterval_Minute * 5)", recv.text, recv.text)
	}
	p.next()
	name, err := p.expect(tIdent, "after '.'")
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tLParen {
		return nil, syntaxError(name.pos, "%s.%s: expected '(' (metrics have methods, not members)", recv.text, name.text)
	}
	args, err := p.args()
	if err != nil {
		return nil, err
	}
	x := &methodExpr{node: node{recv.pos, typeInvalid}, metric: m, name: name.text, args: args}
	t, err := checkMethod(x, name.pos)
	if err != nil {
		return nil, err
	}
	x.t = t
	return x, nil
}

// isTime reports whether t can bound a sample window.
func isTime(t Type) bool { return t == TypeTimestamp || t == TypeTimeInterval }

// checkMethod type-checks a sample method call:
//
//	doubleVec GetSample(double count)
//	doubleVec GetSample(timestamp|timeinterval start [, double samplePercent])
//	doubleVec GetSample(timestamp|timeinterval start, timestamp|timeinterval end [, double samplePercent])
//	double    GetSamplePercent(timestamp|timeinterval start [, timestamp|timeinterval end])
//	timeinterval GetSamplePeriod()
//	double    Count()
//	timestamp HistoryBeginTime()
func checkMethod(x *methodExpr, at pos) (Type, error) {
	types := make([]Type, len(x.args))
	for i, a := range x.args {
		types[i] = a.typ()
	}
	is := func(want ...func(Type) bool) bool {
		if len(want) != len(types) {
			return false
		}
		for i, w := range want {
			if !w(types[i]) {
				return false
			}
		}
		return true
	}
	double := func(t Type) bool { return t == TypeDouble }
	switch x.name {
	case "GetSample":
		if is(double) || is(isTime) || is(isTime, double) || is(isTime, isTime) || is(isTime, isTime, double) {
			return TypeDoubleVec, nil
		}
		return typeInvalid, syntaxError(at, "GetSample takes (double count), (start [, samplePercent]) or (start, end [, samplePercent]) where start and end are timestamps or timeintervals; got (%s)", typeList(types))
	case "GetSamplePercent":
		if is(isTime) || is(isTime, isTime) {
			return TypeDouble, nil
		}
		return typeInvalid, syntaxError(at, "GetSamplePercent takes (start [, end]) where start and end are timestamps or timeintervals; got (%s)", typeList(types))
	case "GetSamplePeriod", "Count", "HistoryBeginTime":
		if len(types) != 0 {
			return typeInvalid, syntaxError(at, "%s takes no arguments, got %d", x.name, len(types))
		}
		return map[string]Type{"GetSamplePeriod": TypeTimeInterval, "Count": TypeDouble, "HistoryBeginTime": TypeTimestamp}[x.name], nil
	}
	return typeInvalid, syntaxError(at, "%s has no method %s (methods: GetSample, GetSamplePercent, GetSamplePeriod, Count, HistoryBeginTime)", x.metric, x.name)
}

func typeList(ts []Type) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += t.String()
	}
	return s
}
