package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/embatch/embatch/sim"
	simplot "github.com/embatch/embatch/sim/plot"
	"github.com/embatch/embatch/sim/workload"
)

func simUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: embatch sim [flags] [JOBFILE...]

Simulate a pool running a workload, in virtual time, with embatch's own
scheduling core, and report tasks, waits, slowdown, utilization, node-hours
and cost. Runs are deterministic: the same flags give the same numbers.

Workload (one of):
  --swf FILE            a Standard Workload Format trace (Parallel Workloads
                        Archive): one multi-instance task per job, one
                        single-slot node per processor; records with run time
                        -1 or 0, or status 5 (cancelled), are dropped
  --jobs FILE           job files as embatch run takes them (repeatable; files
                        may also follow the flags); a task runs for its
                        EMBATCH_SIM_RUNTIME environment setting (seconds or a
                        duration) or a draw from --runtime, and exits with
                        EMBATCH_SIM_EXIT_CODE (default 0); the files' pools
                        are ignored: the flags below make the pool
  --arrival SPEC        synthetic arrivals: poisson:RATE (per second),
                        const:INTERVAL, burst:N,INTERVAL
  --runtime SPEC        run times (seconds): exp:MEAN, const:S,
                        lognormal:MU,SIGMA, uniform:A,B
  --tasks N             synthetic: number of tasks (default 1000)
  --task-slots N        synthetic: requiredSlots of each task (default 1)
  --instances N         synthetic: nodes each task needs at once (default 1)
  --estimates           synthetic: give tasks maxWallClockTime = run time + 1s
  --replay DATADIR      replay a recorded account (not implemented yet)

Pool and nodes:
  --nodes N             dedicated nodes (default: the trace's size for --swf,
                        else 1)
  --low-priority N      low-priority (spot) nodes (default 0)
  --slots N             taskSlotsPerNode (default 1)
  --fill spread|pack    node fill type (default spread)
  --policy NAME         `+strings.Join(sim.PolicyNames, ", ")+` (default fcfs, Azure's order)
  --boot-time SPEC      node boot time distribution (default: at once)
  --start-task-time SPEC  run a start task of this duration on every node
  --failure-rate R      node losses per node-hour (default 0)
  --preemption-rate R   preemptions per low-priority node-hour (default 0)
  --restart-rate R      engine crashes per hour: the scheduler is rebuilt
                        from its durable records, running tasks are requeued
                        and every node is replaced (default 0)
  --recovery-time SPEC  time a lost or preempted node stays down
                        (default `+sim.DefaultRecoveryTime+`)
  --autoscale FILE      size the pool with the Azure autoscale formula in FILE,
                        evaluated in virtual time as the engine would; --nodes
                        is then only the widest pool a task may need
  --autoscale-interval S  seconds between evaluations (default 900)
  --price-dedicated X   price per dedicated node-hour (default 1)
  --price-low-priority Y  price per low-priority node-hour (default 0.2)

Runs:
  --seed N              seed of every random draw (default 1)
  --seeds K             run each configuration with seeds N..N+K-1 and report
                        the mean and 95% confidence interval; a trace is
                        "shaken" for each seed (submit times moved at random
                        by up to --shake seconds, default 60)
  --sweep KEY=A:B:STEP  vary a setting from A to B; KEY=V1,V2,... for a list
                        (policy=fcfs,easy); repeatable (every combination).
                        Keys: `+strings.Join(sim.SweepKeys, ", ")+`
  --horizon S           stop each run at S seconds of virtual time
                        (default 0: run until every task completes or
                        nothing more can happen)
  --workers N           runs in parallel (default: all cores)
  --check               run the invariant checkers; violations fail the run
  --json                print JSON: one object per run, an array for sweeps
  --plot FILE           draw the wait-time CDF and utilization over time
                        (.svg or .png)
  --reproducible        leave wall_s and events_per_s 0, so that the output
                        is byte-for-byte the same on every run

Exit status: 0 if the runs went through; 1 if a run failed (or --check
found a violation); 2 for bad input or usage.
`)
}

// simFlags are the parsed flags of embatch sim.
type simFlags struct {
	swf, replay, arrival, runtime string
	jobs, sweeps                  []string
	tasks, taskSlots, instances   int
	estimates                     bool
	base                          sim.Config
	seeds                         int
	shake                         float64
	workers                       int
	check, json, reproducible     bool
	plot                          string
	autoscale                     string // formula file
}

// listFlag collects a repeatable flag.
type listFlag struct{ vals *[]string }

func (l listFlag) String() string { return "" }
func (l listFlag) Set(v string) error {
	*l.vals = append(*l.vals, v)
	return nil
}

func parseSimFlags(env *cmdEnv, args []string) (*simFlags, int) {
	o := &simFlags{}
	fs := flag.NewFlagSet("embatch sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.swf, "swf", "", "")
	fs.Var(listFlag{&o.jobs}, "jobs", "")
	fs.StringVar(&o.replay, "replay", "", "")
	fs.StringVar(&o.arrival, "arrival", "", "")
	fs.StringVar(&o.runtime, "runtime", "", "")
	fs.IntVar(&o.tasks, "tasks", 1000, "")
	fs.IntVar(&o.taskSlots, "task-slots", 1, "")
	fs.IntVar(&o.instances, "instances", 1, "")
	fs.BoolVar(&o.estimates, "estimates", false, "")
	c := &o.base
	fs.IntVar(&c.Nodes, "nodes", 0, "")
	fs.IntVar(&c.LowPriority, "low-priority", 0, "")
	fs.IntVar(&c.Slots, "slots", 1, "")
	fs.StringVar(&c.Fill, "fill", "", "")
	fs.StringVar(&c.Policy, "policy", "fcfs", "")
	fs.StringVar(&c.BootTime, "boot-time", "", "")
	fs.StringVar(&c.StartTaskTime, "start-task-time", "", "")
	fs.Float64Var(&c.FailureRate, "failure-rate", 0, "")
	fs.Float64Var(&c.PreemptionRate, "preemption-rate", 0, "")
	fs.Float64Var(&c.RestartRate, "restart-rate", 0, "")
	fs.StringVar(&c.RecoveryTime, "recovery-time", "", "")
	fs.Float64Var(&c.PriceDedicated, "price-dedicated", 1, "")
	fs.Float64Var(&c.PriceLowPriority, "price-low-priority", 0.2, "")
	fs.Uint64Var(&c.Seed, "seed", 1, "")
	fs.Float64Var(&c.HorizonS, "horizon", 0, "")
	fs.IntVar(&o.seeds, "seeds", 1, "")
	fs.Float64Var(&o.shake, "shake", 60, "")
	fs.Var(listFlag{&o.sweeps}, "sweep", "")
	fs.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "")
	fs.BoolVar(&o.check, "check", false, "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.StringVar(&o.plot, "plot", "", "")
	fs.BoolVar(&o.reproducible, "reproducible", false, "")
	fs.StringVar(&o.autoscale, "autoscale", "", "")
	fs.Float64Var(&c.AutoScaleIntervalS, "autoscale-interval", 0, "")
	usage := func(err error) (*simFlags, int) {
		fmt.Fprintf(env.Stderr, "embatch sim: %v\n\n", err)
		fmt.Fprintln(env.Stderr, `Run "embatch sim -h" for the flags.`)
		return nil, exitUsage
	}
	// Flags may come before, between or after job files.
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				simUsage(env.Stdout)
				return nil, exitOK
			}
			return usage(err)
		}
		if fs.NArg() == 0 {
			break
		}
		o.jobs = append(o.jobs, fs.Arg(0))
		args = fs.Args()[1:]
	}
	sources := 0
	for _, set := range []bool{o.swf != "", len(o.jobs) > 0, o.replay != "", o.arrival != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0:
		return usage(errors.New("no workload: give --swf FILE, job files, or --arrival and --runtime"))
	case sources > 1:
		return usage(errors.New("give one workload: --swf, job files, --replay, or --arrival/--runtime"))
	case o.replay != "":
		return usage(errors.New("--replay is not implemented yet: the engine does not record accounts the simulator can read"))
	case o.arrival != "" && o.runtime == "":
		return usage(errors.New("--arrival needs --runtime"))
	case o.seeds < 1:
		return usage(fmt.Errorf("--seeds = %d: want 1 or more", o.seeds))
	case o.shake < 0:
		return usage(fmt.Errorf("--shake = %v: want 0 or more", o.shake))
	case o.workers < 1:
		return usage(fmt.Errorf("--workers = %d: want 1 or more", o.workers))
	}
	if o.autoscale != "" {
		src, err := os.ReadFile(o.autoscale)
		if err != nil {
			return usage(fmt.Errorf("--autoscale: %v", err))
		}
		c.AutoScaleFormula = string(src)
	}
	if o.plot != "" && !strings.HasSuffix(strings.ToLower(o.plot), ".svg") && !strings.HasSuffix(strings.ToLower(o.plot), ".png") {
		return usage(fmt.Errorf("--plot %s: want a .svg or .png file", o.plot))
	}
	return o, -1
}

// simInput makes the workload of each seed.
type simInput struct {
	o     *simFlags
	name  string
	trace *workload.Workload  // --swf
	jobs  []workload.JobInput // job files
	cache map[uint64]*workload.Workload
}

func loadSimInput(env *cmdEnv, o *simFlags) (*simInput, error) {
	in := &simInput{o: o, cache: map[uint64]*workload.Workload{}}
	switch {
	case o.swf != "":
		f, err := os.Open(o.swf)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		w, err := workload.ParseSWF(o.swf, f)
		if err != nil {
			return nil, err
		}
		in.trace, in.name = w, o.swf
		if n := w.DroppedTotal(); n > 0 {
			var parts []string
			for _, d := range w.Dropped {
				parts = append(parts, fmt.Sprintf("%d %s", d.Count, d.Reason))
			}
			fmt.Fprintf(env.Stderr, "embatch sim: %s: dropped %d records: %s\n", o.swf, n, strings.Join(parts, "; "))
		}
	case len(o.jobs) > 0:
		l := &loader{dataDir: os.TempDir(), stdin: env.Stdin, cpus: runtime.NumCPU(), now: time.Now()}
		p, err := l.load(o.jobs)
		if err != nil {
			return nil, err
		}
		for _, j := range p.Jobs {
			in.jobs = append(in.jobs, workload.JobInput{Spec: j.Spec, Tasks: j.Tasks})
		}
		in.name = strings.Join(o.jobs, ",")
	default:
		in.name = fmt.Sprintf("synthetic %s %s x%d", o.arrival, o.runtime, o.tasks)
	}
	// Check the inputs once, with the first seed.
	_, err := in.workload(o.base.Seed)
	return in, err
}

// workload is the workload of a run with seed.
func (in *simInput) workload(seed uint64) (*workload.Workload, error) {
	if w := in.cache[seed]; w != nil {
		return w, nil
	}
	o := in.o
	var w *workload.Workload
	var err error
	switch {
	case in.trace != nil:
		w = in.trace
		if o.seeds > 1 {
			w = w.Shake(sim.Rand(seed, sim.StreamShake), time.Duration(o.shake*float64(time.Second)))
		}
	case in.jobs != nil:
		w, err = workload.FromJobs(in.name, in.jobs, o.runtime, sim.Rand(seed, sim.StreamWorkload))
	default:
		w, err = workload.Synthetic{
			Arrival: o.arrival, Runtime: o.runtime, Tasks: o.tasks,
			Slots: o.taskSlots, Instances: o.instances, Estimates: o.estimates,
		}.Generate(sim.Rand(seed, sim.StreamWorkload))
	}
	if err != nil {
		return nil, err
	}
	in.cache[seed] = w
	return w, nil
}

// cmdSim is `embatch sim`.
func cmdSim(ctx context.Context, env *cmdEnv, args []string) int {
	o, code := parseSimFlags(env, args)
	if code >= 0 {
		return code
	}
	in, err := loadSimInput(env, o)
	if err != nil {
		fmt.Fprintf(env.Stderr, "embatch sim: %v\n", err)
		return exitUsage
	}
	base := o.base
	base.Workload = in.name
	base.Check = o.check
	base.Series = o.plot != ""
	if base.Nodes == 0 && base.LowPriority == 0 {
		base.Nodes = 1
		if in.trace != nil && in.trace.MaxProcs > 0 {
			base.Nodes = in.trace.MaxProcs
		}
	}
	if in.trace != nil && o.seeds > 1 {
		base.ShakeS = o.shake
	}
	if !o.reproducible {
		base.Clock = time.Now
	}
	// OTEL_TRACES_EXPORTER exports the simulated runs as spans with
	// virtual timestamps, as `embatch run` exports live ones.
	tel, err := setupTelemetry(ctx)
	if err != nil {
		fmt.Fprintf(env.Stderr, "embatch sim: telemetry: %v\n", err)
		return exitUsage
	}
	defer func() {
		if err := tel.close(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(env.Stderr, "embatch sim: telemetry: %v\n", err)
		}
	}()
	if tel.tracerProvider != nil {
		base.Tracer = tel.tracerProvider.Tracer("github.com/embatch/embatch/sim")
	}
	var params []sim.Param
	for _, s := range o.sweeps {
		p, err := sim.ParseSweep(s)
		if err != nil {
			fmt.Fprintf(env.Stderr, "embatch sim: %v\n", err)
			return exitUsage
		}
		params = append(params, p)
	}
	configs, err := sim.Expand(base, params)
	if err != nil {
		fmt.Fprintf(env.Stderr, "embatch sim: %v\n", err)
		return exitUsage
	}
	for _, c := range configs {
		if err := c.Validate(); err != nil {
			fmt.Fprintf(env.Stderr, "embatch sim: %s: %v\n", describeConfig(c, params), err)
			return exitUsage
		}
	}
	// One job per configuration and seed.
	var jobs []sim.Job
	for _, c := range configs {
		first := c.Seed
		for k := range o.seeds {
			c.Seed = first + uint64(k)
			w, err := in.workload(c.Seed)
			if err != nil {
				fmt.Fprintf(env.Stderr, "embatch sim: %v\n", err)
				return exitUsage
			}
			jobs = append(jobs, sim.Job{Config: c, Workload: w})
		}
	}
	results, errs := runSimJobs(ctx, env, o, jobs)
	failed := false
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(env.Stderr, "embatch sim: run %d (%s): %v\n", i+1, describeConfig(jobs[i].Config, params), err)
			failed = true
		}
	}
	if failed {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitFailed
	}
	for i, r := range results {
		if r.Skipped > 0 {
			fmt.Fprintf(env.Stderr, "embatch sim: run %d (%s): left out %d tasks that can never fit the pool\n", i+1, describeConfig(jobs[i].Config, params), r.Skipped)
		}
		if r.Stalled {
			fmt.Fprintf(env.Stderr, "embatch sim: run %d (%s): %d of %d tasks completed by t=%.0fs\n", i+1, describeConfig(jobs[i].Config, params), r.Completed, r.Tasks, r.EndS)
		}
		for _, v := range r.Violations {
			fmt.Fprintf(env.Stderr, "embatch sim: run %d (%s): invariant violated: %s\n", i+1, describeConfig(jobs[i].Config, params), v)
			failed = true
		}
	}
	if err := writeSimOutput(env.Stdout, o, params, results); err != nil {
		fmt.Fprintf(env.Stderr, "embatch sim: %v\n", err)
		return exitFailed
	}
	if o.plot != "" {
		var runs []simplot.Run
		for i := 0; i < len(results); i += o.seeds {
			runs = append(runs, simplot.Run{Label: describeConfig(results[i].Config, params), Result: results[i]})
		}
		if err := simplot.WriteFile(o.plot, runs); err != nil {
			fmt.Fprintf(env.Stderr, "embatch sim: %v\n", err)
			return exitFailed
		}
	}
	if failed {
		return exitFailed
	}
	return exitOK
}

// runSimJobs runs the jobs on o.workers goroutines, with a progress bar on
// a terminal when there is more than one.
func runSimJobs(ctx context.Context, env *cmdEnv, o *simFlags, jobs []sim.Job) ([]*sim.Result, []error) {
	var done func()
	if len(jobs) > 1 && isTerminal(env.Stderr) {
		bar := progressbar.NewOptions(len(jobs),
			progressbar.OptionSetWriter(env.Stderr),
			progressbar.OptionSetDescription("simulating"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		done = func() { _ = bar.Add(1) }
		defer bar.Finish()
	}
	return sim.RunMany(ctx, jobs, o.workers, done)
}

// describeConfig names a configuration by the swept settings (and the seed).
func describeConfig(c sim.Config, params []sim.Param) string {
	var parts []string
	for _, p := range params {
		parts = append(parts, p.Key+"="+configValue(c, p.Key))
	}
	if len(parts) == 0 {
		parts = append(parts, "policy="+c.Policy, "nodes="+strconv.Itoa(c.Nodes))
	}
	return strings.Join(parts, " ")
}

// configValue is a sweep key's value in c, as text.
func configValue(c sim.Config, key string) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch key {
	case "nodes":
		return strconv.Itoa(c.Nodes)
	case "low-priority":
		return strconv.Itoa(c.LowPriority)
	case "slots":
		return strconv.Itoa(c.Slots)
	case "fill":
		return c.Fill
	case "policy":
		return c.Policy
	case "seed":
		return strconv.FormatUint(c.Seed, 10)
	case "price-dedicated":
		return f(c.PriceDedicated)
	case "price-low-priority":
		return f(c.PriceLowPriority)
	case "failure-rate":
		return f(c.FailureRate)
	case "preemption-rate":
		return f(c.PreemptionRate)
	case "restart-rate":
		return f(c.RestartRate)
	case "horizon":
		return f(c.HorizonS)
	case "boot-time":
		return c.BootTime
	case "start-task-time":
		return c.StartTaskTime
	case "recovery-time":
		return c.RecoveryTime
	}
	return "?"
}

// writeSimOutput prints the results: JSON (an object for one
// configuration, an array for a sweep; summaries with --seeds), or a table.
func writeSimOutput(w io.Writer, o *simFlags, params []sim.Param, results []*sim.Result) error {
	var summaries []sim.Summary
	if o.seeds > 1 {
		for i := 0; i < len(results); i += o.seeds {
			s := sim.Summarize(results[i : i+o.seeds])
			s.Config.Seed = results[i].Config.Seed
			summaries = append(summaries, s)
		}
	}
	if o.json {
		var v any
		switch {
		case summaries != nil && len(summaries) == 1:
			v = summaries[0]
		case summaries != nil:
			v = summaries
		case len(results) == 1:
			v = results[0]
		default:
			v = results
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(results) == 1 {
		r := results[0]
		fmt.Fprintf(tw, "workload\t%s\n", r.Config.Workload)
		fmt.Fprintf(tw, "pool\t%d dedicated + %d low-priority nodes, %d slot(s) each, policy %s, seed %d\n",
			r.Config.Nodes, r.Config.LowPriority, max(r.Config.Slots, 1), r.Config.Policy, r.Config.Seed)
		for k, v := range r.Metrics.Values() {
			fmt.Fprintf(tw, "%s\t%s\n", sim.MetricKeys[k], fmtMetric(v))
		}
		return tw.Flush()
	}
	cols := []string{"tasks", "completed", "makespan_s", "utilization", "wait_mean_s", "wait_p95_s", "bsld_mean", "cost", "preemptions", "requeues"}
	var head []string
	for _, p := range params {
		head = append(head, p.Key)
	}
	if len(params) == 0 {
		head = append(head, "seed")
	}
	fmt.Fprintln(tw, strings.Join(append(head, cols...), "\t"))
	idx := map[string]int{}
	for k, key := range sim.MetricKeys {
		idx[key] = k
	}
	row := func(c sim.Config, cell func(k int) string) {
		var cells []string
		for _, p := range params {
			cells = append(cells, configValue(c, p.Key))
		}
		if len(params) == 0 {
			cells = append(cells, strconv.FormatUint(c.Seed, 10))
		}
		for _, col := range cols {
			cells = append(cells, cell(idx[col]))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if summaries != nil {
		for _, s := range summaries {
			row(s.Config, func(k int) string { return fmtMetric(s.Mean[k]) + " ±" + fmtMetric(s.CI95[k]) })
		}
		fmt.Fprintf(tw, "\n(mean ±95%% confidence interval over %d seeds)\n", o.seeds)
	} else {
		for _, r := range results {
			vals := r.Metrics.Values()
			row(r.Config, func(k int) string { return fmtMetric(vals[k]) })
		}
	}
	return tw.Flush()
}

// fmtMetric formats a metric for the table.
func fmtMetric(v float64) string {
	switch a := math.Abs(v); {
	case v == math.Trunc(v) && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 4, 64)
	}
}
