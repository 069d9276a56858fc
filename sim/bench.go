package sim

import (
	"fmt"
	"time"

	"github.com/embatch/embatch/sim/workload"
)

// Throughput measures the simulator: Tasks single-slot tasks (Poisson
// arrivals at 90% load, exponential run times of mean 100 s) on Nodes
// single-slot nodes with FCFS, then a bare event-heap loop that pops the
// same number of events with as many queued, doing no scheduling: the
// floor that the kernel with the full scheduler is compared with.
type Throughput struct {
	Tasks, Nodes int
	// Events is the number of events the simulation processed (and the
	// bare loop popped).
	Events uint64
	// RunWall is the wall time of the whole Run (building the index,
	// the event loop, reading the task records back); LoopWall that of
	// its event loop alone; BareWall that of the bare loop.
	RunWall, LoopWall, BareWall time.Duration
}

// SimEventsPerS is the simulation's events per second of loop time.
func (t Throughput) SimEventsPerS() float64 { return float64(t.Events) / t.LoopWall.Seconds() }

// BareEventsPerS is the bare loop's events per second.
func (t Throughput) BareEventsPerS() float64 { return float64(t.Events) / t.BareWall.Seconds() }

// String summarizes the measurement in one line.
func (t Throughput) String() string {
	return fmt.Sprintf("%d tasks on %d nodes: %d events, run %.2fs, loop %.2fs (%.0f events/s), bare heap %.3fs (%.0f events/s, %.0fx faster)",
		t.Tasks, t.Nodes, t.Events, t.RunWall.Seconds(), t.LoopWall.Seconds(), t.SimEventsPerS(),
		t.BareWall.Seconds(), t.BareEventsPerS(), t.BareEventsPerS()/t.SimEventsPerS())
}

// ThroughputWorkload is the workload and configuration MeasureThroughput
// runs: tasks single-slot tasks at 90% load on nodes single-slot nodes.
func ThroughputWorkload(tasks, nodes int, seed uint64) (*workload.Workload, Config, error) {
	const meanRuntime = 100.0 // seconds
	rate := 0.9 * float64(nodes) / meanRuntime
	w, err := workload.Synthetic{
		Arrival: fmt.Sprintf("poisson:%g", rate),
		Runtime: fmt.Sprintf("exp:%g", meanRuntime),
		Tasks:   tasks,
	}.Generate(Rand(seed, StreamWorkload))
	if err != nil {
		return nil, Config{}, err
	}
	return w, Config{Policy: "fcfs", Nodes: nodes, Seed: seed}, nil
}

// MeasureThroughput runs ThroughputWorkload(tasks, nodes) and the bare
// loop, timing them with clock (time.Now). The bench package and `go test
// -bench` call it.
func MeasureThroughput(tasks, nodes int, clock func() time.Time) (Throughput, error) {
	w, cfg, err := ThroughputWorkload(tasks, nodes, 1)
	if err != nil {
		return Throughput{}, err
	}
	cfg.Clock = clock
	start := clock()
	res, err := Run(cfg, w)
	if err != nil {
		return Throughput{}, err
	}
	t := Throughput{Tasks: tasks, Nodes: nodes, Events: res.Events, RunWall: clock().Sub(start)}
	t.LoopWall = time.Duration(res.WallS * float64(time.Second))
	start = clock()
	BareHeapLoop(res.Events, nodes, 1)
	t.BareWall = clock().Sub(start)
	return t, nil
}

// BareHeapLoop pops n events from the kernel's queue, keeping pending
// events queued (a simulation keeps about one per running task), each pop
// pushing one event a random time later, and doing nothing else. It returns
// the virtual time reached, so that the loop cannot be optimized away.
func BareHeapLoop(n uint64, pending int, seed uint64) time.Duration {
	r := Rand(seed, StreamRun)
	var k kernel
	for range max(pending, 1) {
		k.push(event{at: time.Duration(r.ExpFloat64() * 1e11), kind: evNop})
	}
	for range n {
		e := k.pop()
		k.push(event{at: e.at + time.Duration(r.ExpFloat64()*1e11), kind: evNop})
	}
	return k.now
}
