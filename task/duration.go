package task

import (
	"encoding/json"
	"fmt"
	"math"
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

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as an ISO-8601 duration.
func (d Duration) String() string {
	if d < 0 {
		return "-" + Duration(-d).String()
	}
	if d == Unlimited {
		return "P10675199DT2H48M5.4775807S"
	}
	var b strings.Builder
	b.WriteString("P")
	total := time.Duration(d)
	days := total / (24 * time.Hour)
	total -= days * 24 * time.Hour
	if days > 0 {
		fmt.Fprintf(&b, "%dD", days)
	}
	if total == 0 && days > 0 {
		return b.String()
	}
	b.WriteString("T")
	h := total / time.Hour
	total -= h * time.Hour
	m := total / time.Minute
	total -= m * time.Minute
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if total > 0 || (h == 0 && m == 0) {
		s := strconv.FormatFloat(total.Seconds(), 'f', -1, 64)
		b.WriteString(s + "S")
	}
	return b.String()
}

// ParseDuration parses an ISO-8601 duration such as "PT15M", "P2D",
// "P1DT2H30M", "PT0.25S" or "P1W". A leading "-" is rejected: no Batch
// duration is negative.
func ParseDuration(s string) (Duration, error) {
	if s == "P10675199DT2H48M5.4775807S" {
		return Unlimited, nil
	}
	bad := func(why string) (Duration, error) {
		return 0, fmt.Errorf("invalid ISO-8601 duration %q: %s", s, why)
	}
	if len(s) < 2 || s[0] != 'P' {
		return bad(`must start with "P", for example "PT15M"`)
	}
	rest := s[1:]
	var total float64 // nanoseconds
	inTime := false
	seen := false
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
		num, err := strconv.ParseFloat(strings.ReplaceAll(rest[:i], ",", "."), 64)
		if err != nil {
			return bad("bad number " + strconv.Quote(rest[:i]))
		}
		unit := rest[i]
		rest = rest[i+1:]
		var scale float64
		switch {
		case !inTime && unit == 'W':
			scale = float64(7 * 24 * time.Hour)
		case !inTime && unit == 'D':
			scale = float64(24 * time.Hour)
		case !inTime && (unit == 'Y' || unit == 'M'):
			return bad("years and months have no fixed length; use days")
		case inTime && unit == 'H':
			scale = float64(time.Hour)
		case inTime && unit == 'M':
			scale = float64(time.Minute)
		case inTime && unit == 'S':
			scale = float64(time.Second)
		default:
			return bad(fmt.Sprintf("unknown unit %q", unit))
		}
		total += num * scale
		seen = true
	}
	if !seen {
		return bad("no components")
	}
	if total >= math.MaxInt64 {
		return Unlimited, nil
	}
	return Duration(int64(math.Round(total))), nil
}

// MarshalJSON writes d as an ISO-8601 string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads an ISO-8601 string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be an ISO-8601 string such as \"PT15M\", got %s", b)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
