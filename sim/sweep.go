package sim

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/embatch/embatch/sim/workload"
)

// SweepKeys are the Config fields a sweep can vary, named as `embatch sim`
// names their flags.
var SweepKeys = []string{
	"nodes", "low-priority", "slots", "fill", "policy", "seed",
	"price-dedicated", "price-low-priority", "failure-rate", "preemption-rate", "restart-rate",
	"boot-time", "start-task-time", "recovery-time", "horizon",
}

// Param is one swept parameter: a key of SweepKeys and its values, in
// order.
type Param struct {
	Key    string
	Values []string
}

// ParseSweep reads KEY=A:B:STEP (numbers from A to B inclusive, STEP
// apart), KEY=V1,V2,... (a list, e.g. policy=fcfs,easy) or KEY=V.
func ParseSweep(spec string) (Param, error) {
	key, val, ok := strings.Cut(spec, "=")
	if !ok || key == "" || val == "" {
		return Param{}, fmt.Errorf("sweep %q: want KEY=A:B:STEP or KEY=V1,V2,...", spec)
	}
	if err := (&Config{}).Set(key, ""); err != nil && strings.HasPrefix(err.Error(), "unknown") {
		return Param{}, fmt.Errorf("sweep %q: %v", spec, err)
	}
	p := Param{Key: key}
	if parts := strings.Split(val, ":"); len(parts) == 3 && !strings.Contains(val, ",") && !strings.Contains(parts[0], "const") {
		var nums [3]float64
		for i, s := range parts {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return Param{}, fmt.Errorf("sweep %q: %q is not a number", spec, s)
			}
			nums[i] = v
		}
		a, b, step := nums[0], nums[1], nums[2]
		if step <= 0 || b < a {
			return Param{}, fmt.Errorf("sweep %q: want A <= B and STEP > 0", spec)
		}
		n := int(math.Floor((b-a)/step+1e-9)) + 1
		if n > 10000 {
			return Param{}, fmt.Errorf("sweep %q: %d values; at most 10000", spec, n)
		}
		for i := range n {
			v := a + float64(i)*step
			p.Values = append(p.Values, strconv.FormatFloat(roundSig(v, 12), 'g', -1, 64))
		}
	} else {
		for _, v := range strings.Split(val, ",") {
			if v = strings.TrimSpace(v); v != "" {
				p.Values = append(p.Values, v)
			}
		}
	}
	for _, v := range p.Values {
		var c Config
		if err := c.Set(key, v); err != nil {
			return Param{}, fmt.Errorf("sweep %q: %v", spec, err)
		}
	}
	if len(p.Values) == 0 {
		return Param{}, fmt.Errorf("sweep %q: no values", spec)
	}
	return p, nil
}

// roundSig rounds v to n significant digits (it removes the float noise of
// A + i·STEP).
func roundSig(v float64, n int) float64 {
	if v == 0 {
		return 0
	}
	s := strconv.FormatFloat(v, 'g', n, 64)
	r, _ := strconv.ParseFloat(s, 64)
	return r
}

// Set sets the field named key (one of SweepKeys) from its text. The
// value is checked only for its type; Run checks ranges.
func (c *Config) Set(key, value string) error {
	integer := func(dst *int) error {
		n, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("%s = %q: want a whole number", key, value)
		}
		*dst = n
		return nil
	}
	float := func(dst *float64) error {
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s = %q: want a number", key, value)
		}
		*dst = v
		return nil
	}
	switch key {
	case "nodes":
		return integer(&c.Nodes)
	case "low-priority":
		return integer(&c.LowPriority)
	case "slots":
		return integer(&c.Slots)
	case "seed":
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return fmt.Errorf("seed = %q: want a whole number, 0 or more", value)
		}
		c.Seed = n
	case "fill":
		c.Fill = value
	case "policy":
		c.Policy = value
	case "price-dedicated":
		return float(&c.PriceDedicated)
	case "price-low-priority":
		return float(&c.PriceLowPriority)
	case "failure-rate":
		return float(&c.FailureRate)
	case "preemption-rate":
		return float(&c.PreemptionRate)
	case "restart-rate":
		return float(&c.RestartRate)
	case "horizon":
		return float(&c.HorizonS)
	case "boot-time":
		c.BootTime = value
	case "start-task-time":
		c.StartTaskTime = value
	case "recovery-time":
		c.RecoveryTime = value
	default:
		return fmt.Errorf("unknown key %q; want one of %s", key, strings.Join(SweepKeys, ", "))
	}
	return nil
}

// Expand returns the configurations of a sweep: base with every
// combination of the params' values, the first param varying slowest.
func Expand(base Config, params []Param) ([]Config, error) {
	out := []Config{base}
	for _, p := range params {
		next := make([]Config, 0, len(out)*len(p.Values))
		for _, c := range out {
			for _, v := range p.Values {
				c2 := c
				if err := c2.Set(p.Key, v); err != nil {
					return nil, err
				}
				next = append(next, c2)
			}
		}
		out = next
	}
	return out, nil
}

// Job is one run of a sweep.
type Job struct {
	Config   Config
	Workload *workload.Workload
}

// RunMany runs jobs on workers goroutines (0 means GOMAXPROCS), each run
// on one goroutine as Run does, and returns the results and errors in job
// order. done, if set, is called after each run, from the worker. Once ctx
// is done, runs not yet started are not started (their error is ctx's);
// a run that started goes to its end. Workloads may be shared between
// jobs: Run does not modify them.
func RunMany(ctx context.Context, jobs []Job, workers int, done func()) ([]*Result, []error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	results := make([]*Result, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				results[i], errs[i] = Run(jobs[i].Config, jobs[i].Workload)
				if done != nil {
					done()
				}
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results, errs
}
