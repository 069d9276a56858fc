package task

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes ISO-8601 durations in JSON
// ("PT15M", "P1DT2H", "PT0.5S") as Azure Batch does. Years and months are
// rejected because their length is not fixed. The zero Duration is "PT0S".
type Duration time.Duration

// Unlimited is Azure's "no limit" duration, P10675199DT2H48M5.4775807S
// (the largest .NET TimeSpan, which equals math.MaxInt64 100-ns ticks).
// Durations at or above it are treated as no limit.
const Unlimited = Duration(math.MaxInt64)

// unlimitedISO is how Azure writes Unlimited.
const unlimitedISO = "P10675199DT2H48M5.4775807S"

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as an ISO-8601 duration. The seconds are written exactly
// (up to nanoseconds), so ParseDuration(d.String()) == d for every d >= 0.
// A negative d is written with a leading "-", which ParseDuration rejects.
func (d Duration) String() string {
	if d == Unlimited {
		return unlimitedISO
	}
	var b strings.Builder
	// Work on the magnitude as uint64: -math.MinInt64 does not fit in an
	// int64.
	u := uint64(d)
	if d < 0 {
		b.WriteString("-")
		u = -u
	}
	const (
		sec  = uint64(time.Second)
		min  = uint64(time.Minute)
		hour = uint64(time.Hour)
		day  = 24 * hour
	)
	b.WriteString("P")
	days := u / day
	u -= days * day
	if days > 0 {
		fmt.Fprintf(&b, "%dD", days)
	}
	if u == 0 && days > 0 {
		return b.String()
	}
	b.WriteString("T")
	h := u / hour
	u -= h * hour
	m := u / min
	u -= m * min
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if u > 0 || (h == 0 && m == 0) {
		b.WriteString(strconv.FormatUint(u/sec, 10))
		if frac := u % sec; frac > 0 {
			b.WriteString(strings.TrimRight(fmt.Sprintf(".%09d", frac), "0"))
		}
		b.WriteString("S")
	}
	return b.String()
}

// maxNumberLen bounds one number of an ISO-8601 duration so that parsing
// hostile input stays cheap; no meaningful duration needs more digits.
const maxNumberLen = 40

// ParseDuration parses an ISO-8601 duration such as "PT15M", "P2D",
// "P1DT2H30M", "PT0.25S" or "P1W". Designators must appear at most once and
// in order (W, D, then after "T": H, M, S); a decimal fraction (with "." or
// ",") is allowed on any of them and the result is rounded to the nearest
// nanosecond. Durations at or above Unlimited are returned as Unlimited. A
// leading "-" is rejected: no Batch duration is negative. Errors are *Error
// with code InvalidPropertyValue.
func ParseDuration(s string) (Duration, error) {
	if s == unlimitedISO {
		return Unlimited, nil
	}
	bad := func(why string) (Duration, error) {
		return 0, &Error{Code: CodeInvalidPropertyValue, Value: s,
			Message: fmt.Sprintf("invalid ISO-8601 duration %q: %s", s, why)}
	}
	if len(s) < 2 || s[0] != 'P' {
		return bad(`must start with "P", for example "PT15M"`)
	}
	rest := s[1:]
	total := new(big.Rat) // nanoseconds
	inTime := false
	seen := false
	// order ranks the designators; each must come after the previous one.
	order := map[bool]map[byte]int{
		false: {'W': 1, 'D': 2},
		true:  {'H': 3, 'M': 4, 'S': 5},
	}
	last := 0
	for len(rest) > 0 {
		if rest[0] == 'T' {
			if inTime {
				return bad(`"T" appears twice`)
			}
			inTime = true
			rest = rest[1:]
			if rest == "" {
				return bad(`nothing after "T"`)
			}
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.' || rest[i] == ',') {
			i++
		}
		if i == 0 || i == len(rest) {
			return bad("expected a number followed by a unit")
		}
		if i > maxNumberLen {
			return bad("number too long")
		}
		numText := strings.ReplaceAll(rest[:i], ",", ".")
		num, ok := new(big.Rat).SetString(numText)
		if !ok || strings.Count(numText, ".") > 1 {
			return bad("bad number " + strconv.Quote(rest[:i]))
		}
		unit := rest[i]
		rest = rest[i+1:]
		var scale time.Duration
		switch {
		case !inTime && unit == 'W':
			scale = 7 * 24 * time.Hour
		case !inTime && unit == 'D':
			scale = 24 * time.Hour
		case !inTime && (unit == 'Y' || unit == 'M'):
			return bad("years and months have no fixed length; use days")
		case inTime && unit == 'H':
			scale = time.Hour
		case inTime && unit == 'M':
			scale = time.Minute
		case inTime && unit == 'S':
			scale = time.Second
		default:
			return bad(fmt.Sprintf("unknown unit %q", unit))
		}
		rank := order[inTime][unit]
		if rank <= last {
			return bad(fmt.Sprintf("unit %q is repeated or out of order", unit))
		}
		last = rank
		total.Add(total, num.Mul(num, new(big.Rat).SetInt64(int64(scale))))
		seen = true
	}
	if !seen {
		return bad("no components")
	}
	// Round half up to whole nanoseconds.
	q, r := new(big.Int).QuoRem(total.Num(), total.Denom(), new(big.Int))
	if r.Lsh(r, 1).Cmp(total.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() || q.Int64() >= int64(Unlimited) {
		return Unlimited, nil
	}
	return Duration(q.Int64()), nil
}

// MarshalJSON writes d as an ISO-8601 string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads an ISO-8601 string. JSON null leaves d unchanged, as
// encoding/json does for other types.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &Error{Code: CodeInvalidPropertyValue, Value: string(b),
			Message: fmt.Sprintf("duration must be an ISO-8601 string such as \"PT15M\", got %s", b)}
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
