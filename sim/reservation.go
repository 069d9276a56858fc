package sim

import (
	"cmp"
	"slices"
	"time"

	"github.com/embatch/embatch/task"
)

// reservations checks the promise of EASY backfilling: the task at the head
// of the queue gets a reservation, the earliest time enough nodes free up
// given the running tasks' estimates (maxWallClockTime, which the core
// enforces, so estimates are upper bounds), and backfilling never delays
// it. So the head must start no later than the reservation computed when it
// became the head; a later start means a backfilled task took its nodes.
//
// The check applies to one-job workloads without dependencies, faults or
// start tasks, where the queue order is the submission order and capacity
// never shrinks; otherwise it is off. It compares across scheduling passes:
// a backfill that delays the head within the very pass in which the head
// got there is not seen.
type reservations struct {
	s       *simulation
	on      bool
	head    int   // first workload task that may be waiting
	current int32 // the head whose reservation is recorded, -1 for none
	resv    map[int32]time.Duration
}

func newReservations(s *simulation) *reservations {
	r := &reservations{s: s, current: -1, resv: map[int32]time.Duration{}}
	r.on = len(s.wl.Jobs) == 1 && s.cfg.FailureRate == 0 && s.cfg.PreemptionRate == 0 && s.cfg.RestartRate == 0 && s.cfg.StartTaskTime == ""
	for i := range s.wl.Tasks {
		if d := s.wl.Tasks[i].Spec.DependsOn; d != nil && (len(d.TaskIDs) > 0 || len(d.TaskIDRanges) > 0) {
			r.on = false
		}
	}
	return r
}

// active notes that task i is waiting again (a retry): it may be the head.
func (r *reservations) active(i int32) {
	r.head = min(r.head, int(i))
}

// afterStep records the reservation of a new head.
func (r *reservations) afterStep(now time.Duration) {
	if !r.on {
		return
	}
	tasks := r.s.tasks
	for r.head < len(tasks) {
		tr := &tasks[r.head]
		if tr.state == task.TaskActive {
			break
		}
		if tr.state == task.TaskStateInvalid && !tr.skipped {
			return // not submitted yet
		}
		r.head++
	}
	if r.head >= len(tasks) || int32(r.head) == r.current {
		return
	}
	r.current = int32(r.head)
	if at, ok := r.shadow(now, r.current); ok {
		r.resv[r.current] = at
	}
}

// started checks a task's start against its reservation.
func (r *reservations) started(now time.Duration, i int32) {
	at, ok := r.resv[i]
	if !ok {
		return
	}
	delete(r.resv, i)
	if now > at {
		r.s.check.violate(now, "EASY reservation broken: task %s, head of the queue with a reservation at t=%v, started at t=%v", r.s.check.taskName(i), at, now)
	}
}

// shadow is the earliest time at which task h fits, if every running task
// ends at its estimate: the shadow time of EASY backfilling. It reports
// false when h never fits (a running task without an estimate holds the
// nodes it needs).
func (r *reservations) shadow(now time.Duration, h int32) (time.Duration, bool) {
	s := r.s
	spec := &s.wl.Tasks[h].Spec
	need, want := spec.Slots(), spec.MultiInstanceSettings.Instances()
	used := s.check.used
	free := make([]int, len(s.nodes))
	count := 0
	for i := range s.nodes {
		if !s.nodes[i].up {
			continue
		}
		free[i] = s.slots
		if i < len(used) {
			free[i] -= used[i]
		}
		if free[i] >= need {
			count++
		}
	}
	if count >= want {
		return now, true
	}
	type release struct {
		at    time.Duration
		node  int32
		slots int
	}
	var ends []release
	for i := range s.nodes {
		for _, id := range s.nodes[i].attempts {
			a := s.attempts.get(id)
			if a == nil || a.task < 0 || a.slots == 0 {
				continue
			}
			if est := s.wl.Tasks[a.task].Spec.WallClockLimit().D(); est > 0 {
				ends = append(ends, release{a.start + est, int32(i), a.slots})
			}
		}
	}
	slices.SortFunc(ends, func(x, y release) int { return cmp.Compare(x.at, y.at) })
	for _, e := range ends {
		if !s.nodes[e.node].up {
			continue
		}
		before := free[e.node]
		free[e.node] += e.slots
		if before < need && free[e.node] >= need {
			count++
			if count >= want {
				return e.at, true
			}
		}
	}
	return 0, false
}
