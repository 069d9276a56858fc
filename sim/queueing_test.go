package sim

import (
	"container/heap"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/embatch/embatch/sim/workload"
)

// Queueing-theory validation. The simulator runs the real scheduling core
// (FCFS, single-slot nodes and tasks), so these tests check the kernel,
// the simulated nodes and the core together against results known in
// closed form.
//
// Tolerances. Over a run of n tasks the sample mean wait has a standard
// error (SE) that grows like sqrt(ρ/n)/(1−ρ) in heavy traffic, so "within a
// few percent" at ρ = 0.95 needs millions of tasks, minutes of test time.
// Each case below says its n and tolerance; the test measures the SE by
// batch means (20 batches, after a 5% warm-up), logs it, and requires the
// tolerance to be at least 2.5 SE (so that a correct simulator passes for
// almost every seed, and no case passes merely because it is noisy) and the
// error to be within it. With a few hundred thousand tasks per case that
// is 3-7% up to ρ = 0.8 and 12-16% at ρ = 0.9 and 0.95. Two checks pin the
// heavy loads tighter: the probability of waiting, Erlang C itself, whose
// SE stays under 1% (tolerance 3%), and TestFCFSMatchesRecursion, which
// requires every task's wait to equal the c-server FCFS recursion to the
// nanosecond, with no statistical error at all.

// mmcCase is one M/M/c or M/D/1 validation run.
type mmcCase struct {
	c       int
	rho     float64
	runtime string  // "exp:1" (M/M/c) or "const:1" (M/D/1)
	n       int     // tasks
	tol     float64 // relative tolerance of the mean wait
}

// runQueue simulates Poisson arrivals at rate ρc on c single-slot nodes
// with FCFS and returns the result.
func runQueue(t *testing.T, c int, rho float64, runtime string, n int, seed uint64) *Result {
	t.Helper()
	w, err := workload.Synthetic{
		Arrival: fmt.Sprintf("poisson:%g", rho*float64(c)),
		Runtime: runtime,
		Tasks:   n,
	}.Generate(Rand(seed, StreamWorkload))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(Config{Policy: "fcfs", Nodes: c, Seed: seed}, w)
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed != n {
		t.Fatalf("completed %d of %d tasks", res.Completed, n)
	}
	checkLittle(t, res, true)
	return res
}

// checkLittle requires L = λW (and Lq = λWq when queue is set) to hold to
// rounding: the two sides are computed independently, one from the
// simulator's integrals over time, the other from the core's task records.
func checkLittle(t *testing.T, res *Result, queue bool) {
	t.Helper()
	l := res.Little
	if l.T == 0 {
		t.Fatal("no Little's law quantities: empty run?")
	}
	if e := l.Err(); e > 1e-9 {
		t.Errorf("Little's law: L = %v, λW = %v·%v = %v (relative error %g)", l.L, l.Lambda, l.W, l.Lambda*l.W, e)
	}
	if e := l.ErrQueue(); queue && e > 1e-9 {
		t.Errorf("Little's law for the queue: Lq = %v, λWq = %v (relative error %g)", l.Lq, l.Lambda*l.Wq, e)
	}
}

// steadyWaits returns the waits in seconds after a warm-up of 5% of the
// tasks (the queue starts empty, which biases early waits down).
func steadyWaits(res *Result) (waits, delayed []float64) {
	recs := res.Records[len(res.Records)/20:]
	for _, r := range recs {
		w := r.Wait().Seconds()
		waits = append(waits, w)
		d := 0.0
		if r.Wait() > 0 {
			d = 1
		}
		delayed = append(delayed, d)
	}
	return waits, delayed
}

func TestMMcErlangC(t *testing.T) {
	cases := []mmcCase{
		{c: 1, rho: 0.5, runtime: "exp:1", n: 150_000, tol: 0.04},
		{c: 4, rho: 0.7, runtime: "exp:1", n: 200_000, tol: 0.07},
		{c: 2, rho: 0.8, runtime: "exp:1", n: 300_000, tol: 0.07},
		{c: 2, rho: 0.9, runtime: "exp:1", n: 400_000, tol: 0.12},
		{c: 1, rho: 0.95, runtime: "exp:1", n: 600_000, tol: 0.16},
	}
	if testing.Short() || raceEnabled {
		t.Skip("long runs; TestFCFSMatchesRecursion covers the model exactly")
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("c=%d/rho=%g", tc.c, tc.rho), func(t *testing.T) {
			t.Parallel()
			res := runQueue(t, tc.c, tc.rho, tc.runtime, tc.n, 1)
			waits, delayed := steadyWaits(res)
			lambda := tc.rho * float64(tc.c)
			want := mmcWait(tc.c, lambda, 1)
			got, se := batchMeans(waits, 20)
			checkTolerance(t, "mean wait", got, want, se, tc.tol)
			// The probability of waiting is Erlang C itself; its
			// estimate is much tighter.
			p, sep := batchMeans(delayed, 20)
			checkTolerance(t, "P(wait > 0)", p, erlangC(tc.c, lambda), sep, 0.03)
		})
	}
}

func TestMD1PollaczekKhinchine(t *testing.T) {
	cases := []mmcCase{
		{c: 1, rho: 0.5, runtime: "const:1", n: 150_000, tol: 0.03},
		{c: 1, rho: 0.8, runtime: "const:1", n: 200_000, tol: 0.06},
		{c: 1, rho: 0.9, runtime: "const:1", n: 300_000, tol: 0.10},
	}
	if testing.Short() || raceEnabled {
		t.Skip("long runs; TestFCFSMatchesRecursion covers the model exactly")
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("rho=%g", tc.rho), func(t *testing.T) {
			t.Parallel()
			res := runQueue(t, 1, tc.rho, tc.runtime, tc.n, 2)
			waits, _ := steadyWaits(res)
			got, se := batchMeans(waits, 20)
			checkTolerance(t, "mean wait", got, md1Wait(tc.rho, 1), se, tc.tol)
		})
	}
}

// checkTolerance requires got within tol (relative) of want, and tol to be
// at least 2.5 standard errors.
func checkTolerance(t *testing.T, what string, got, want, se, tol float64) {
	t.Helper()
	err := (got - want) / want
	t.Logf("%s: simulated %.4f, theory %.4f, error %+.2f%%, SE %.2f%%, tolerance %.0f%%", what, got, want, 100*err, 100*se/want, 100*tol)
	if se/want > tol/2.5 {
		t.Errorf("%s: SE %.2f%% is too large for a %.0f%% tolerance: run more tasks", what, 100*se/want, 100*tol)
	}
	if math.Abs(err) > tol {
		t.Errorf("%s: simulated %.4f, theory %.4f: off by %+.2f%%, more than %.0f%%", what, got, want, 100*err, 100*tol)
	}
}

// durHeap is a min-heap of server free times.
type durHeap []time.Duration

func (h durHeap) Len() int           { return len(h) }
func (h durHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h durHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *durHeap) Push(x any)        { *h = append(*h, x.(time.Duration)) }
func (h *durHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// fcfsWaits computes the waits of a c-server FCFS queue directly with the
// Kiefer–Wolfowitz recursion: each task, in arrival order, takes the server
// that frees first.
func fcfsWaits(w *workload.Workload, c int) []time.Duration {
	free := make(durHeap, c)
	out := make([]time.Duration, len(w.Tasks))
	for i, tk := range w.Tasks {
		f := heap.Pop(&free).(time.Duration)
		start := max(f, tk.Submit)
		out[i] = start - tk.Submit
		heap.Push(&free, start+tk.Runtime)
	}
	return out
}

// TestFCFSMatchesRecursion: on the same arrivals and run times, the
// simulated pool (the real core, FCFS, single-slot nodes) gives every task
// exactly the wait of a c-server FCFS queue, to the nanosecond. This has
// no statistical error, so it pins the simulator to the queueing model at
// every load, 0.95 included.
func TestFCFSMatchesRecursion(t *testing.T) {
	for _, tc := range []struct {
		c       int
		rho     float64
		runtime string
	}{{1, 0.95, "exp:1"}, {4, 0.9, "exp:1"}, {16, 0.95, "exp:1"}, {3, 0.8, "lognormal:0,1"}, {1, 0.9, "const:1"}} {
		t.Run(fmt.Sprintf("c=%d/rho=%g/%s", tc.c, tc.rho, tc.runtime), func(t *testing.T) {
			t.Parallel()
			w, err := workload.Synthetic{Arrival: fmt.Sprintf("poisson:%g", tc.rho*float64(tc.c)), Runtime: tc.runtime, Tasks: 30_000}.Generate(Rand(3, StreamWorkload))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(Config{Nodes: tc.c, Seed: 3}, w)
			if err != nil {
				t.Fatal(err)
			}
			checkLittle(t, res, true)
			want := fcfsWaits(w, tc.c)
			bad := 0
			for i, r := range res.Records {
				if r.Wait() != want[i] {
					if bad < 5 {
						t.Errorf("task %d: wait %v, recursion says %v", i, r.Wait(), want[i])
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d waits differ", bad, len(want))
			}
		})
	}
}
