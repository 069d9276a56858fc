package autoscale

import (
	"strconv"
	"strings"
)

// expr is a type-checked expression.
type expr interface {
	at() pos
	typ() Type
}

// node holds what every expression has: where it starts and its type.
type node struct {
	p pos
	t Type
}

func (n *node) at() pos   { return n.p }
func (n *node) typ() Type { return n.t }

type (
	// numberLit is a number such as 0.7.
	numberLit struct {
		node
		text string
		v    float64
	}
	// stringLit is a string such as "Mon, 15 Jun 2009 20:45:30 GMT".
	stringLit struct {
		node
		v string
	}
	// constRef is a predefined constant (TimeInterval_Minute, taskcompletion).
	constRef struct {
		node
		name string
		v    Value
	}
	// varRef reads a user variable.
	varRef struct {
		node
		name string
	}
	// serviceRef reads a non-sampled service variable.
	serviceRef struct {
		node
		name string
		sv   serviceVar
	}
	// unaryExpr is -x or !x.
	unaryExpr struct {
		node
		op tokKind
		x  expr
	}
	// binaryExpr is x op y (arithmetic, comparison, && or ||).
	binaryExpr struct {
		node
		op   tokKind
		opAt pos
		x, y expr
	}
	// condExpr is c ? a : b; only the chosen branch is evaluated.
	condExpr struct {
		node
		c, a, b expr
	}
	// callExpr calls a built-in function.
	callExpr struct {
		node
		name string
		args []expr
	}
	// memberExpr reads a timestamp member (x.hour).
	memberExpr struct {
		node
		x    expr
		name string
	}
	// methodExpr calls a sample method on a metric ($CPUPercent.GetSample(...)).
	methodExpr struct {
		node
		metric Metric
		name   string
		args   []expr
	}
)

// stmtKind says what a statement does.
type stmtKind int

const (
	stmtExpr      stmtKind = iota + 1 // evaluate for effect (stop())
	stmtAssign                        // user variable = x
	stmtAssignSvc                     // service variable = x
)

// statement is one ;-separated statement.
type statement struct {
	p      pos
	kind   stmtKind
	target string     // assigned name as written
	sv     serviceVar // for stmtAssignSvc
	x      expr
}

// String returns the formula in a canonical form: one statement per line,
// every operation in parentheses, comments dropped. Parse(f.String())
// yields the same formula.
func (f *Formula) String() string {
	var b strings.Builder
	for _, s := range f.stmts {
		if s.kind != stmtExpr {
			b.WriteString(s.target)
			b.WriteString(" = ")
		}
		writeExpr(&b, s.x)
		b.WriteString(";\n")
	}
	return b.String()
}

func writeExpr(b *strings.Builder, e expr) {
	switch e := e.(type) {
	case *numberLit:
		b.WriteString(strconv.FormatFloat(e.v, 'g', -1, 64))
	case *stringLit:
		b.WriteByte('"')
		b.WriteString(e.v)
		b.WriteByte('"')
	case *constRef:
		b.WriteString(e.name)
	case *varRef:
		b.WriteString(e.name)
	case *serviceRef:
		b.WriteString(e.name)
	case *unaryExpr:
		b.WriteByte('(')
		b.WriteString(e.op.String())
		writeExpr(b, e.x)
		b.WriteByte(')')
	case *binaryExpr:
		b.WriteByte('(')
		writeExpr(b, e.x)
		b.WriteString(" " + e.op.String() + " ")
		writeExpr(b, e.y)
		b.WriteByte(')')
	case *condExpr:
		b.WriteByte('(')
		writeExpr(b, e.c)
		b.WriteString(" ? ")
		writeExpr(b, e.a)
		b.WriteString(" : ")
		writeExpr(b, e.b)
		b.WriteByte(')')
	case *callExpr:
		b.WriteString(e.name)
		writeArgs(b, e.args)
	case *memberExpr:
		writeExpr(b, e.x)
		b.WriteByte('.')
		b.WriteString(e.name)
	case *methodExpr:
		b.WriteString(e.metric.String())
		b.WriteByte('.')
		b.WriteString(e.name)
		writeArgs(b, e.args)
	}
}

func writeArgs(b *strings.Builder, args []expr) {
	b.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		writeExpr(b, a)
	}
	b.WriteByte(')')
}
