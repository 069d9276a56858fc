package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Dist is a distribution of non-negative values in seconds, written as
// KIND:PARAMS:
//
//	const:S            always S
//	exp:MEAN           exponential with mean MEAN
//	uniform:A,B        uniform on [A, B)
//	lognormal:MU,SIGMA exp(N(MU, SIGMA²)) (MU and SIGMA of the log, in log-seconds)
//
// The zero Dist is invalid; use ParseDist.
type Dist struct {
	kind string
	a, b float64
}

// ParseDist reads a distribution spec such as "exp:30". The error names the
// spec and the part that is wrong.
func ParseDist(spec string) (Dist, error) {
	kind, params, ok := strings.Cut(strings.TrimSpace(spec), ":")
	if !ok {
		return Dist{}, fmt.Errorf("distribution %q: want KIND:PARAMS (const:S, exp:MEAN, uniform:A,B, lognormal:MU,SIGMA)", spec)
	}
	nums, err := parseNums(spec, params)
	if err != nil {
		return Dist{}, err
	}
	d := Dist{kind: kind}
	want := 1
	switch kind {
	case "const", "exp":
	case "uniform", "lognormal":
		want = 2
	default:
		return Dist{}, fmt.Errorf("distribution %q: unknown kind %q; want const, exp, uniform or lognormal", spec, kind)
	}
	if len(nums) != want {
		return Dist{}, fmt.Errorf("distribution %q: %s takes %d parameter(s), got %d", spec, kind, want, len(nums))
	}
	d.a = nums[0]
	if want == 2 {
		d.b = nums[1]
	}
	switch {
	case kind == "const" && d.a < 0:
		return Dist{}, fmt.Errorf("distribution %q: the value must be 0 or more", spec)
	case kind == "exp" && d.a <= 0:
		return Dist{}, fmt.Errorf("distribution %q: the mean must be positive", spec)
	case kind == "uniform" && (d.a < 0 || d.b < d.a):
		return Dist{}, fmt.Errorf("distribution %q: want 0 <= A <= B", spec)
	case kind == "lognormal" && d.b < 0:
		return Dist{}, fmt.Errorf("distribution %q: SIGMA must be 0 or more", spec)
	}
	return d, nil
}

// parseNums reads comma-separated finite numbers.
func parseNums(spec, params string) ([]float64, error) {
	var out []float64
	for i, p := range strings.Split(params, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("distribution %q: parameter %d (%q) is not a finite number", spec, i+1, p)
		}
		out = append(out, v)
	}
	return out, nil
}

// Valid reports whether d came from ParseDist.
func (d Dist) Valid() bool { return d.kind != "" }

// Sample draws one value, in seconds, from r.
func (d Dist) Sample(r *rand.Rand) float64 {
	switch d.kind {
	case "const":
		return d.a
	case "exp":
		return r.ExpFloat64() * d.a
	case "uniform":
		return d.a + r.Float64()*(d.b-d.a)
	case "lognormal":
		return math.Exp(d.a + d.b*r.NormFloat64())
	}
	panic("workload: Sample on an invalid Dist")
}

// Mean is the distribution's mean, in seconds.
func (d Dist) Mean() float64 {
	switch d.kind {
	case "const", "exp":
		return d.a
	case "uniform":
		return (d.a + d.b) / 2
	case "lognormal":
		return math.Exp(d.a + d.b*d.b/2)
	}
	return math.NaN()
}

// String is the spec d was parsed from, normalized.
func (d Dist) String() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch d.kind {
	case "const", "exp":
		return d.kind + ":" + f(d.a)
	case "uniform", "lognormal":
		return d.kind + ":" + f(d.a) + "," + f(d.b)
	}
	return ""
}

// Arrival is an arrival process, written as KIND:PARAMS:
//
//	poisson:RATE      Poisson arrivals, RATE tasks per second
//	const:INTERVAL    one task every INTERVAL seconds
//	burst:N,INTERVAL  N tasks at once every INTERVAL seconds
//
// The first arrival is at time 0 for const and burst, and after one drawn
// gap for poisson.
type Arrival struct {
	kind string
	a, b float64
}

// ParseArrival reads an arrival spec such as "poisson:2.5".
func ParseArrival(spec string) (Arrival, error) {
	kind, params, ok := strings.Cut(strings.TrimSpace(spec), ":")
	if !ok {
		return Arrival{}, fmt.Errorf("arrival %q: want KIND:PARAMS (poisson:RATE, const:INTERVAL, burst:N,INTERVAL)", spec)
	}
	nums, err := parseNums(spec, params)
	if err != nil {
		return Arrival{}, fmt.Errorf("arrival%s", strings.TrimPrefix(err.Error(), "distribution"))
	}
	a := Arrival{kind: kind}
	switch kind {
	case "poisson", "const":
		if len(nums) != 1 {
			return Arrival{}, fmt.Errorf("arrival %q: %s takes 1 parameter, got %d", spec, kind, len(nums))
		}
		a.a = nums[0]
		if kind == "poisson" && a.a <= 0 {
			return Arrival{}, fmt.Errorf("arrival %q: the rate must be positive", spec)
		}
		if kind == "const" && a.a < 0 {
			return Arrival{}, fmt.Errorf("arrival %q: the interval must be 0 or more", spec)
		}
	case "burst":
		if len(nums) != 2 {
			return Arrival{}, fmt.Errorf("arrival %q: burst takes 2 parameters (N,INTERVAL), got %d", spec, len(nums))
		}
		a.a, a.b = nums[0], nums[1]
		if a.a < 1 || a.a != math.Trunc(a.a) {
			return Arrival{}, fmt.Errorf("arrival %q: N must be a whole number of tasks, 1 or more", spec)
		}
		if a.b < 0 {
			return Arrival{}, fmt.Errorf("arrival %q: the interval must be 0 or more", spec)
		}
	default:
		return Arrival{}, fmt.Errorf("arrival %q: unknown kind %q; want poisson, const or burst", spec, kind)
	}
	return a, nil
}

// Times returns n arrival times in seconds, non-decreasing, drawing from r.
func (a Arrival) Times(n int, r *rand.Rand) []float64 {
	out := make([]float64, n)
	t := 0.0
	for i := range out {
		switch a.kind {
		case "poisson":
			t += r.ExpFloat64() / a.a
		case "const":
			if i > 0 {
				t += a.a
			}
		case "burst":
			t = math.Floor(float64(i)/a.a) * a.b
		}
		out[i] = t
	}
	return out
}

// Rate is the long-run arrival rate in tasks per second (+Inf when every
// task arrives at once).
func (a Arrival) Rate() float64 {
	switch a.kind {
	case "poisson":
		return a.a
	case "const":
		return 1 / a.a
	case "burst":
		return a.a / a.b
	}
	return math.NaN()
}

// String is the normalized spec.
func (a Arrival) String() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch a.kind {
	case "poisson", "const":
		return a.kind + ":" + f(a.a)
	case "burst":
		return a.kind + ":" + f(a.a) + "," + f(a.b)
	}
	return ""
}
