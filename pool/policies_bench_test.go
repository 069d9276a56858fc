package pool

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/embatch/embatch/task"
)

// Benchmarks of the scheduling policies: N tasks on M single-slot nodes,
// through the Scheduler API with the trivial virtual-time driver (vtDriver;
// a task ends after between half and all of its estimate). ns/op is the
// whole run (wall time); cpu-s/op the CPU time the process used meanwhile,
// garbage collection included, which shared machines disturb less;
// tasks/s is N over the wall time. Run one size, e.g.
//
//	go test ./pool -run '^$' -bench 'BenchmarkPolicies/single/1e6x1e4/easy' -benchtime 1x -cpu 1
//
// Workloads:
//
//   - single: N single-slot tasks queued in the first seconds (10,000 a
//     second, spread over 10 jobs); estimates 1 minute to 1 hour. The
//     queue is about as deep as it gets, and no task ever waits for a
//     reservation: the head always fits when a node is free.
//   - gang: multi-instance tasks (half of them 1 node, the others 2 to 64,
//     powers of two) arriving as a Poisson stream at about 90% load, in one
//     job; estimates 1 minute to 1 hour. Backfilling works all the time.
//   - lublin256: the Lublin–Feitelson model trace of 10,000 jobs on 256
//     nodes from the Parallel Workloads Archive (../../shared/data/swf; skipped
//     when absent), one job per processor, requested time as estimate.
func BenchmarkPolicies(b *testing.B) {
	policies := []string{"fcfs", "easy", "conservative", "sjf", "fair"}
	type workload struct {
		name  string
		nodes int
		make  func() ([]vtArrival, func(*Attempt) time.Duration)
	}
	workloads := []workload{
		{"single/1e5x1e3", 1000, func() ([]vtArrival, func(*Attempt) time.Duration) { return singleWorkload(100_000), benchRuntime }},
		{"single/1e6x1e4", 10_000, func() ([]vtArrival, func(*Attempt) time.Duration) { return singleWorkload(1_000_000), benchRuntime }},
		{"gang/2e4x1e3", 1000, func() ([]vtArrival, func(*Attempt) time.Duration) { return gangWorkload(20_000, 1000), benchRuntime }},
		{"lublin256", 256, func() ([]vtArrival, func(*Attempt) time.Duration) {
			a, rt, err := swfWorkload(lublinPath)
			if err != nil {
				return nil, nil
			}
			return a, rt
		}},
	}
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			arrivals, runtime := w.make()
			n := countTasks(arrivals)
			if n == 0 {
				b.Skip("workload not available")
			}
			for _, policy := range policies {
				b.Run(policy, func(b *testing.B) {
					var d *vtDriver
					var cpu time.Duration
					for range b.N {
						b.StopTimer()
						d = newVTDriver(policy, w.nodes, 1, benchJobs)
						d.arrivals = arrivals
						d.runtime = runtime
						c0 := cpuTime()
						b.StartTimer()
						if err := d.run(0); err != nil {
							b.Fatal(err)
						}
						b.StopTimer()
						cpu += cpuTime() - c0
						b.StartTimer()
					}
					if d.started < n {
						b.Fatalf("%d of %d tasks started", d.started, n)
					}
					b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
					b.ReportMetric(float64(d.now.Sub(vtEpoch).Seconds()), "makespan-s")
					b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
				})
			}
		})
	}
}

var benchJobs = map[string]int{"j0": 0, "j1": 0, "j2": 0, "j3": 0, "j4": 0, "j5": 0, "j6": 0, "j7": 0, "j8": 0, "j9": 0}

// benchRuntime runs a task between half and all of its estimate (a hash of
// the attempt id picks where), a minute without one.
func benchRuntime(a *Attempt) time.Duration {
	est := a.Task.WallClockLimit().D()
	if est <= 1 {
		return time.Minute
	}
	return est/2 + time.Duration(hash64(a.ID)%uint64(est/2))
}

func countTasks(a []vtArrival) int {
	n := 0
	for _, x := range a {
		n += len(x.tasks)
	}
	return n
}

func singleWorkload(n int) []vtArrival {
	const batch = 10_000
	var out []vtArrival
	for i := 0; i < n; i += batch {
		for j := range 10 {
			var specs []task.TaskSpec
			for k := i + j; k < min(i+batch, n); k += 10 {
				est := time.Duration(60+hash64(uint64(k))%3540) * time.Second
				specs = append(specs, tspec(strconv.Itoa(k), 1, est))
			}
			at := vtEpoch.Add(time.Duration(i/batch) * time.Second)
			out = append(out, vtArrival{at: at, job: "j" + strconv.Itoa(j), tasks: specs})
		}
	}
	return out
}

func gangWorkload(n, nodes int) []vtArrival {
	rng := rand.New(rand.NewPCG(1, 2))
	// Mean node-seconds per task: 11 nodes × 1,372 s (3/4 of a mean
	// estimate of 1,830 s); arrivals at 90% of the pool's capacity.
	rate := 0.9 * float64(nodes) / (11 * 1372)
	at := time.Duration(0)
	out := make([]vtArrival, 0, n)
	for i := range n {
		at += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
		inst := 1
		if rng.IntN(2) == 0 {
			inst = 1 << (1 + rng.IntN(6))
		}
		est := time.Duration(60+rng.IntN(3540)) * time.Second
		out = append(out, vtArrival{at: vtEpoch.Add(at), job: "j0", tasks: []task.TaskSpec{tspec(strconv.Itoa(i), inst, est)}})
	}
	return out
}

// lublinPath is the Lublin–Feitelson trace in the shared data.
const lublinPath = "../../shared/data/swf/lublin_256.swf"

// swfWorkload reads a Standard Workload Format trace: one task per job,
// needing its processors as nodes, with its requested time (or run time)
// as estimate, queued at its submit time, and running for its run time (at
// most the estimate: it is killed then). Jobs that did not run (run time or
// processors unknown) are left out.
func swfWorkload(path string) ([]vtArrival, func(*Attempt) time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var out []vtArrival
	runs := map[string]time.Duration{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 9 {
			return nil, nil, fmt.Errorf("short SWF line %q", line)
		}
		num := func(i int) float64 { v, _ := strconv.ParseFloat(fs[i], 64); return v }
		submit, run, procs, req, reqTime := num(1), num(3), num(4), num(7), num(8)
		if procs <= 0 {
			procs = req
		}
		if run < 0 || procs <= 0 {
			continue
		}
		est := reqTime
		if est <= 0 {
			est = run
		}
		est = max(est, 1)
		ts := tspec(fs[0], int(procs), time.Duration(est)*time.Second)
		runs[fs[0]] = time.Duration(min(run, est) * float64(time.Second))
		out = append(out, vtArrival{at: vtEpoch.Add(time.Duration(submit * float64(time.Second))), job: "j0", tasks: []task.TaskSpec{ts}})
	}
	runtime := func(a *Attempt) time.Duration { return runs[a.TaskID] }
	return out, runtime, sc.Err()
}
