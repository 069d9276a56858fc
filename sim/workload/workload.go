// Package workload builds the inputs of a simulation: which tasks arrive
// when, in which job, needing what, and how long each one runs. Sources are
// Standard Workload Format traces (ParseSWF), synthetic arrival and run-time
// distributions (Synthetic), and Azure-style job specs with run times given
// per task or drawn (FromJobs).
//
// A Workload is plain data: the simulator (package sim) adds the jobs to a
// pool's scheduling core at time 0 and each task at its Submit time, and
// reports an attempt of a task exited Runtime after it started.
package workload

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/embatch/embatch/task"
)

// Task is one task of a workload.
type Task struct {
	// Submit is when the task is added, since the start of the run.
	Submit time.Duration
	// Job indexes Workload.Jobs.
	Job int
	// Spec is the task as added to its job.
	Spec task.TaskSpec
	// Runtime is how long every attempt of the task runs once started
	// (a requeued or retried attempt runs it again in full).
	Runtime time.Duration
	// ExitCode is what each attempt exits with; 0 means success.
	ExitCode int
	// User is the submitting user from a trace (-1 when unknown).
	User int
}

// Workload is the jobs and tasks of a run.
type Workload struct {
	// Name says where the workload came from, for reports.
	Name string
	// Jobs are added at time 0, in order. Their poolInfo names PoolID.
	Jobs []task.JobSpec
	// Tasks are sorted by Submit; ties keep their input order.
	Tasks []Task
	// MaxProcs is the machine size a trace was recorded on (its MaxProcs
	// or MaxNodes header), 0 when unknown.
	MaxProcs int
	// Dropped counts trace records left out, by reason, in the order the
	// reasons were first seen.
	Dropped []Drop
}

// PoolID is the id of the simulated pool that every workload job names in
// its poolInfo.
const PoolID = "sim"

// newJob is a job of the simulated pool.
func newJob(id string) task.JobSpec {
	return task.JobSpec{ID: id, PoolInfo: task.PoolInformation{PoolID: PoolID}}
}

// Drop counts the records left out of a workload for one reason.
type Drop struct {
	Reason string
	Count  int
}

// DroppedTotal is the number of records left out.
func (w *Workload) DroppedTotal() int {
	n := 0
	for _, d := range w.Dropped {
		n += d.Count
	}
	return n
}

func (w *Workload) drop(reason string) {
	for i := range w.Dropped {
		if w.Dropped[i].Reason == reason {
			w.Dropped[i].Count++
			return
		}
	}
	w.Dropped = append(w.Dropped, Drop{Reason: reason, Count: 1})
}

// sortTasks orders tasks by submit time, keeping input order among equals.
func (w *Workload) sortTasks() {
	slices.SortStableFunc(w.Tasks, func(a, b Task) int { return cmp.Compare(a.Submit, b.Submit) })
}

// Shake returns a copy of w whose submit times are each moved by a uniform
// random amount in [-maxShift, +maxShift] (never below 0) and re-sorted, the
// "shaking" that makes single-trace policy comparisons robust (Tsafrir,
// Ouaknine and Feitelson, 2007). Run times and specs are unchanged. It draws
// only from r.
func (w *Workload) Shake(r *rand.Rand, maxShift time.Duration) *Workload {
	out := *w
	out.Tasks = slices.Clone(w.Tasks)
	if maxShift <= 0 {
		return &out
	}
	for i := range out.Tasks {
		shift := time.Duration((r.Float64()*2 - 1) * float64(maxShift))
		out.Tasks[i].Submit = max(0, out.Tasks[i].Submit+shift)
	}
	out.sortTasks()
	return &out
}

// Validate checks that every job and task spec is valid, that task ids are
// unique within their job, and that times are not negative. The error names
// the task.
func (w *Workload) Validate() error {
	seen := make([]map[string]bool, len(w.Jobs))
	for i := range w.Jobs {
		if err := w.Jobs[i].Validate(); err != nil {
			return fmt.Errorf("workload %s: jobs[%d]: %w", w.Name, i, err)
		}
		seen[i] = map[string]bool{}
	}
	for i := range w.Tasks {
		t := &w.Tasks[i]
		if t.Job < 0 || t.Job >= len(w.Jobs) {
			return fmt.Errorf("workload %s: tasks[%d]: no job %d", w.Name, i, t.Job)
		}
		if err := t.Spec.Validate(&w.Jobs[t.Job]); err != nil {
			return fmt.Errorf("workload %s: job %q task %q: %w", w.Name, w.Jobs[t.Job].ID, t.Spec.ID, err)
		}
		key := task.FoldID(t.Spec.ID)
		if seen[t.Job][key] {
			return fmt.Errorf("workload %s: job %q: task id %q used twice", w.Name, w.Jobs[t.Job].ID, t.Spec.ID)
		}
		seen[t.Job][key] = true
		if t.Submit < 0 || t.Runtime < 0 {
			return fmt.Errorf("workload %s: job %q task %q: negative submit or run time", w.Name, w.Jobs[t.Job].ID, t.Spec.ID)
		}
	}
	return nil
}

// estimateFor is the maxWallClockTime a task gets from a requested time:
// the request, raised to the run time plus EstimateMargin when the task ran
// at least that long, so that the core's wall-clock kill never cuts short a
// run the workload recorded as completed.
func estimateFor(requested, runtime time.Duration) time.Duration {
	if requested < runtime+EstimateMargin {
		return runtime + EstimateMargin
	}
	return requested
}

// EstimateMargin is added to a run time used as (or raising) a
// maxWallClockTime estimate. Without it the core's wall-clock timer and
// the attempt's natural exit fall on the same instant, and the core, which
// fires due timers before applying an event, would kill the attempt.
const EstimateMargin = time.Second

// seconds converts seconds to a Duration, rounding to the nanosecond.
func seconds(s float64) time.Duration { return time.Duration(s*1e9 + 0.5) }
