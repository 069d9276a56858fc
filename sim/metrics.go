package sim

import (
	"math"
	"slices"
	"time"

	"github.com/embatch/embatch/task"
)

// Tau is the bounded-slowdown threshold: run times shorter than Tau count
// as Tau, so that very short tasks do not dominate the mean.
const Tau = 10 * time.Second

// Metrics are the numbers of one run, with the JSON keys `embatch sim
// --json` prints. Times are in seconds of virtual time unless the name says
// otherwise.
type Metrics struct {
	// Tasks is the number of workload tasks simulated (Result.Skipped
	// left out).
	Tasks int `json:"tasks"`
	// Completed is how many reached the completed state (succeeded or
	// failed).
	Completed int `json:"completed"`
	// MakespanS is the time of the last completion (time 0 is the first
	// submission).
	MakespanS float64 `json:"makespan_s"`
	// Utilization is busy slot-seconds (slots held by task attempts) over
	// available slot-seconds (slots of nodes that are up), from time 0 to
	// the end of the run.
	Utilization float64 `json:"utilization"`
	// WaitMeanS .. WaitP99S describe the wait of completed tasks that ran:
	// start of the attempt that completed the task minus submission.
	// Percentiles are nearest-rank.
	WaitMeanS float64 `json:"wait_mean_s"`
	WaitP50S  float64 `json:"wait_p50_s"`
	WaitP95S  float64 `json:"wait_p95_s"`
	WaitP99S  float64 `json:"wait_p99_s"`
	// BsldMean is the mean bounded slowdown of those tasks,
	// max(1, (wait+run)/max(run, Tau)).
	BsldMean float64 `json:"bsld_mean"`
	// NodeHoursDedicated and NodeHoursLowPriority are billed node-hours:
	// from allocation to release or the end of the run, less the time a
	// low-priority node spent preempted.
	NodeHoursDedicated   float64 `json:"node_hours_dedicated"`
	NodeHoursLowPriority float64 `json:"node_hours_low_priority"`
	// Cost is node-hours times Config's prices.
	Cost float64 `json:"cost"`
	// Preemptions counts low-priority nodes taken back.
	Preemptions int `json:"preemptions"`
	// Requeues is the sum of the tasks' requeueCount.
	Requeues int `json:"requeues"`
	// Events is the number of events the kernel processed.
	Events uint64 `json:"events"`
	// WallS is the wall time of the event loop in seconds, and EventsPerS
	// Events over it; both 0 unless Config.Clock is set.
	WallS      float64 `json:"wall_s"`
	EventsPerS float64 `json:"events_per_s"`
}

// Result is what a run reports: its Metrics and Config (the JSON object of
// one run) and details for tests, plots and checks.
type Result struct {
	Metrics
	Config Config `json:"config"`

	// Skipped counts workload tasks left out because they can never fit
	// the pool.
	Skipped int `json:"-"`
	// Stalled is true when the run ended with tasks not completed
	// (blocked dependencies, the horizon, or a pool too small).
	Stalled bool `json:"-"`
	// EndS is the virtual time the run ended at, in seconds.
	EndS float64 `json:"-"`
	// Restarts counts engine restarts (Config.RestartRate).
	Restarts int `json:"-"`
	// Records has one entry per submitted task, job by job in workload
	// order, tasks in arrival order within a job.
	Records []TaskRecord `json:"-"`
	// Little holds the quantities of Little's law for this run.
	Little Little `json:"-"`
	// Violations lists what the invariant checkers found (Config.Check).
	Violations []string `json:"-"`
	// Series is utilization over time (Config.Series).
	Series []SeriesPoint `json:"-"`
}

// TaskRecord is one task's fate, from the core's task record. Times are
// virtual, since time 0.
type TaskRecord struct {
	Submit    time.Duration
	Start     time.Duration // start of the last attempt; 0 if never started
	End       time.Duration // completion; 0 if not completed
	Started   bool
	Completed bool
	Success   bool
	Retries   int
	Requeues  int
}

// Wait is the task's wait: last start minus submission.
func (r TaskRecord) Wait() time.Duration { return r.Start - r.Submit }

// SeriesPoint is the pool's busy and available slots from time T (seconds)
// until the next point.
type SeriesPoint struct {
	T     float64
	Busy  int
	Avail int
}

// Little holds both sides of Little's law, L = λW, for the whole system and
// for the queue, over the run [0, T]. L and Lq are time averages the
// simulator integrates as tasks arrive, start and complete; W and Wq come
// from the core's task records (time in system and wait, cut at T). The
// two sides are computed independently and must agree.
type Little struct {
	T      float64 // seconds
	Lambda float64 // submissions per second
	L, W   float64 // tasks in the system; mean seconds in it
	Lq, Wq float64 // tasks waiting; mean seconds waiting
}

// Err is the relative difference between L and λW.
func (l Little) Err() float64 { return relDiff(l.L, l.Lambda*l.W) }

// ErrQueue is the relative difference between Lq and λWq. It holds only
// when no task waited twice (no retries or requeues) and no job has a
// preparation task.
func (l Little) ErrQueue() float64 { return relDiff(l.Lq, l.Lambda*l.Wq) }

func relDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(a), math.Abs(b))
}

// accounting integrates counts over virtual time.
type accounting struct {
	last                 time.Duration
	inSys, inQueue       int
	busySlots, availSlot int
	sysArea, queueArea   float64 // task-seconds
	busyArea, availArea  float64 // slot-seconds
	preemptions          int
	restarts             int
	series               bool
	points               []SeriesPoint
}

func (a *accounting) init(series bool) { a.series = series }

// advance integrates up to now.
func (a *accounting) advance(now time.Duration) {
	if now == a.last {
		return
	}
	dt := (now - a.last).Seconds()
	a.sysArea += float64(a.inSys) * dt
	a.queueArea += float64(a.inQueue) * dt
	a.busyArea += float64(a.busySlots) * dt
	a.availArea += float64(a.availSlot) * dt
	a.last = now
}

func (a *accounting) arrive(now time.Duration, n int) {
	a.advance(now)
	a.inSys += n
	a.inQueue += n
}

func (a *accounting) depart(now time.Duration) {
	a.advance(now)
	a.inSys--
}

func (a *accounting) queue(now time.Duration, d int) {
	a.advance(now)
	a.inQueue += d
}

func (a *accounting) busy(now time.Duration, d int) {
	a.advance(now)
	a.busySlots += d
	a.point(now)
}

func (a *accounting) avail(now time.Duration, d int) {
	a.advance(now)
	a.availSlot += d
	a.point(now)
}

func (a *accounting) point(now time.Duration) {
	if !a.series {
		return
	}
	p := SeriesPoint{T: now.Seconds(), Busy: a.busySlots, Avail: a.availSlot}
	if n := len(a.points); n > 0 && a.points[n-1].T == p.T {
		a.points[n-1] = p
		return
	}
	a.points = append(a.points, p)
}

// result computes the metrics at the end of the run.
func (s *simulation) result(wall time.Duration) *Result {
	end := s.k.now
	s.acct.advance(end)
	res := &Result{Config: s.cfg, Skipped: s.skipped, EndS: end.Seconds(), Restarts: s.acct.restarts}
	res.Config.Clock = nil
	m := &res.Metrics
	m.Tasks = s.total
	m.Events = s.k.popped
	m.Preemptions = s.acct.preemptions
	if s.acct.availArea > 0 {
		m.Utilization = s.acct.busyArea / s.acct.availArea
	}
	for i := range s.nodes {
		n := &s.nodes[i]
		s.stopBilling(end, n)
		h := n.billed.Hours()
		if n.dedicated {
			m.NodeHoursDedicated += h
		} else {
			m.NodeHoursLowPriority += h
		}
	}
	m.Cost = m.NodeHoursDedicated*s.cfg.PriceDedicated + m.NodeHoursLowPriority*s.cfg.PriceLowPriority
	if wall > 0 {
		m.WallS = wall.Seconds()
		m.EventsPerS = float64(m.Events) / m.WallS
	}

	res.Records = s.records()
	var waits []float64
	var bsld, sysTime, queueTime float64
	for _, r := range res.Records {
		m.Requeues += r.Requeues
		stop := end
		if r.Completed {
			stop = r.End
			m.Completed++
			m.MakespanS = math.Max(m.MakespanS, r.End.Seconds())
		}
		sysTime += (stop - r.Submit).Seconds()
		if r.Started {
			queueTime += (r.Start - r.Submit).Seconds()
		} else {
			queueTime += (stop - r.Submit).Seconds()
		}
		if !r.Completed || !r.Started {
			continue
		}
		wait := r.Wait().Seconds()
		run := (r.End - r.Start).Seconds()
		waits = append(waits, wait)
		bsld += math.Max(1, (wait+run)/math.Max(run, Tau.Seconds()))
	}
	res.Stalled = m.Completed < m.Tasks
	if n := len(waits); n > 0 {
		sum := 0.0
		for _, w := range waits {
			sum += w
		}
		m.WaitMeanS = sum / float64(n)
		m.BsldMean = bsld / float64(n)
		slices.Sort(waits)
		m.WaitP50S = percentile(waits, 0.50)
		m.WaitP95S = percentile(waits, 0.95)
		m.WaitP99S = percentile(waits, 0.99)
	}
	if T := end.Seconds(); T > 0 && len(res.Records) > 0 {
		n := float64(len(res.Records))
		res.Little = Little{
			T: T, Lambda: n / T,
			L: s.acct.sysArea / T, W: sysTime / n,
			Lq: s.acct.queueArea / T, Wq: queueTime / n,
		}
	}
	if s.cfg.Series {
		s.acct.point(end)
		res.Series = s.acct.points
	}
	if s.check != nil {
		if e := res.Little.Err(); e > 1e-9 {
			s.check.violate(end, "Little's law: L = %v but λW = %v (relative error %g)", res.Little.L, res.Little.Lambda*res.Little.W, e)
		}
		s.check.finish(res)
		res.Violations = s.check.violations
	}
	return res
}

// percentile is the nearest-rank p-quantile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// records reads every submitted task's record from the core, job by job.
func (s *simulation) records() []TaskRecord {
	out := make([]TaskRecord, 0, s.submitted)
	core := s.drv.Core()
	for j := range s.wl.Jobs {
		_ = core.RangeTasks(s.wl.Jobs[j].ID, func(t *task.Task) bool {
			x := &t.ExecutionInfo
			r := TaskRecord{
				Submit:    t.CreationTime.Sub(Epoch),
				Completed: t.State == task.TaskCompleted,
				Success:   x.Result == task.ResultSuccess,
				Retries:   x.RetryCount,
				Requeues:  x.RequeueCount,
			}
			if !x.StartTime.IsZero() {
				r.Started, r.Start = true, x.StartTime.Sub(Epoch)
			}
			if r.Completed {
				r.End = x.EndTime.Sub(Epoch)
			}
			out = append(out, r)
			return true
		})
	}
	return out
}
