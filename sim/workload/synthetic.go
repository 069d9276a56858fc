package workload

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/embatch/embatch/task"
)

// SyntheticJobID is the id of the job that holds a synthetic workload's
// tasks.
const SyntheticJobID = "synthetic"

// Synthetic describes a generated workload: Tasks tasks arriving by
// Arrival, each running for a time drawn from Runtime.
type Synthetic struct {
	// Arrival is an arrival spec (see ParseArrival), e.g. "poisson:2".
	Arrival string
	// Runtime is a distribution spec (see ParseDist), e.g. "exp:30".
	Runtime string
	// Tasks is the number of tasks, at least 1.
	Tasks int
	// Slots is each task's requiredSlots; 0 means 1.
	Slots int
	// Instances is each task's number of instances (nodes at once); 0
	// means 1.
	Instances int
	// Estimates, when true, gives each task a maxWallClockTime of its run
	// time plus EstimateMargin (exact estimates, for backfilling
	// policies). Otherwise tasks have no estimate.
	Estimates bool
}

// Generate draws the workload from r: first the arrival times, then the
// run times, in task order.
func (s Synthetic) Generate(r *rand.Rand) (*Workload, error) {
	arr, err := ParseArrival(s.Arrival)
	if err != nil {
		return nil, err
	}
	rt, err := ParseDist(s.Runtime)
	if err != nil {
		return nil, err
	}
	if s.Tasks < 1 {
		return nil, fmt.Errorf("synthetic workload: tasks = %d; want 1 or more", s.Tasks)
	}
	if s.Slots < 0 || s.Instances < 0 {
		return nil, fmt.Errorf("synthetic workload: slots and instances must be 0 (default 1) or more")
	}
	w := &Workload{
		Name:  fmt.Sprintf("synthetic %s %s x%d", arr, rt, s.Tasks),
		Jobs:  []task.JobSpec{newJob(SyntheticJobID)},
		Tasks: make([]Task, s.Tasks),
	}
	times := arr.Times(s.Tasks, r)
	var slots *int
	if s.Slots > 1 {
		slots = task.Ptr(s.Slots)
	}
	for i := range w.Tasks {
		id := strconv.Itoa(i)
		t := &w.Tasks[i]
		t.Submit = seconds(times[i])
		t.Runtime = seconds(rt.Sample(r))
		t.User = -1
		t.Spec = task.TaskSpec{ID: id, CommandLine: "synthetic", RequiredSlots: slots}
		if s.Instances > 1 {
			t.Spec.MultiInstanceSettings = &task.MultiInstanceSettings{NumberOfInstances: s.Instances, CoordinationCommandLine: "synthetic-coordinate"}
		}
		if s.Estimates {
			est := task.Duration(estimateFor(0, t.Runtime))
			t.Spec.Constraints = &task.TaskConstraints{MaxWallClockTime: &est}
		}
	}
	return w, nil
}

// RuntimeEnv is the environment setting through which a job file gives a
// task's simulated run time: a Go duration ("90s", "1h30m") or a number of
// seconds. Set on a task, or in the job's commonEnvironmentSettings for all
// its tasks.
const RuntimeEnv = "EMBATCH_SIM_RUNTIME"

// ExitCodeEnv is the environment setting through which a job file gives
// the exit code of a task's simulated attempts (default 0).
const ExitCodeEnv = "EMBATCH_SIM_EXIT_CODE"

// JobInput is a job with its tasks, as read from a job file.
type JobInput struct {
	Spec  task.JobSpec
	Tasks []task.TaskSpec
}

// FromJobs makes a workload of jobs read from Azure-style job files (the
// files `embatch run` takes). Every job and task is submitted at time 0,
// jobs in order and tasks in order; every job is bound to PoolID, whatever
// pool it names. A task's run time is its RuntimeEnv
// setting (the task's own, else the job's common one) or, when it has none,
// a draw from runtime (a ParseDist spec; empty means every task must give
// its own). Its exit code is its ExitCodeEnv setting, default 0.
func FromJobs(name string, jobs []JobInput, runtime string, r *rand.Rand) (*Workload, error) {
	var dist Dist
	if runtime != "" {
		var err error
		if dist, err = ParseDist(runtime); err != nil {
			return nil, err
		}
	}
	w := &Workload{Name: name}
	for ji, j := range jobs {
		spec := j.Spec
		spec.PoolInfo = task.PoolInformation{PoolID: PoolID}
		w.Jobs = append(w.Jobs, spec)
		for ti, t := range j.Tasks {
			rt, code, err := taskTimes(j.Spec, t)
			if err != nil {
				return nil, fmt.Errorf("%s: jobs[%d] (%q) tasks[%d] (%q): %w", name, ji, j.Spec.ID, ti, t.ID, err)
			}
			if rt < 0 {
				if !dist.Valid() {
					return nil, fmt.Errorf("%s: jobs[%d] (%q) tasks[%d] (%q): no run time: set %s on the task or give a run-time distribution", name, ji, j.Spec.ID, ti, t.ID, RuntimeEnv)
				}
				rt = seconds(dist.Sample(r))
			}
			w.Tasks = append(w.Tasks, Task{Job: ji, Spec: t, Runtime: rt, ExitCode: code, User: -1})
		}
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	return w, nil
}

// taskTimes reads a task's simulated run time (-1 when not given) and exit
// code from its environment settings.
func taskTimes(job task.JobSpec, t task.TaskSpec) (time.Duration, int, error) {
	rt, code := time.Duration(-1), 0
	for _, env := range [][]task.EnvironmentSetting{job.CommonEnvironmentSettings, t.EnvironmentSettings} {
		for _, e := range env {
			switch e.Name {
			case RuntimeEnv:
				d, err := parseRuntime(e.Value)
				if err != nil {
					return 0, 0, fmt.Errorf("environmentSettings %s = %q: %w", RuntimeEnv, e.Value, err)
				}
				rt = d
			case ExitCodeEnv:
				c, err := strconv.Atoi(e.Value)
				if err != nil {
					return 0, 0, fmt.Errorf("environmentSettings %s = %q: not an integer", ExitCodeEnv, e.Value)
				}
				code = c
			}
		}
	}
	return rt, code, nil
}

// parseRuntime reads a Go duration or a number of seconds, not negative.
func parseRuntime(s string) (time.Duration, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if !(v >= 0 && v <= maxSWFSeconds) {
			return 0, fmt.Errorf("want 0 or more seconds, at most %g", float64(maxSWFSeconds))
		}
		return seconds(v), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 90s or a number of seconds")
	}
	if d < 0 {
		return 0, fmt.Errorf("the run time must not be negative")
	}
	return d, nil
}
