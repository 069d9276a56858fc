package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/embatch/embatch/sim"
)

// Size of the sim case: the one million single-slot tasks on ten
// thousand nodes, FCFS.
const (
	simTasks = 1_000_000
	simNodes = 10_000
)

// simCase is the simulator's events/s (the full scheduler, FCFS, in
// virtual time; event loop wall time) vs a bare event-heap loop popping the
// same number of events (the floor).
func simCase() Case {
	var events uint64 // of the last simulation, for the bare loop
	ours := func(ctx context.Context) (float64, error) {
		w, cfg, err := sim.ThroughputWorkload(simTasks, simNodes, 1)
		if err != nil {
			return 0, err
		}
		cfg.Clock = time.Now
		res, err := sim.Run(cfg, w)
		if err != nil {
			return 0, err
		}
		if res.WallS <= 0 {
			return 0, fmt.Errorf("bench sim: no loop time measured")
		}
		events = res.Events
		return float64(res.Events) / res.WallS, nil
	}
	return Case{
		Name: "sim", Unit: "events/s", BaselineName: "bare-heap",
		Ours: ours,
		Baseline: func(ctx context.Context) (float64, error) {
			if events == 0 {
				if _, err := ours(ctx); err != nil {
					return 0, err
				}
			}
			start := time.Now()
			sim.BareHeapLoop(events, simNodes, 1)
			return float64(events) / time.Since(start).Seconds(), nil
		},
	}
}
