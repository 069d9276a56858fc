package autoscale

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"strings"
	"time"
)

// Env is everything an evaluation reads besides the formula: the time, the
// random source, the pool's current values and the metric history. The
// caller (engine or simulator) owns it; Evaluate only reads it.
type Env struct {
	// Now is the evaluation time: what time() returns and the end of every
	// sample window.
	Now time.Time
	// Rand is the source of rand(); evaluating rand() with a nil Rand fails.
	Rand Rand
	// Samples is the metric history; nil means no samples at all.
	Samples Samples
	// SampleDelay hides samples newer than Now-SampleDelay, as Azure's
	// propagation delay does (its docs say "approximately one minute"; a
	// real pool has been seen reporting 29 of the last 30 samples, another
	// all 6 of the last 180 s). Zero, the default, shows every sample
	// recorded up to Now; negative is treated as zero.
	SampleDelay time.Duration

	// CurrentDedicatedNodes, CurrentLowPriorityNodes and TaskSlotsPerNode
	// are what $CurrentDedicatedNodes, $CurrentLowPriorityNodes (preempted
	// nodes included) and $TaskSlotsPerNode read.
	CurrentDedicatedNodes   int
	CurrentLowPriorityNodes int
	TaskSlotsPerNode        int

	// TargetDedicatedNodes, TargetLowPriorityNodes and
	// NodeDeallocationOption are the pool's current settings: the values
	// of the read-write variables until the formula assigns them, and the
	// result when it does not. A zero NodeDeallocationOption is Requeue.
	TargetDedicatedNodes   int
	TargetLowPriorityNodes int
	NodeDeallocationOption NodeDeallocationOption
}

// Rand is a source of uniformly distributed numbers in [0, 1), such as
// *math/rand/v2.Rand.
type Rand interface {
	Float64() float64
}

// Result is the outcome of an evaluation.
type Result struct {
	// TargetDedicatedNodes and TargetLowPriorityNodes are the targets to
	// apply: the formula's values truncated toward zero (Azure turns a
	// computed 0.5 into 0), or the current targets when it does not assign
	// them. When a formula assigns both a full name and its alias
	// ($TargetDedicated), the full name wins, as Azure documents.
	TargetDedicatedNodes   int
	TargetLowPriorityNodes int
	// NodeDeallocationOption is what a shrink does to running tasks.
	NodeDeallocationOption NodeDeallocationOption
	// Variables lists the variables in the order of Azure's AutoScaleRun
	// results: $TargetDedicatedNodes, $TargetLowPriorityNodes and
	// $NodeDeallocationOption (always, with the formula's own values),
	// then every user variable the formula assigned, sorted by name.
	Variables []Variable
	// Stopped reports that stop() ended the evaluation; the statements
	// before it took effect.
	Stopped bool
}

// Variable is a named value in a Result.
type Variable struct {
	Name  string
	Value Value
}

// String formats the result as Azure's AutoScaleRun.results string, for
// example "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;
// $NodeDeallocationOption=taskcompletion;$samples=96.6667;$targetVMs=0.5;
// $tasks=0;cappedPoolSize=3" (one line, no spaces).
func (r Result) String() string {
	var b strings.Builder
	for i, v := range r.Variables {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(v.Name)
		b.WriteByte('=')
		b.WriteString(v.Value.String())
	}
	return b.String()
}

// Var returns the value of the named variable in r.Variables.
func (r Result) Var(name string) (Value, bool) {
	for _, v := range r.Variables {
		if v.Name == name {
			return v.Value, true
		}
	}
	return Value{}, false
}

// Unchanged returns the result that leaves the pool as env describes it:
// what an evaluation reports when it fails.
func Unchanged(env Env) Result {
	opt := env.NodeDeallocationOption
	if _, ok := parseDeallocation(string(opt)); !ok {
		opt = Requeue
	}
	return Result{
		TargetDedicatedNodes:   env.TargetDedicatedNodes,
		TargetLowPriorityNodes: env.TargetLowPriorityNodes,
		NodeDeallocationOption: opt,
		Variables: []Variable{
			{"$TargetDedicatedNodes", doubleValue(float64(env.TargetDedicatedNodes))},
			{"$TargetLowPriorityNodes", doubleValue(float64(env.TargetLowPriorityNodes))},
			{"$NodeDeallocationOption", stringValue(string(opt))},
		},
	}
}

// Eval parses and evaluates src, like Azure's evaluate-autoscale. On error
// the Result is Unchanged(env), so that its String is still the results
// string Azure would show.
func Eval(src string, env Env) (Result, error) {
	f, err := Parse(src)
	if err != nil {
		return Unchanged(env), err
	}
	return f.Evaluate(env)
}

// Evaluate runs the formula's statements in order against env. Evaluation
// is deterministic: the same formula and Env give the same Result. A
// failing statement fails the whole evaluation (*Error with
// CodeInsufficientSampleData or CodeEvaluationFailed) and the Result is
// Unchanged(env); stop() ends it successfully.
func (f *Formula) Evaluate(env Env) (Result, error) {
	e := &evaluator{env: &env, vars: map[string]Value{}, histories: map[Metric]history{}}
	e.dedicated = slot{v: float64(env.TargetDedicatedNodes)}
	e.dedicatedAlias = e.dedicated
	e.lowPriority = slot{v: float64(env.TargetLowPriorityNodes)}
	e.lowPriorityAlias = e.lowPriority
	e.dealloc = Unchanged(env).NodeDeallocationOption
	stopped := false
	for _, s := range f.stmts {
		err := e.statement(s)
		if errors.Is(err, errStop) {
			stopped = true
			break
		}
		if err != nil {
			return Unchanged(env), err
		}
	}
	r, err := e.result()
	if err != nil {
		return Unchanged(env), err
	}
	r.Stopped = stopped
	return r, nil
}

// slot holds a read-write target variable.
type slot struct {
	v   float64
	set bool
	at  pos // of the assignment
}

// evaluator is the state of one evaluation.
type evaluator struct {
	env  *Env
	vars map[string]Value // user variables
	// The read-write targets; each alias has its own slot.
	dedicated, dedicatedAlias     slot
	lowPriority, lowPriorityAlias slot
	dealloc                       NodeDeallocationOption
	histories                     map[Metric]history // per metric, built on first use
}

func (e *evaluator) statement(s *statement) error {
	v, err := e.expr(s.x)
	if err != nil {
		return err
	}
	switch s.kind {
	case stmtAssign:
		e.vars[s.target] = v
	case stmtAssignSvc:
		set := slot{v: v.num, set: true, at: s.p}
		switch {
		case s.sv.kind == svcTargetDedicated && s.sv.alias:
			e.dedicatedAlias = set
		case s.sv.kind == svcTargetDedicated:
			e.dedicated = set
		case s.sv.kind == svcTargetLowPriority && s.sv.alias:
			e.lowPriorityAlias = set
		case s.sv.kind == svcTargetLowPriority:
			e.lowPriority = set
		case s.sv.kind == svcDeallocation:
			opt, ok := parseDeallocation(v.str)
			if !ok {
				return evalError(s.x.at(), "%s is not a $NodeDeallocationOption (requeue, terminate, taskcompletion or retaineddata)", quote(v.str))
			}
			e.dealloc = opt
		}
	}
	return nil
}

// result builds the Result from the final values.
func (e *evaluator) result() (Result, error) {
	final := func(full, alias slot) slot {
		if !full.set && alias.set {
			return alias
		}
		return full
	}
	dedicated := final(e.dedicated, e.dedicatedAlias)
	lowPriority := final(e.lowPriority, e.lowPriorityAlias)
	r := Result{NodeDeallocationOption: e.dealloc}
	var err error
	if r.TargetDedicatedNodes, err = nodeCount("$TargetDedicatedNodes", dedicated); err != nil {
		return Result{}, err
	}
	if r.TargetLowPriorityNodes, err = nodeCount("$TargetLowPriorityNodes", lowPriority); err != nil {
		return Result{}, err
	}
	r.Variables = []Variable{
		{"$TargetDedicatedNodes", doubleValue(dedicated.v)},
		{"$TargetLowPriorityNodes", doubleValue(lowPriority.v)},
		{"$NodeDeallocationOption", stringValue(string(e.dealloc))},
	}
	names := make([]string, 0, len(e.vars))
	for name := range e.vars {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		r.Variables = append(r.Variables, Variable{name, e.vars[name]})
	}
	return r, nil
}

// nodeCount turns a target into a node count: truncated toward zero, and
// an error when not finite, negative or absurdly large. (Azure's behaviour
// for negative targets is not documented; its examples all clamp with
// max(0, ...), and failing tells the user to do the same.)
func nodeCount(name string, s slot) (int, error) {
	switch n := math.Trunc(s.v); {
	case math.IsNaN(s.v) || math.IsInf(s.v, 0):
		return 0, evalError(s.at, "%s is %s, not a number of nodes", name, formatDouble(s.v))
	case n < 0:
		return 0, evalError(s.at, "%s is negative (%s); clamp it with max(0, ...)", name, formatDouble(s.v))
	case n > math.MaxInt32:
		return 0, evalError(s.at, "%s is too large (%s)", name, formatDouble(s.v))
	default:
		return int(n), nil
	}
}

// expr evaluates an expression. The parser has checked every type, so
// each case can rely on its operands' types.
func (e *evaluator) expr(x expr) (Value, error) {
	switch x := x.(type) {
	case *numberLit:
		return doubleValue(x.v), nil
	case *stringLit:
		return stringValue(x.v), nil
	case *constRef:
		return x.v, nil
	case *varRef:
		return e.vars[x.name], nil
	case *serviceRef:
		return e.service(x.sv), nil
	case *unaryExpr:
		v, err := e.expr(x.x)
		if err != nil {
			return Value{}, err
		}
		return unaryOp(x, v)
	case *binaryExpr:
		return e.binary(x)
	case *condExpr:
		c, err := e.expr(x.c)
		if err != nil {
			return Value{}, err
		}
		if c.num != 0 {
			return e.expr(x.a)
		}
		return e.expr(x.b)
	case *callExpr:
		args, err := e.exprs(x.args)
		if err != nil {
			return Value{}, err
		}
		return builtins[x.name].eval(e.env, x, args)
	case *memberExpr:
		v, err := e.expr(x.x)
		if err != nil {
			return Value{}, err
		}
		return doubleValue(timestampMembers[x.name](v.ts)), nil
	case *methodExpr:
		return e.method(x)
	}
	panic("autoscale: unknown expression node") // the parser builds only the nodes above
}

func (e *evaluator) exprs(xs []expr) ([]Value, error) {
	vs := make([]Value, len(xs))
	for i, x := range xs {
		v, err := e.expr(x)
		if err != nil {
			return nil, err
		}
		vs[i] = v
	}
	return vs, nil
}

// service reads a non-sampled service variable.
func (e *evaluator) service(sv serviceVar) Value {
	switch sv.kind {
	case svcTargetDedicated:
		if sv.alias {
			return doubleValue(e.dedicatedAlias.v)
		}
		return doubleValue(e.dedicated.v)
	case svcTargetLowPriority:
		if sv.alias {
			return doubleValue(e.lowPriorityAlias.v)
		}
		return doubleValue(e.lowPriority.v)
	case svcDeallocation:
		return stringValue(string(e.dealloc))
	case svcCurrentDedicated:
		return doubleValue(float64(e.env.CurrentDedicatedNodes))
	case svcCurrentLowPriority:
		return doubleValue(float64(e.env.CurrentLowPriorityNodes))
	default: // svcTaskSlots
		return doubleValue(float64(e.env.TaskSlotsPerNode))
	}
}

func truth(b bool) Value {
	if b {
		return doubleValue(1)
	}
	return doubleValue(0)
}

func unaryOp(x *unaryExpr, v Value) (Value, error) {
	switch {
	case x.op == tNot:
		return truth(v.num == 0), nil
	case v.typ == TypeTimeInterval:
		if v.ti == math.MinInt64 {
			return Value{}, evalError(x.p, "time interval out of range")
		}
		return intervalValue(-v.ti), nil
	default:
		return doubleValue(-v.num), nil
	}
}

// binary evaluates x op y; && and || evaluate y only when x does not
// decide the result.
func (e *evaluator) binary(b *binaryExpr) (Value, error) {
	x, err := e.expr(b.x)
	if err != nil {
		return Value{}, err
	}
	switch {
	case b.op == tAnd && x.num == 0:
		return doubleValue(0), nil
	case b.op == tOr && x.num != 0:
		return doubleValue(1), nil
	}
	y, err := e.expr(b.y)
	if err != nil {
		return Value{}, err
	}
	switch b.op {
	case tAnd, tOr:
		return truth(y.num != 0), nil
	case tLT, tLE, tGT, tGE, tEQ, tNE:
		return compare(b.op, x, y), nil
	}
	at := b.opAt
	switch {
	case x.typ == TypeDouble && y.typ == TypeDouble:
		return doubleValue(arith(b.op, x.num, y.num)), nil
	case x.typ == TypeDoubleVec && y.typ == TypeDouble:
		out := make([]float64, len(x.vec))
		for i, f := range x.vec {
			out[i] = arith(b.op, f, y.num)
		}
		return vecValue(out), nil
	case x.typ == TypeDoubleVec:
		if len(x.vec) != len(y.vec) {
			return Value{}, evalError(at, "operator %s needs doubleVecs of the same length, got %d and %d", b.op, len(x.vec), len(y.vec))
		}
		out := make([]float64, len(x.vec))
		for i, f := range x.vec {
			out[i] = arith(b.op, f, y.vec[i])
		}
		return vecValue(out), nil
	case x.typ == TypeDouble: // double * timeinterval
		return scaleInterval(float64(y.ti)*x.num, at)
	case x.typ == TypeTimeInterval && y.typ == TypeDouble && b.op == tStar:
		return scaleInterval(float64(x.ti)*y.num, at)
	case x.typ == TypeTimeInterval && y.typ == TypeDouble: // division
		if y.num == 0 {
			return Value{}, evalError(at, "division of a time interval by zero")
		}
		return scaleInterval(float64(x.ti)/y.num, at)
	case x.typ == TypeTimeInterval && y.typ == TypeTimeInterval:
		if b.op == tMinus {
			if y.ti == math.MinInt64 {
				return Value{}, evalError(at, "time interval out of range")
			}
			y.ti = -y.ti
		}
		s := x.ti + y.ti
		if x.ti > 0 && y.ti > 0 && s < 0 || x.ti < 0 && y.ti < 0 && s >= 0 {
			return Value{}, evalError(at, "time interval out of range")
		}
		return intervalValue(s), nil
	case x.typ == TypeTimeInterval: // timeinterval + timestamp
		return addTime(y.ts, x.ti, at)
	case y.typ == TypeTimeInterval: // timestamp + timeinterval
		return addTime(x.ts, y.ti, at)
	default: // timestamp - timestamp
		d := x.ts.Sub(y.ts)
		if !y.ts.Add(d).Equal(x.ts) {
			return Value{}, evalError(at, "time interval out of range")
		}
		return intervalValue(d), nil
	}
}

func arith(op tokKind, a, b float64) float64 {
	switch op {
	case tPlus:
		return a + b
	case tMinus:
		return a - b
	case tStar:
		return a * b
	default:
		return a / b // IEEE: x/0 is ±Infinity or NaN, as in .NET
	}
}

// scaleInterval converts a product or quotient in nanoseconds back to a
// time interval, failing when it does not fit.
func scaleInterval(ns float64, at pos) (Value, error) {
	if math.IsNaN(ns) || ns >= math.MaxInt64 || ns < math.MinInt64 {
		return Value{}, evalError(at, "time interval out of range")
	}
	return intervalValue(time.Duration(ns)), nil
}

// addTime adds d to t, keeping within .NET's DateTime range (years 1-9999).
func addTime(t time.Time, d time.Duration, at pos) (Value, error) {
	r := t.Add(d)
	if y := r.Year(); y < 1 || y > 9999 {
		return Value{}, evalError(at, "timestamp out of range")
	}
	return timestampValue(r), nil
}

// compare evaluates a comparison of two values of the same type. Doubles
// follow IEEE (comparisons with NaN are false, except !=); strings compare
// by bytes.
func compare(op tokKind, x, y Value) Value {
	if x.typ == TypeDouble {
		a, b := x.num, y.num
		switch op {
		case tLT:
			return truth(a < b)
		case tLE:
			return truth(a <= b)
		case tGT:
			return truth(a > b)
		case tGE:
			return truth(a >= b)
		case tEQ:
			return truth(a == b)
		default:
			return truth(a != b)
		}
	}
	var c int
	switch x.typ {
	case TypeString:
		c = strings.Compare(x.str, y.str)
	case TypeTimestamp:
		c = x.ts.Compare(y.ts)
	default:
		c = cmp.Compare(x.ti, y.ti)
	}
	switch op {
	case tLT:
		return truth(c < 0)
	case tLE:
		return truth(c <= 0)
	case tGT:
		return truth(c > 0)
	case tGE:
		return truth(c >= 0)
	case tEQ:
		return truth(c == 0)
	default:
		return truth(c != 0)
	}
}

// history returns m's samples as this evaluation sees them.
func (e *evaluator) history(m Metric) history {
	if h, ok := e.histories[m]; ok {
		return h
	}
	var s Series
	if e.env.Samples != nil {
		s = e.env.Samples.Series(m)
	}
	h := visibleHistory(s, e.env.Now, max(0, e.env.SampleDelay))
	e.histories[m] = h
	return h
}

// instant turns a window bound into a time: a timestamp is itself, a time
// interval is a look-back from Now.
func (e *evaluator) instant(v Value) time.Time {
	if v.typ == TypeTimestamp {
		return v.ts
	}
	return e.env.Now.Add(-v.ti)
}

// method evaluates a sample method. The window methods count the samples in
// (start, end], end defaulting to Now; the two bounds may come in either
// order, since Azure's own examples write GetSample(1 * TimeInterval_Minute,
// 6 * TimeInterval_Minute) for the window from 6 to 1 minute ago.
func (e *evaluator) method(x *methodExpr) (Value, error) {
	args, err := e.exprs(x.args)
	if err != nil {
		return Value{}, err
	}
	h := e.history(x.metric)
	switch x.name {
	case "GetSamplePeriod":
		return intervalValue(SamplePeriod), nil
	case "Count":
		return doubleValue(float64(len(h))), nil
	case "HistoryBeginTime":
		t, ok := h.oldest()
		if !ok {
			return Value{}, evalError(x.p, "%s has no samples, so no HistoryBeginTime", x.metric)
		}
		return timestampValue(t), nil
	case "GetSample":
		if args[0].typ == TypeDouble {
			n := args[0].num
			if !(n >= 0) {
				return Value{}, evalError(x.args[0].at(), "GetSample count %s is negative", formatDouble(n))
			}
			return vecValue(h.last(int(min(n, float64(len(h)))))), nil
		}
	}
	start, end := e.instant(args[0]), e.env.Now
	var want *Value
	switch {
	case len(args) >= 2 && isTime(args[1].typ):
		end = e.instant(args[1])
		if len(args) == 3 {
			want = &args[2]
		}
	case len(args) == 2:
		want = &args[1]
	}
	vals, percent := h.window(start, end)
	if x.name == "GetSamplePercent" {
		return doubleValue(percent), nil
	}
	if want != nil {
		p := want.num
		if !(p >= 0 && p <= 100) {
			return Value{}, evalError(x.args[len(x.args)-1].at(), "samplePercent %s is not between 0 and 100", formatDouble(p))
		}
		if percent < p {
			return Value{}, &Error{Code: CodeInsufficientSampleData, Line: x.p.line, Col: x.p.col,
				Msg: "insufficient data from data set: " + x.metric.String() + " wanted " + formatDouble(p) + "%, received " + formatDouble(percent) + "%"}
		}
	}
	return vecValue(vals), nil
}
