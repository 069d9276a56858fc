package bench

import (
	"context"
	"fmt"
	"slices"
)

// Case is one benchmark: our path and its baseline, each returning a rate
// (higher is better) in Unit.
type Case struct {
	// Name is the bench name on the command line: engine, local, durable, ...
	Name string
	// Unit of both rates, for example "tasks/s".
	Unit string
	// BaselineName names what Ours is compared with.
	BaselineName string
	// Ours and Baseline run one round and return its rate.
	Ours     func(ctx context.Context) (float64, error)
	Baseline func(ctx context.Context) (float64, error)
	// Skip, when not empty, says why the case cannot run here.
	Skip string
	// Details, when set, is called after each round of Ours and returns
	// that round's detail values (for example syncs per 1000 tasks); the
	// result reports each key's median.
	Details func() map[string]float64
	// Close, when set, releases what the case set up (a server, say); Run
	// calls it when done.
	Close func()
}

// Result is a case's outcome: medians over the rounds. Its JSON keys are
// the ones `embatch bench --json` promises.
type Result struct {
	Bench        string  `json:"bench"`
	Unit         string  `json:"unit"`
	Ours         float64 `json:"ours"`
	BaselineName string  `json:"baseline_name"`
	Baseline     float64 `json:"baseline"`
	// Ratio is Ours/Baseline: above 1 means ours is faster.
	Ratio  float64 `json:"ratio"`
	Rounds int     `json:"rounds"`
	// Skipped, when set, says why the case did not run; the numbers are 0.
	Skipped string `json:"skipped,omitempty"`
	// Details are medians of the case's detail values, by name.
	Details map[string]float64 `json:"details,omitempty"`
}

// Run measures c over rounds rounds, alternating ours and the baseline (so
// that drift in the machine's speed affects both alike), and reports the
// medians.
func Run(ctx context.Context, c Case, rounds int) (Result, error) {
	r := Result{Bench: c.Name, Unit: c.Unit, BaselineName: c.BaselineName, Rounds: rounds}
	if c.Close != nil {
		defer c.Close()
	}
	if c.Skip != "" {
		r.Skipped = c.Skip
		r.Rounds = 0
		return r, nil
	}
	if rounds < 1 {
		return r, fmt.Errorf("bench %s: rounds must be at least 1, got %d", c.Name, rounds)
	}
	var ours, base []float64
	details := map[string][]float64{}
	for i := range rounds {
		// Alternate which side goes first, too.
		first, second := c.Ours, c.Baseline
		if i%2 == 1 {
			first, second = c.Baseline, c.Ours
		}
		a, err := first(ctx)
		if err != nil {
			return r, fmt.Errorf("bench %s round %d: %w", c.Name, i, err)
		}
		b, err := second(ctx)
		if err != nil {
			return r, fmt.Errorf("bench %s round %d: %w", c.Name, i, err)
		}
		if i%2 == 1 {
			a, b = b, a
		}
		ours, base = append(ours, a), append(base, b)
		if c.Details != nil {
			for k, v := range c.Details() {
				details[k] = append(details[k], v)
			}
		}
	}
	r.Ours, r.Baseline = median(ours), median(base)
	for k, vs := range details {
		if r.Details == nil {
			r.Details = map[string]float64{}
		}
		r.Details[k] = median(vs)
	}
	if r.Baseline > 0 {
		r.Ratio = r.Ours / r.Baseline
	}
	return r, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
