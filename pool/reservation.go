package pool

import (
	"fmt"
	"time"
)

// Reservation is a backfilling policy's promise that a queued task will
// start no later than At.
type Reservation struct {
	JobID, TaskID string
	At            time.Time
	// Since is when the promise was made. A policy makes a new promise
	// (with a later Since) when a task it had to let ahead of this one
	// took capacity the promise counted on: a task of higher priority, or
	// a retried or requeued one, queued after the promise was made. The
	// zero Since is a promise that never changes this way.
	Since time.Time
}

// Reserver is implemented by policies that make reservations (EASY and
// conservative backfilling), so that drivers can check them with a
// ReservationChecker.
type Reserver interface {
	// Reservations calls f with each reservation in effect after the
	// latest scheduling pass, until f returns false. Call it between Ready
	// and the next Step; it must not be called during Schedule.
	Reservations(f func(Reservation) bool)
}

// ReservationChecker checks that a backfilling policy keeps its promises:
// a task that holds a reservation starts no later than the first time it
// was promised, and a reservation never moves later. It is the simulator's
// "reservations honoured" invariant and needs only the Scheduler API.
//
// Use it from a driver after every Ready:
//
//	for _, a := range rd.Actions {
//		if a.Kind == pool.ActStartAttempt && a.Attempt.Kind == pool.AttemptTask {
//			err = rc.Started(a.Attempt.JobID, a.Attempt.TaskID, now)
//		}
//	}
//	err = rc.Observe(policy) // policy.(pool.Reserver)
//
// A promise holds only while its task keeps a reservation with the same
// Since: one the policy drops or makes anew (a task with higher priority,
// or a retried or requeued task, was queued ahead; the task's job was
// disabled or reached maxParallelTasks) is forgotten. Promises assume the pool keeps its capacity and tasks end by
// their estimate; call Reset whenever that stops being true: a node is lost,
// preempted, removed, disabled or resized away, or a kill for
// maxWallClockTime is reported later than the deadline.
//
// Task ids are compared as given; ids differing only in case are the same
// task to the scheduler and should be given the same way.
type ReservationChecker struct {
	promised map[resTask]promise
	gen      uint64
}

type resTask struct{ job, task string }

type promise struct {
	at, since time.Time
	gen       uint64
}

// NewReservationChecker returns a checker with no promises.
func NewReservationChecker() *ReservationChecker {
	return &ReservationChecker{promised: make(map[resTask]promise)}
}

// ReservationViolation is the error the checker reports when a promise was
// broken.
type ReservationViolation struct {
	JobID, TaskID string
	// Promised is the first reservation; Got is the later reservation or
	// start time.
	Promised, Got time.Time
	// Started is true when the task started late, false when its
	// reservation moved later.
	Started bool
}

func (v *ReservationViolation) Error() string {
	what := "reservation moved to"
	if v.Started {
		what = "started at"
	}
	return fmt.Sprintf("task %s/%s was promised a start by %s but its %s %s",
		v.JobID, v.TaskID, v.Promised.Format(time.RFC3339Nano), what, v.Got.Format(time.RFC3339Nano))
}

// Observe records the reservations r has in effect now. It returns a
// *ReservationViolation for the first task (in r's order) whose reservation
// is later than the time first promised; the promise is kept. Tasks that
// no longer have a reservation, or have one with a different Since, are
// forgotten.
func (rc *ReservationChecker) Observe(r Reserver) error {
	rc.gen++
	var err error
	r.Reservations(func(res Reservation) bool {
		k := resTask{res.JobID, res.TaskID}
		p, ok := rc.promised[k]
		if !ok || !p.since.Equal(res.Since) {
			p = promise{at: res.At, since: res.Since}
		} else if res.At.After(p.at) && err == nil {
			err = &ReservationViolation{JobID: res.JobID, TaskID: res.TaskID, Promised: p.at, Got: res.At}
		}
		p.gen = rc.gen
		rc.promised[k] = p
		return true
	})
	// Deleting while ranging is deterministic: which entries go does not
	// depend on the order.
	for k, p := range rc.promised {
		if p.gen != rc.gen {
			delete(rc.promised, k)
		}
	}
	return err
}

// Started checks a task that started at now: a *ReservationViolation if it
// was promised an earlier start. The promise is forgotten either way.
func (rc *ReservationChecker) Started(jobID, taskID string, now time.Time) error {
	k := resTask{jobID, taskID}
	p, ok := rc.promised[k]
	if !ok {
		return nil
	}
	delete(rc.promised, k)
	if now.After(p.at) {
		return &ReservationViolation{JobID: jobID, TaskID: taskID, Promised: p.at, Got: now, Started: true}
	}
	return nil
}

// Reset forgets every promise; see ReservationChecker for when.
func (rc *ReservationChecker) Reset() { clear(rc.promised) }

// Len is the number of promises held.
func (rc *ReservationChecker) Len() int { return len(rc.promised) }
