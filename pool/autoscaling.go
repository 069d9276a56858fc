package pool

import (
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/embatch/embatch/pool/autoscale"
	"github.com/embatch/embatch/task"
)

// DefaultAutoScaleEvaluationInterval is Azure's default evaluation
// interval. Unlike Azure, embatch accepts any positive interval up to
// MaxAutoScaleEvaluationInterval: the 5-minute minimum is Azure's, not ours.
const DefaultAutoScaleEvaluationInterval = 15 * time.Minute

// MaxAutoScaleEvaluationInterval is Azure's upper bound, 168 hours.
const MaxAutoScaleEvaluationInterval = 168 * time.Hour

// AutoScaleRun is Azure's record of an autoscale evaluation.
type AutoScaleRun struct {
	Timestamp time.Time `json:"timestamp"`
	// Results is Azure's results string, for example
	// "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue".
	Results string             `json:"results,omitempty"`
	Error   *AutoScaleRunError `json:"error,omitempty"`
}

// AutoScaleRunError says why an evaluation failed.
type AutoScaleRunError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// EnableAutoScale turns autoscaling on (Formula required then) or changes
// its formula or interval; the formula is evaluated at once and then every
// Interval (default 15 minutes).
type EnableAutoScale struct {
	Formula  string
	Interval time.Duration
}

// DisableAutoScale turns autoscaling off; the targets stay as they are.
type DisableAutoScale struct{}

// EvaluateAutoScaleNow evaluates the pool's formula now and applies it, on
// top of the regular schedule (an embatch extension: Azure only evaluates
// on its interval).
type EvaluateAutoScaleNow struct{}

func (EnableAutoScale) isEvent()      {}
func (DisableAutoScale) isEvent()     {}
func (EvaluateAutoScaleNow) isEvent() {}

// autoScaler is a pool's autoscale state.
type autoScaler struct {
	formula  *autoscale.Formula
	interval time.Duration
	sampler  *autoscale.Sampler
	rng      *rand.Rand
	gen      uint64 // timer generation; timers of older generations are dead
	last     *AutoScaleRun
}

// parseFormula parses a formula, naming field in the error.
func parseFormula(field, src string) (*autoscale.Formula, error) {
	f, err := autoscale.Parse(src)
	if err != nil {
		v := src
		if len(v) > 60 {
			v = v[:60] + "..."
		}
		return nil, task.Invalid(field, v, "%v", err)
	}
	return f, nil
}

func validateInterval(field string, d time.Duration) error {
	if d < 0 || d > MaxAutoScaleEvaluationInterval {
		return task.Invalid(field, task.Duration(d).String(), "must be positive and at most 168 hours")
	}
	return nil
}

// startAutoScale (re)starts autoscaling with f, evaluating now.
func (s *Scheduler) startAutoScale(f *autoscale.Formula, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultAutoScaleEvaluationInterval
	}
	if s.as == nil {
		h := fnv.New64a()
		h.Write([]byte(s.spec.ID))
		s.as = &autoScaler{sampler: autoscale.NewSampler(0), rng: rand.New(rand.NewPCG(s.seed, h.Sum64()))}
	}
	s.as.formula, s.as.interval = f, interval
	s.as.gen++
	s.sampleMetrics()
	s.evaluateAutoScale()
}

func (s *Scheduler) enableAutoScale(e EnableAutoScale) error {
	if err := validateInterval("autoScaleEvaluationInterval", e.Interval); err != nil {
		return err
	}
	if e.Formula == "" && s.as == nil {
		return task.Missing("autoScaleFormula")
	}
	if s.deleting {
		return &task.Error{Code: task.CodePoolBeingDeleted, Field: "poolId", Value: s.spec.ID, Message: "the pool is being deleted"}
	}
	f := (*autoscale.Formula)(nil)
	if e.Formula != "" {
		var err error
		if f, err = parseFormula("autoScaleFormula", e.Formula); err != nil {
			return err
		}
		s.spec.AutoScaleFormula = e.Formula
	} else {
		f = s.as.formula
	}
	interval := e.Interval
	if interval == 0 && s.as != nil {
		interval = s.as.interval
	}
	s.spec.EnableAutoScale = true
	if interval > 0 {
		d := task.Duration(interval)
		s.spec.AutoScaleEvaluationInterval = &d
	}
	s.startAutoScale(f, interval)
	s.change(Change{Kind: ChangePool})
	return nil
}

func (s *Scheduler) disableAutoScale() {
	if s.as == nil {
		return
	}
	s.as.gen++ // kills the pending timers
	s.as.formula = nil
	s.spec.EnableAutoScale = false
	s.change(Change{Kind: ChangePool})
}

// autoScaling reports whether a formula sizes the pool.
func (s *Scheduler) autoScaling() bool { return s.as != nil && s.as.formula != nil }

// sampleMetrics records the metrics formulas read, and schedules the next
// sample one sample period later. Metrics embatch cannot observe (CPU,
// memory, disk, network) are not recorded: a formula that reads them gets
// Azure's "not enough samples" failure rather than invented numbers.
func (s *Scheduler) sampleMetrics() {
	if !s.autoScaling() {
		return
	}
	var active, running, succeeded, failed int
	for _, j := range s.jobs {
		active += j.readyN
		running += j.counts.Running
		succeeded += j.counts.Succeeded
		failed += j.counts.Failed
	}
	preempted := 0
	for _, n := range s.nodeList {
		if n.rec.State == NodePreempted {
			preempted++
		}
	}
	s.as.sampler.Record(s.now, map[autoscale.Metric]float64{
		autoscale.ActiveTasks:        float64(active),
		autoscale.RunningTasks:       float64(running),
		autoscale.PendingTasks:       float64(active + running),
		autoscale.SucceededTasks:     float64(succeeded),
		autoscale.FailedTasks:        float64(failed),
		autoscale.SampleNodeCount:    float64(len(s.nodeList)),
		autoscale.PreemptedNodeCount: float64(preempted),
	})
	s.addTimer(s.now.Add(autoscale.SamplePeriod), timerSample, s.as.gen)
}

// autoScaleEnv is what a formula sees now.
func (s *Scheduler) autoScaleEnv(r autoscale.Rand) autoscale.Env {
	p := s.Pool()
	var samples autoscale.Samples
	if s.as != nil {
		samples = s.as.sampler
	}
	return autoscale.Env{
		Now:                     s.now,
		Rand:                    r,
		Samples:                 samples,
		CurrentDedicatedNodes:   p.CurrentDedicatedNodes,
		CurrentLowPriorityNodes: p.CurrentLowPriorityNodes,
		TaskSlotsPerNode:        s.slotsPerNode,
		TargetDedicatedNodes:    s.spec.TargetDedicatedNodes,
		TargetLowPriorityNodes:  s.spec.TargetLowPriorityNodes,
	}
}

// evaluateAutoScale evaluates the formula, records the run, applies new
// targets when the pool is steady (otherwise the next evaluation will), and
// schedules the next evaluation.
func (s *Scheduler) evaluateAutoScale() {
	if !s.autoScaling() {
		return
	}
	run, res, err := s.runFormula(s.as.formula, s.as.rng)
	s.as.last = &run
	s.change(Change{Kind: ChangePool})
	s.addTimer(s.now.Add(s.as.interval), timerAutoScale, s.as.gen)
	if err != nil || s.alloc != AllocationSteady || s.deleting {
		return
	}
	if res.TargetDedicatedNodes != s.spec.TargetDedicatedNodes || res.TargetLowPriorityNodes != s.spec.TargetLowPriorityNodes {
		s.resizeErrors = nil
		s.resize(res.TargetDedicatedNodes, res.TargetLowPriorityNodes, 0, DeallocationOption(res.NodeDeallocationOption).orDefault())
	}
}

func (s *Scheduler) runFormula(f *autoscale.Formula, r autoscale.Rand) (AutoScaleRun, autoscale.Result, error) {
	run := AutoScaleRun{Timestamp: s.now}
	res, err := f.Evaluate(s.autoScaleEnv(r))
	if err != nil {
		code := "AutoScaleEvaluationFailed"
		if ae, ok := err.(*autoscale.Error); ok {
			code = ae.Code
		}
		run.Error = &AutoScaleRunError{Code: code, Message: err.Error()}
		return run, res, err
	}
	run.Results = res.String()
	return run, res, nil
}

// EvaluateAutoScale evaluates formula against the pool as it is now without
// changing anything (Azure's evaluate-autoscale): the result says what the
// formula would set. A formula that does not parse is an error naming the
// field; one that fails to evaluate returns a run whose Error says why.
func (s *Scheduler) EvaluateAutoScale(formula string) (AutoScaleRun, error) {
	f, err := parseFormula("autoScaleFormula", formula)
	if err != nil {
		return AutoScaleRun{}, err
	}
	// A private random stream, so a dry run never shifts the pool's own.
	r := rand.New(rand.NewPCG(s.seed, uint64(s.now.UnixNano())))
	run, _, _ := s.runFormula(f, r)
	return run, nil
}

// LastAutoScaleRun is the latest evaluation, or nil.
func (s *Scheduler) LastAutoScaleRun() *AutoScaleRun {
	if s.as == nil || s.as.last == nil {
		return nil
	}
	r := *s.as.last
	return &r
}
