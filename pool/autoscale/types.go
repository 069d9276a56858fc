package autoscale

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Type is the type of a formula value. The zero value is invalid.
type Type int

// The formula types. doubleVecList is not a type of its own: it is the
// argument list of the list functions (avg, len, ...), each argument a double
// or a doubleVec.
const (
	typeInvalid Type = iota
	// TypeDouble is a float64; conditions treat nonzero as true.
	TypeDouble
	// TypeDoubleVec is a vector of doubles (what GetSample returns).
	TypeDoubleVec
	// TypeString is a string (time("...") arguments, $NodeDeallocationOption).
	TypeString
	// TypeTimestamp is a UTC time with the members year, month, day,
	// weekday (1 = Monday ... 7 = Sunday), hour, minute and second.
	TypeTimestamp
	// TypeTimeInterval is a duration (TimeInterval_* constants).
	TypeTimeInterval

	// typeMetric is a sampled service variable such as $CPUPercent: it has
	// methods (GetSample, ...) but no value of its own.
	typeMetric
	// typeNone is the "type" of stop(): it never yields a value.
	typeNone
)

var typeNames = [...]string{"invalid", "double", "doubleVec", "string", "timestamp", "timeinterval",
	"sampled metric", "stop() (no value)"}

// String returns Azure's name for the type.
func (t Type) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Value is a formula value. Its accessors return the zero value of their
// result when the Value has another type.
type Value struct {
	typ Type
	num float64
	vec []float64
	str string
	ts  time.Time
	ti  time.Duration
}

func doubleValue(f float64) Value         { return Value{typ: TypeDouble, num: f} }
func vecValue(v []float64) Value          { return Value{typ: TypeDoubleVec, vec: v} }
func stringValue(s string) Value          { return Value{typ: TypeString, str: s} }
func timestampValue(t time.Time) Value    { return Value{typ: TypeTimestamp, ts: t.UTC()} }
func intervalValue(d time.Duration) Value { return Value{typ: TypeTimeInterval, ti: d} }

// Type returns the value's type.
func (v Value) Type() Type { return v.typ }

// Double returns a double value.
func (v Value) Double() float64 { return v.num }

// DoubleVec returns a copy of a doubleVec value.
func (v Value) DoubleVec() []float64 { return append([]float64(nil), v.vec...) }

// Text returns a string value.
func (v Value) Text() string { return v.str }

// Timestamp returns a timestamp value (UTC).
func (v Value) Timestamp() time.Time { return v.ts }

// TimeInterval returns a timeinterval value.
func (v Value) TimeInterval() time.Duration { return v.ti }

// String formats the value as Azure's AutoScaleRun results do: doubles with
// six significant digits (96.6667, 0.5, 3), vectors as [1,2,3], timestamps
// as 2016-10-13T19:18:47.805Z, strings as they are. Azure's format for time
// intervals is not documented; embatch uses .NET's TimeSpan format
// [-][d.]hh:mm:ss[.fffffff], the service being written in .NET.
func (v Value) String() string {
	switch v.typ {
	case TypeDouble:
		return formatDouble(v.num)
	case TypeDoubleVec:
		var b strings.Builder
		b.WriteByte('[')
		for i, f := range v.vec {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(formatDouble(f))
		}
		b.WriteByte(']')
		return b.String()
	case TypeString:
		return v.str
	case TypeTimestamp:
		return v.ts.UTC().Format("2006-01-02T15:04:05.000Z")
	case TypeTimeInterval:
		return formatInterval(v.ti)
	}
	return ""
}

// formatDouble formats f as %g with six significant digits, which is what
// Azure's results show ("$samples=96.6667" for 29 of 30 samples).
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

// formatInterval formats d as .NET's TimeSpan "c" format.
func formatInterval(d time.Duration) string {
	var b strings.Builder
	u := uint64(d)
	if d < 0 {
		b.WriteByte('-')
		u = uint64(-(d + 1)) + 1
	}
	ticks := u / 100 // .NET ticks are 100 ns
	const perSecond = 10_000_000
	secs := ticks / perSecond
	frac := ticks % perSecond
	days, h, m, s := secs/86400, secs/3600%24, secs/60%60, secs%60
	if days > 0 {
		b.WriteString(strconv.FormatUint(days, 10))
		b.WriteByte('.')
	}
	two := func(n uint64) {
		if n < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.FormatUint(n, 10))
	}
	two(h)
	b.WriteByte(':')
	two(m)
	b.WriteByte(':')
	two(s)
	if frac > 0 {
		f := strconv.FormatUint(frac, 10)
		b.WriteByte('.')
		b.WriteString(strings.Repeat("0", 7-len(f)))
		b.WriteString(f)
	}
	return b.String()
}
