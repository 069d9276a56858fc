// Package sim is embatch's discrete-event simulator: it runs the pool
// scheduling core (package pool), the very code the live engine runs, in
// virtual time against simulated nodes and a workload (package
// sim/workload), and measures what happened (Metrics).
//
// A run is one goroutine with no wall clock: a virtual clock and an event
// queue ordered by (time, insertion sequence), one seeded PCG generator for
// every random draw (Rand), and the core's Step/Ready/Advance loop through
// a Driver. The same Config and workload give the same Result, byte for
// byte once marshalled (wall-clock fields aside, which are 0 unless
// Config.Clock is set).
//
// Simulated nodes boot after a drawn delay, run an optional start task,
// may fail or (low-priority ones) be preempted at seeded random times and
// come back after a drawn recovery time; the engine itself may crash and
// be rebuilt from its durable records (pool.Restore). A task attempt exits
// after the task's run time with the task's exit code; a killed attempt
// exits at the instant of the kill.
//
// With Config.Check, invariant checkers watch the run (see checker):
// slots, final states, dependencies, retries, Little's law and the
// reservations of backfilling policies. Sweeps (Expand, RunMany) run many
// configurations in parallel, one goroutine per run; Summarize gives means
// and 95% confidence intervals over seeds.
//
//	w, _ := workload.ParseSWF("lublin_256.swf", f)
//	res, err := sim.Run(sim.Config{Policy: "easy", Nodes: 256, Seed: 1}, w)
//	fmt.Println(res.BsldMean, res.Utilization)
package sim
