package jobschedule

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/embatch/embatch/task"
)

// Event is an input to Machine.Step: a user's request or a report of what
// happened to one of the schedule's jobs.
type Event interface{ isEvent() }

// Tick only advances time, firing occurrences that are due.
type Tick struct{}

// JobAdded reports the outcome of an ActAddJob: Err is nil if the job was
// created. If the id was taken (task.ErrJobExists or
// task.ErrJobScheduleWithSameIDExists) the Machine retries at once with the
// next job number; any other error skips the occurrence and is kept in
// ExecutionInfo.SchedulingError. Until the answer comes the job is active
// but is neither terminated nor deleted: if the id was taken, the job with
// that id is not the schedule's.
type JobAdded struct {
	JobID string
	Err   error
}

// JobFinished reports that one of the schedule's jobs completed, or (with
// Deleted) no longer exists. Reports about unknown jobs, and repeated
// reports, are ignored.
type JobFinished struct {
	JobID   string
	Deleted bool
}

// Disable stops the schedule creating jobs. Disabling a disabled schedule
// changes nothing.
type Disable struct{}

// Enable lets a disabled schedule create jobs again. Enabling an active
// schedule changes nothing.
type Enable struct{}

// Terminate ends the schedule: its active job is terminated and the
// schedule completes when that job has.
type Terminate struct{}

// Delete deletes the schedule and all its jobs.
type Delete struct{}

func (Tick) isEvent()        {}
func (JobAdded) isEvent()    {}
func (JobFinished) isEvent() {}
func (Disable) isEvent()     {}
func (Enable) isEvent()      {}
func (Terminate) isEvent()   {}
func (Delete) isEvent()      {}

// ActionKind says what a driver must do.
type ActionKind uint8

// Action kinds. The zero value is invalid.
const (
	ActionInvalid ActionKind = iota
	// ActAddJob: create Job (its id is JobID); answer with JobAdded and,
	// once the job has completed or is gone, JobFinished.
	ActAddJob
	// ActTerminateJob: terminate job JobID with Reason; its JobFinished
	// follows when it completes.
	ActTerminateJob
	// ActDeleteJob: delete job JobID; answer with JobFinished{Deleted: true}
	// once it is gone (also if it did not exist).
	ActDeleteJob
)

var actionKindNames = [...]string{"invalid", "add-job", "terminate-job", "delete-job"}

// String names the kind.
func (k ActionKind) String() string {
	if int(k) < len(actionKindNames) {
		return actionKindNames[k]
	}
	return "invalid"
}

// Action is an output of the Machine for its driver to perform.
type Action struct {
	Kind  ActionKind
	JobID string
	// Job is the job to create (ActAddJob): the schedule's
	// jobSpecification with the id JobID. Its slices are shared with the
	// schedule's spec and must not be modified.
	Job task.JobSpec
	// Reason is the terminateReason (ActTerminateJob).
	Reason string
}

// String renders the action as one line of a decision trace.
func (a Action) String() string {
	s := a.Kind.String() + " " + a.JobID
	if a.Reason != "" {
		s += " (" + a.Reason + ")"
	}
	return s
}

// Ready is what the Machine asks of its driver: if Changed, persist the
// record (and publish it); then perform Actions in order; then Advance.
type Ready struct {
	Changed bool
	Actions []Action
}

// Machine is the state machine of one job schedule. It is not safe for
// concurrent use: its driver owns it.
type Machine struct {
	rec JobSchedule
	now time.Time

	// anchor is the due time of the first occurrence; occurrence k is due
	// at anchor + k*interval.
	anchor   time.Time
	interval time.Duration // 0: no recurrence
	window   time.Duration // valid when hasWindow
	// hasWindow is false for an unlimited startWindow.
	hasWindow bool
	until     time.Time // doNotRunAfter; zero: none

	// next is the due time of the next occurrence; zero when none is left.
	next time.Time
	// pending is the due time of an occurrence waiting for the active job
	// to finish; zero when none.
	pending time.Time
	// active is the id of the job that is not yet completed, "" if none;
	// activeDue is the due time of the occurrence it serves.
	active    string
	activeDue time.Time
	// adding is the id of the job whose ActAddJob has not been answered
	// yet, "" if none. It is not terminated or deleted before it is known
	// to exist: if its add failed because the id was taken, that job is
	// someone else's.
	adding string
	// jobs are the ids of the jobs created and not known to be deleted, in
	// creation order, for Delete.
	jobs []string
	// seq is the number of the last job id handed out.
	seq int

	deleted bool
	ready   Ready
}

// New validates spec and returns its Machine, created at now. A job that
// is due at once is in the first Ready.
func New(spec Spec, now time.Time) (*Machine, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	sc := spec.Schedule
	m := &Machine{
		rec: JobSchedule{
			Spec:                spec,
			CreationTime:        now,
			State:               StateActive,
			StateTransitionTime: now,
		},
		now: now,
	}
	m.setSchedule(sc, now)
	m.setNext(m.anchor)
	m.ready.Changed = true
	m.advance()
	m.sync()
	return m, nil
}

// setSchedule derives the Machine's timing from sc, for a schedule created
// at created.
func (m *Machine) setSchedule(sc Schedule, created time.Time) {
	m.anchor, m.until = created, sc.DoNotRunAfter
	if !sc.DoNotRunUntil.IsZero() {
		m.anchor = sc.DoNotRunUntil
	}
	if sc.RecurrenceInterval != nil {
		m.interval = sc.RecurrenceInterval.D()
	}
	if sc.StartWindow != nil && *sc.StartWindow < task.Unlimited {
		m.window, m.hasWindow = sc.StartWindow.D(), true
	}
}

// JobSchedule returns the schedule's record.
func (m *Machine) JobSchedule() JobSchedule {
	r := m.rec
	if rj := r.ExecutionInfo.RecentJob; rj != nil {
		c := *rj
		r.ExecutionInfo.RecentJob = &c
	}
	if se := r.ExecutionInfo.SchedulingError; se != nil {
		c := *se
		r.ExecutionInfo.SchedulingError = &c
	}
	return r
}

// State is the schedule's state.
func (m *Machine) State() State { return m.rec.State }

// ActiveJob is the id of the schedule's job that has not completed yet,
// or "" if there is none.
func (m *Machine) ActiveJob() string { return m.active }

// Jobs returns the ids of the jobs the schedule created that are not known
// to be deleted, oldest first.
func (m *Machine) Jobs() []string { return slices.Clone(m.jobs) }

// Deleted reports whether the schedule was deleted and all its jobs are
// gone: the driver forgets it.
func (m *Machine) Deleted() bool { return m.deleted }

// Now is the time of the latest Step.
func (m *Machine) Now() time.Time { return m.now }

// NextDeadline is when the Machine must be Stepped (with Tick) next, or
// zero if only an event can change anything.
func (m *Machine) NextDeadline() time.Time {
	switch m.rec.State {
	case StateActive:
		d := m.next
		if !m.until.IsZero() && m.until.After(m.now) && (d.IsZero() || m.until.Before(d)) {
			d = m.until // to complete then
		}
		return d
	case StateDisabled:
		return m.next // to skip the occurrence and move nextRunTime on
	}
	return time.Time{}
}

// Ready returns the changes and actions since the last Advance. The
// Actions slice is valid until Advance.
func (m *Machine) Ready() Ready { return m.ready }

// Advance acknowledges that rd, the last Ready, has been handled.
func (m *Machine) Advance(rd Ready) {
	clear(m.ready.Actions)
	m.ready.Actions = m.ready.Actions[:0]
	m.ready.Changed = false
}

// Step applies one event at time now (which must not go backwards; an
// earlier time is treated as the latest seen). Occurrences due by now fire
// first. An error means the event was rejected; it is a *task.Error.
func (m *Machine) Step(now time.Time, ev Event) error {
	if m.deleted {
		return task.Errorf(task.CodeJobScheduleNotFound, "jobScheduleId", m.rec.ID, "the job schedule was deleted")
	}
	if now.After(m.now) {
		m.now = now
	}
	m.advance()
	var err error
	switch e := ev.(type) {
	case Tick:
	case JobAdded:
		m.jobAdded(e)
	case JobFinished:
		m.jobFinished(e)
	case Disable:
		err = m.disable()
	case Enable:
		err = m.enable()
	case Terminate:
		err = m.terminate()
	case Delete:
		m.delete()
	case nil:
		err = task.Invalid("event", "nil", "no event")
	default:
		err = task.Invalid("event", fmt.Sprintf("%T", ev), "unknown event type")
	}
	m.advance()
	m.sync()
	return err
}

// changed marks the record as changed.
func (m *Machine) changed() { m.ready.Changed = true }

func (m *Machine) act(a Action) { m.ready.Actions = append(m.ready.Actions, a) }

func (m *Machine) setState(st State) {
	if m.rec.State == st {
		return
	}
	m.rec.PreviousState, m.rec.PreviousStateTransitionTime = m.rec.State, m.rec.StateTransitionTime
	m.rec.State, m.rec.StateTransitionTime = st, m.now
	m.changed()
}

// setNext sets the next occurrence, or none if it would be after
// doNotRunAfter.
func (m *Machine) setNext(t time.Time) {
	if !m.until.IsZero() && t.After(m.until) {
		t = time.Time{}
	}
	m.next = t
}

// sync copies the derived fields into the record.
func (m *Machine) sync() {
	if !m.rec.ExecutionInfo.NextRunTime.Equal(m.next) {
		m.rec.ExecutionInfo.NextRunTime = m.next
		m.changed()
	}
}

// advance applies the rules at m.now: it fires the latest occurrence due,
// drops a waiting occurrence whose window has passed, creates a job for a
// waiting occurrence if no job is active, and completes the schedule when
// nothing is left to do.
func (m *Machine) advance() {
	if m.rec.State != StateActive && m.rec.State != StateDisabled {
		return
	}
	if !m.next.IsZero() && !m.next.After(m.now) {
		due := m.next
		if m.interval > 0 {
			// The latest occurrence due by now; older ones that were
			// never Stepped are skipped.
			k := m.now.Sub(m.anchor) / m.interval
			due = m.anchor.Add(k * m.interval)
			m.setNext(due.Add(m.interval))
		} else {
			m.next = time.Time{}
		}
		if m.rec.State == StateActive {
			m.pending = due // replaces (skips) an older waiting occurrence
		}
	}
	if !m.pending.IsZero() && (m.hasWindow && m.now.After(m.pending.Add(m.window)) || !m.until.IsZero() && m.now.After(m.until)) {
		m.pending = time.Time{} // skipped
	}
	if m.rec.State != StateActive {
		return
	}
	if !m.pending.IsZero() && m.active == "" {
		due := m.pending
		m.pending = time.Time{}
		m.createJob(due)
	}
	if m.active == "" && m.pending.IsZero() &&
		(m.interval == 0 && m.next.IsZero() || !m.until.IsZero() && !m.now.Before(m.until)) {
		m.complete()
	}
}

func (m *Machine) createJob(due time.Time) {
	m.seq++
	id := JobID(m.rec.ID, m.seq)
	m.active, m.activeDue, m.adding = id, due, id
	m.jobs = append(m.jobs, id)
	job := task.JobSpec(m.rec.JobSpecification)
	job.ID = id
	m.act(Action{Kind: ActAddJob, JobID: id, Job: job})
}

func (m *Machine) complete() {
	m.next, m.pending = time.Time{}, time.Time{}
	m.rec.ExecutionInfo.EndTime = m.now
	m.setState(StateCompleted)
}

// forget removes id from the schedule's jobs and reports whether it was
// there.
func (m *Machine) forget(id string) bool {
	i := slices.Index(m.jobs, id)
	if i < 0 {
		return false
	}
	m.jobs = slices.Delete(m.jobs, i, i+1)
	return true
}

func (m *Machine) jobAdded(e JobAdded) {
	if e.JobID != m.adding {
		return
	}
	m.adding = ""
	if e.Err == nil {
		m.rec.ExecutionInfo.RecentJob = &RecentJob{ID: e.JobID}
		m.rec.ExecutionInfo.SchedulingError = nil
		m.changed()
		// A terminate or delete that came while the add was under way
		// applies now.
		switch m.rec.State {
		case StateTerminating:
			if m.active == e.JobID {
				m.act(Action{Kind: ActTerminateJob, JobID: e.JobID, Reason: TerminateReason})
			}
		case StateDeleting:
			m.act(Action{Kind: ActDeleteJob, JobID: e.JobID})
		}
		return
	}
	m.forget(e.JobID)
	if e.JobID != m.active {
		return
	}
	m.active = ""
	if errors.Is(e.Err, task.ErrJobExists) || errors.Is(e.Err, task.ErrJobScheduleWithSameIDExists) {
		// Someone else has this id: the same occurrence tries the next
		// number, unless a later one is already waiting.
		if m.pending.IsZero() {
			m.pending = m.activeDue
		}
	} else {
		code := "Unknown"
		var te *task.Error
		if errors.As(e.Err, &te) {
			code = te.Code
		}
		m.rec.ExecutionInfo.SchedulingError = &task.FailureInfo{Category: task.UserError, Code: code, Message: e.Err.Error()}
		m.changed()
	}
	m.jobEnded()
}

func (m *Machine) jobFinished(e JobFinished) {
	if e.Deleted {
		m.forget(e.JobID)
	}
	if m.active != "" && e.JobID == m.active {
		m.active = ""
		m.changed()
	}
	m.jobEnded()
}

// jobEnded moves a terminating or deleting schedule on once its jobs are
// done (advance handles the active and disabled states).
func (m *Machine) jobEnded() {
	switch m.rec.State {
	case StateTerminating:
		if m.active == "" {
			m.complete()
		}
	case StateDeleting:
		if len(m.jobs) == 0 && !m.deleted {
			m.deleted = true
			m.changed()
		}
	}
}

// stateError is the error of an operation that the schedule's state does
// not allow.
func (m *Machine) stateError(op string) error {
	id := m.rec.ID
	switch m.rec.State {
	case StateTerminating:
		return task.Errorf(task.CodeJobScheduleBeingTerminated, "jobScheduleId", id, "cannot %s: the job schedule is being terminated", op)
	case StateCompleted:
		return task.Errorf(task.CodeJobScheduleCompleted, "jobScheduleId", id, "cannot %s: the job schedule has completed", op)
	case StateDeleting:
		return task.Errorf(task.CodeJobScheduleBeingDeleted, "jobScheduleId", id, "cannot %s: the job schedule is being deleted", op)
	}
	return task.Errorf(task.CodeOperationInvalidForState, "jobScheduleId", id, "cannot %s a job schedule that is %s", op, m.rec.State)
}

func (m *Machine) disable() error {
	switch m.rec.State {
	case StateActive:
		m.pending = time.Time{} // skipped
		m.setState(StateDisabled)
		return nil
	case StateDisabled:
		return nil
	}
	return m.stateError("disable")
}

func (m *Machine) enable() error {
	switch m.rec.State {
	case StateDisabled:
		m.setState(StateActive)
		return nil
	case StateActive:
		return nil
	}
	return m.stateError("enable")
}

func (m *Machine) terminate() error {
	switch m.rec.State {
	case StateActive, StateDisabled:
	case StateTerminating:
		return nil
	default:
		return m.stateError("terminate")
	}
	m.next, m.pending = time.Time{}, time.Time{}
	m.setState(StateTerminating)
	if m.active != "" && m.active != m.adding {
		m.act(Action{Kind: ActTerminateJob, JobID: m.active, Reason: TerminateReason})
	}
	m.jobEnded()
	return nil
}

func (m *Machine) delete() {
	if m.rec.State == StateDeleting {
		return
	}
	m.next, m.pending = time.Time{}, time.Time{}
	m.setState(StateDeleting)
	for _, id := range m.jobs {
		if id != m.adding {
			m.act(Action{Kind: ActDeleteJob, JobID: id})
		}
	}
	m.jobEnded()
}
