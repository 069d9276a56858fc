package autoscale

import (
	"errors"
	"math"
	"slices"
	"strings"
	"time"
)

// builtin is a predefined function: check types its call, eval computes it
// from the evaluated arguments.
type builtin struct {
	check func(c *callExpr) (Type, error)
	eval  func(env *Env, c *callExpr, args []Value) (Value, error)
}

// errStop is how stop() ends an evaluation; Evaluate turns it into success.
var errStop = errors.New("stop()")

// builtins are Azure's functions by name. The list functions take a
// doubleVecList: any number of doubles and doubleVecs, flattened into one
// vector (avg(v, 7) is avg(1, 2, 3, 7) for v = [1, 2, 3]).
var builtins = map[string]builtin{
	"avg": listFunc("avg", func(v []float64) (float64, bool) {
		if len(v) == 0 {
			return 0, false
		}
		return sum(v) / float64(len(v)), true
	}),
	"len": listFunc("len", func(v []float64) (float64, bool) { return float64(len(v)), true }),
	"max": listFunc("max", func(v []float64) (float64, bool) {
		if len(v) == 0 {
			return 0, false
		}
		return slices.Max(v), true
	}),
	"min": listFunc("min", func(v []float64) (float64, bool) {
		if len(v) == 0 {
			return 0, false
		}
		return slices.Min(v), true
	}),
	"norm": listFunc("norm", func(v []float64) (float64, bool) {
		s := 0.0
		for _, f := range v {
			s += f * f
		}
		return math.Sqrt(s), true
	}),
	"range": listFunc("range", func(v []float64) (float64, bool) {
		if len(v) == 0 {
			return 0, false
		}
		return slices.Max(v) - slices.Min(v), true
	}),
	"std": listFunc("std", func(v []float64) (float64, bool) {
		switch len(v) {
		case 0:
			return 0, false
		case 1:
			return 0, true
		}
		mean := sum(v) / float64(len(v))
		s := 0.0
		for _, f := range v {
			s += (f - mean) * (f - mean)
		}
		return math.Sqrt(s / float64(len(v)-1)), true
	}),
	"sum":        listFunc("sum", func(v []float64) (float64, bool) { return sum(v), true }),
	"lg":         logFunc("lg", math.Log2),
	"ln":         logFunc("ln", math.Log),
	"log":        logFunc("log", math.Log10),
	"percentile": {check: vecAndDouble("percentile", "v", "p"), eval: percentile},
	"val":        {check: vecAndDouble("val", "v", "i"), eval: val},
	"rand": {
		check: noArgs("rand", TypeDouble),
		eval: func(env *Env, c *callExpr, _ []Value) (Value, error) {
			if env.Rand == nil {
				return Value{}, evalError(c.p, "rand() needs a random source (Env.Rand is nil)")
			}
			return doubleValue(env.Rand.Float64()), nil
		},
	},
	"stop": {
		check: noArgs("stop", typeNone),
		eval:  func(*Env, *callExpr, []Value) (Value, error) { return Value{}, errStop },
	},
	"time": {check: checkTime, eval: evalTime},
}

func sum(v []float64) float64 {
	s := 0.0
	for _, f := range v {
		s += f
	}
	return s
}

// checkList requires every argument to be a double or a doubleVec.
func checkList(name string, args []expr) error {
	for i, a := range args {
		if t := a.typ(); t != TypeDouble && t != TypeDoubleVec {
			return syntaxError(a.at(), "argument %d of %s must be a double or a doubleVec, not a %s", i+1, name, t)
		}
	}
	return nil
}

// flatten turns a doubleVecList into one vector.
func flatten(args []Value) []float64 {
	var v []float64
	for _, a := range args {
		if a.typ == TypeDouble {
			v = append(v, a.num)
		} else {
			v = append(v, a.vec...)
		}
	}
	return v
}

// listFunc is a doubleVecList -> double function; f reports false when the
// list is empty and the function is undefined.
func listFunc(name string, f func([]float64) (float64, bool)) builtin {
	return builtin{
		check: func(c *callExpr) (Type, error) { return TypeDouble, checkList(name, c.args) },
		eval: func(_ *Env, c *callExpr, args []Value) (Value, error) {
			r, ok := f(flatten(args))
			if !ok {
				return Value{}, evalError(c.p, "%s of an empty list", name)
			}
			return doubleValue(r), nil
		},
	}
}

// logFunc is lg, ln or log: double -> double when called with one double,
// doubleVecList -> doubleVec (component-wise) otherwise.
func logFunc(name string, f func(float64) float64) builtin {
	return builtin{
		check: func(c *callExpr) (Type, error) {
			if err := checkList(name, c.args); err != nil {
				return typeInvalid, err
			}
			if len(c.args) == 1 && c.args[0].typ() == TypeDouble {
				return TypeDouble, nil
			}
			return TypeDoubleVec, nil
		},
		eval: func(_ *Env, c *callExpr, args []Value) (Value, error) {
			if c.t == TypeDouble {
				return doubleValue(f(args[0].num)), nil
			}
			v := flatten(args)
			out := make([]float64, len(v))
			for i, x := range v {
				out[i] = f(x)
			}
			return vecValue(out), nil
		},
	}
}

// vecAndDouble checks (doubleVec, double) arguments.
func vecAndDouble(name, vName, dName string) func(c *callExpr) (Type, error) {
	return func(c *callExpr) (Type, error) {
		if len(c.args) != 2 {
			return typeInvalid, syntaxError(c.p, "%s takes 2 arguments (doubleVec %s, double %s), got %d", name, vName, dName, len(c.args))
		}
		if t := c.args[0].typ(); t != TypeDoubleVec {
			return typeInvalid, syntaxError(c.args[0].at(), "argument %s of %s must be a doubleVec, not a %s", vName, name, t)
		}
		if t := c.args[1].typ(); t != TypeDouble {
			return typeInvalid, syntaxError(c.args[1].at(), "argument %s of %s must be a double, not a %s", dName, name, t)
		}
		return TypeDouble, nil
	}
}

func noArgs(name string, t Type) func(c *callExpr) (Type, error) {
	return func(c *callExpr) (Type, error) {
		if len(c.args) != 0 {
			return typeInvalid, syntaxError(c.p, "%s takes no arguments, got %d", name, len(c.args))
		}
		return t, nil
	}
}

// percentile returns the element of v at percentile p (0 to 100) by the
// nearest-rank method: the smallest element with at least p percent of
// the elements at or below it.
func percentile(_ *Env, c *callExpr, args []Value) (Value, error) {
	v, p := args[0].vec, args[1].num
	if len(v) == 0 {
		return Value{}, evalError(c.p, "percentile of an empty doubleVec")
	}
	if !(p >= 0 && p <= 100) {
		return Value{}, evalError(c.args[1].at(), "percentile %s is not between 0 and 100", formatDouble(p))
	}
	sorted := slices.Clone(v)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return doubleValue(sorted[max(rank, 1)-1]), nil
}

// val returns v[i], counting from 0; i is truncated to an integer.
func val(_ *Env, c *callExpr, args []Value) (Value, error) {
	v, i := args[0].vec, args[1].num
	if !(i > -1 && i < float64(len(v))) {
		return Value{}, evalError(c.args[1].at(), "val index %s is out of range for a doubleVec of length %d", formatDouble(i), len(v))
	}
	return doubleValue(v[int(i)]), nil
}

// checkTime allows time() and time(string); a literal string must parse
// or be "" (the current time, the documented default).
func checkTime(c *callExpr) (Type, error) {
	switch len(c.args) {
	case 0:
		return TypeTimestamp, nil
	case 1:
		a := c.args[0]
		if a.typ() != TypeString {
			return typeInvalid, syntaxError(a.at(), "argument of time must be a string, not a %s", a.typ())
		}
		if lit, ok := a.(*stringLit); ok && lit.v != "" {
			if _, err := parseTime(lit.v); err != nil {
				return typeInvalid, syntaxError(a.at(), "%v", err)
			}
		}
		return TypeTimestamp, nil
	}
	return typeInvalid, syntaxError(c.p, "time takes 0 or 1 arguments, got %d", len(c.args))
}

func evalTime(env *Env, c *callExpr, args []Value) (Value, error) {
	if len(args) == 0 || args[0].str == "" {
		return timestampValue(env.Now), nil
	}
	t, err := parseTime(args[0].str)
	if err != nil {
		return Value{}, evalError(c.args[0].at(), "%v", err)
	}
	return timestampValue(t), nil
}

// timeLayouts are the dateTime formats time() accepts: RFC 1123 (what .NET's
// DateTime.ToString("r") writes, as in Azure's example 4) and the W3C-DTF
// profiles of ISO 8601. A date-time without a zone is taken as UTC.
var timeLayouts = []string{
	time.RFC1123, time.RFC1123Z,
	"2006", "2006-01", "2006-01-02",
	"2006-01-02T15:04Z07:00", time.RFC3339,
	"2006-01-02T15:04", "2006-01-02T15:04:05",
}

// parseTime parses a time() argument.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("time: " + quote(s) + " is neither an RFC 1123 nor a W3C-DTF date-time")
}

func quote(s string) string { return "\"" + s + "\"" }
