package jobschedule_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/embatch/embatch/engine/jobschedule"
	"github.com/embatch/embatch/task"
)

// TestRandomWalk drives machines with seeded random schedules and events
// and checks after every step what must always hold:
//
//   - at most one job of the schedule is active (added and not finished);
//   - a job is created only while the schedule is active, not before
//     doNotRunUntil, not after doNotRunAfter, and within startWindow of an
//     occurrence's due time;
//   - job ids are never reused, and only jobs the schedule added are
//     terminated or deleted;
//   - NextDeadline is zero or after the current time (else a driver would
//     spin);
//   - the same seed gives the same trace.
func TestRandomWalk(t *testing.T) {
	for seed := range uint64(300) {
		a := randomWalk(t, seed)
		b := randomWalk(t, seed)
		if a != b {
			t.Fatalf("seed %d: two runs differ:\n%s\n----\n%s", seed, a, b)
		}
	}
}

func randomWalk(t *testing.T, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 1))
	var trace strings.Builder
	dur := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)) }
	spec := jobschedule.Spec{ID: "s", JobSpecification: jobschedule.JobSpecification{PoolInfo: task.PoolInformation{PoolID: "p"}}}
	sc := &spec.Schedule
	if rng.IntN(2) == 0 {
		sc.RecurrenceInterval = task.Ptr(task.Duration(dur(time.Minute, 10*time.Minute).Truncate(time.Second)))
	}
	if rng.IntN(2) == 0 {
		sc.StartWindow = task.Ptr(task.Duration(dur(time.Minute, 15*time.Minute).Truncate(time.Second)))
	}
	if rng.IntN(2) == 0 {
		sc.DoNotRunUntil = epoch.Add(dur(-5*time.Minute, 20*time.Minute))
	}
	if rng.IntN(3) == 0 {
		from := epoch
		if !sc.DoNotRunUntil.IsZero() {
			from = sc.DoNotRunUntil
		}
		sc.DoNotRunAfter = from.Add(dur(time.Second, 2*time.Hour))
	}
	fmt.Fprintf(&trace, "seed %d: %+v\n", seed, *sc)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: %s\ntrace:\n%s", seed, fmt.Sprintf(format, args...), trace.String())
	}

	now := epoch
	m, err := jobschedule.New(spec, now)
	if err != nil {
		fail("New: %v", err)
	}
	anchor := now
	if !sc.DoNotRunUntil.IsZero() {
		anchor = sc.DoNotRunUntil
	}
	// inWindow reports whether a job may be created at now: within
	// startWindow of the latest due occurrence (older ones are skipped).
	inWindow := func() bool {
		if now.Before(anchor) {
			return false
		}
		due := anchor
		if iv := sc.RecurrenceInterval; iv != nil {
			due = anchor.Add(now.Sub(anchor) / iv.D() * iv.D())
		}
		return sc.StartWindow == nil || now.Sub(due) <= sc.StartWindow.D()
	}

	active := map[string]bool{} // added, not finished
	var all []string            // every id ever handed out
	added := map[string]bool{}  // ids added successfully
	taken := map[string]bool{"s-job-3": true}
	var deleting []string
	// before is the state before the event: occurrences due by the
	// event's time fire first, so a Step(Terminate) may create the job of
	// an overdue occurrence and then terminate it.
	before := m.State()
	var check func(what string)
	check = func(what string) {
		rd := m.Ready()
		acts := slices.Clone(rd.Actions)
		st := m.State()
		if before == jobschedule.StateActive {
			st = before
		}
		m.Advance(rd)
		for _, a := range acts {
			fmt.Fprintf(&trace, "  %s\n", a)
			switch a.Kind {
			case jobschedule.ActAddJob:
				if st != jobschedule.StateActive {
					fail("%s: add-job %s while %s", what, a.JobID, st)
				}
				if len(active) > 0 {
					fail("%s: add-job %s while %v active", what, a.JobID, active)
				}
				if !sc.DoNotRunAfter.IsZero() && now.After(sc.DoNotRunAfter) {
					fail("%s: add-job %s at %s after doNotRunAfter", what, a.JobID, fmtT(now))
				}
				if !inWindow() {
					fail("%s: add-job %s at %s outside every start window", what, a.JobID, fmtT(now))
				}
				if slices.Contains(all, a.JobID) {
					fail("%s: job id %s reused", what, a.JobID)
				}
				all = append(all, a.JobID)
				var err error
				if taken[a.JobID] {
					err = task.Errorf(task.CodeJobExists, "id", a.JobID, "taken")
				} else if rng.IntN(10) == 0 {
					err = task.Errorf(task.CodePoolNotFound, "poolInfo.poolId", "p", "gone")
				} else {
					active[a.JobID] = true
					added[a.JobID] = true
				}
				if err := m.Step(now, jobschedule.JobAdded{JobID: a.JobID, Err: err}); err != nil {
					fail("JobAdded: %v", err)
				}
				check("JobAdded " + a.JobID)
			case jobschedule.ActTerminateJob:
				if !active[a.JobID] {
					fail("%s: terminate-job %s which is not active", what, a.JobID)
				}
			case jobschedule.ActDeleteJob:
				if !added[a.JobID] {
					fail("%s: delete-job %s which the schedule did not add", what, a.JobID)
				}
				deleting = append(deleting, a.JobID)
			}
		}
		if d := m.NextDeadline(); !d.IsZero() && !d.After(m.Now()) {
			fail("%s: NextDeadline %s is not after now %s", what, fmtT(d), fmtT(m.Now()))
		}
	}
	check("New")

	for i := 0; i < 60 && !m.Deleted(); i++ {
		now = now.Add(dur(0, 4*time.Minute))
		var ev jobschedule.Event
		switch r := rng.IntN(20); {
		case r < 8:
			if d := m.NextDeadline(); !d.IsZero() && d.After(now) {
				now = d
			}
			ev = jobschedule.Tick{}
		case r < 13 && len(active) > 0:
			for id := range active { // one entry
				delete(active, id)
				ev = jobschedule.JobFinished{JobID: id}
			}
		case r < 14 && len(deleting) > 0:
			id := deleting[0]
			deleting = deleting[1:]
			delete(active, id)
			ev = jobschedule.JobFinished{JobID: id, Deleted: true}
		case r == 15:
			ev = jobschedule.Disable{}
		case r == 16:
			ev = jobschedule.Enable{}
		case r == 17:
			ev = jobschedule.Terminate{}
		case r == 18 && rng.IntN(3) == 0:
			ev = jobschedule.Delete{}
		default:
			ev = jobschedule.Tick{}
		}
		before = m.State()
		err := m.Step(now, ev)
		fmt.Fprintf(&trace, "t=%s %T%+v -> %s err=%v\n", fmtT(now), ev, ev, m.State(), err)
		check(fmt.Sprintf("t=%s %T", fmtT(now), ev))
		if m.State() == jobschedule.StateCompleted && len(active) > 0 {
			fail("completed with active jobs %v", active)
		}
	}
	return trace.String()
}
