package sim

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// MetricKeys are the JSON keys of Metrics, in order.
var MetricKeys = []string{
	"tasks", "completed", "makespan_s", "utilization",
	"wait_mean_s", "wait_p50_s", "wait_p95_s", "wait_p99_s", "bsld_mean",
	"node_hours_dedicated", "node_hours_low_priority", "cost",
	"preemptions", "requeues", "events", "wall_s", "events_per_s",
}

// Values returns the metrics as numbers, in MetricKeys order.
func (m Metrics) Values() []float64 {
	return []float64{
		float64(m.Tasks), float64(m.Completed), m.MakespanS, m.Utilization,
		m.WaitMeanS, m.WaitP50S, m.WaitP95S, m.WaitP99S, m.BsldMean,
		m.NodeHoursDedicated, m.NodeHoursLowPriority, m.Cost,
		float64(m.Preemptions), float64(m.Requeues), float64(m.Events), m.WallS, m.EventsPerS,
	}
}

// Summary is a configuration run with several seeds: the mean and the
// half-width of the 95% confidence interval of each metric (Student's t
// with n−1 degrees of freedom, n = Seeds; 0 when n = 1). In JSON every
// metric key holds {"mean": ..., "ci95": ...}, then "config" and "seeds".
type Summary struct {
	Config Config
	Seeds  int
	Mean   []float64 // in MetricKeys order
	CI95   []float64
}

// Summarize aggregates runs of one configuration (their Config, seed
// aside, is results[0]'s).
func Summarize(results []*Result) Summary {
	n := len(results)
	s := Summary{Seeds: n, Mean: make([]float64, len(MetricKeys)), CI95: make([]float64, len(MetricKeys))}
	if n == 0 {
		return s
	}
	s.Config = results[0].Config
	vals := make([][]float64, n)
	for i, r := range results {
		vals[i] = r.Metrics.Values()
	}
	for k := range MetricKeys {
		mean := 0.0
		for i := range vals {
			mean += vals[i][k]
		}
		mean /= float64(n)
		s.Mean[k] = mean
		if n > 1 {
			v := 0.0
			for i := range vals {
				v += (vals[i][k] - mean) * (vals[i][k] - mean)
			}
			sd := math.Sqrt(v / float64(n-1))
			s.CI95[k] = tQuantile975(n-1) * sd / math.Sqrt(float64(n))
		}
	}
	return s
}

// MarshalJSON writes the metric keys in order, each as {"mean", "ci95"},
// then config and seeds.
func (s Summary) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for k, key := range MetricKeys {
		if k < len(s.Mean) {
			b.WriteString(strconv.Quote(key))
			b.WriteString(`:{"mean":`)
			b.WriteString(jsonFloat(s.Mean[k]))
			b.WriteString(`,"ci95":`)
			b.WriteString(jsonFloat(s.CI95[k]))
			b.WriteString("},")
		}
	}
	cfg, err := json.Marshal(s.Config)
	if err != nil {
		return nil, err
	}
	b.WriteString(`"config":`)
	b.Write(cfg)
	b.WriteString(`,"seeds":`)
	b.WriteString(strconv.Itoa(s.Seeds))
	b.WriteByte('}')
	return b.Bytes(), nil
}

// jsonFloat formats v as encoding/json does.
func jsonFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// tQuantile975 is the 0.975 quantile of Student's t distribution with df
// degrees of freedom (exact to 3 decimals up to 30, then the normal
// approximation corrected to first order).
func tQuantile975(df int) float64 {
	table := [...]float64{
		12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
		2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
	}
	if df < 1 {
		return math.NaN()
	}
	if df <= len(table) {
		return table[df-1]
	}
	// Cornish–Fisher: z + (z³+z)/(4·df).
	const z = 1.959964
	return z + (z*z*z+z)/(4*float64(df))
}
