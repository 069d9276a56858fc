// Package jobschedule is the deterministic state machine of one Azure Batch
// job schedule: it decides when the schedule creates a job, and what happens
// to the schedule and its jobs when they end or a user disables, enables,
// terminates or deletes it. Like pool.Scheduler it has no goroutines, no
// clock and no I/O: time is an input of Step, effects are the Actions of
// Ready, and NextDeadline says when the driver must Step again (with Tick).
// The engine drives one Machine per schedule.
//
// # Rules (Azure's)
//
// Occurrences are due at doNotRunUntil (or the creation time when it is
// not set) and then every recurrenceInterval: the interval is between job
// start (due) times, not between the end of one job and the start of the
// next, and the times never drift.
//
//   - At most one job of a schedule is active (not completed) at a time. An
//     occurrence that falls due while a job is active waits for that job to
//     finish; the new job is created then if that is still within
//     startWindow of the due time, otherwise the occurrence is skipped. A
//     later occurrence replaces a waiting one (the older is skipped), so
//     with startWindow longer than recurrenceInterval a job starts as soon
//     as the previous one finishes.
//   - startWindow also bounds a late Step: an occurrence Stepped more than
//     startWindow after its due time is skipped, and of several occurrences
//     that fell due since the last Step only the latest is considered.
//     Without startWindow the window is unlimited.
//   - Without recurrenceInterval the schedule creates one job (within
//     startWindow of doNotRunUntil) and completes when that job finishes,
//     or when the occurrence is skipped.
//   - No job is created after doNotRunAfter; a schedule with
//     doNotRunAfter completes once that time has passed and no job of it
//     is active. A recurring schedule without doNotRunAfter stays active
//     until it is terminated.
//   - A disabled schedule creates no jobs: its active job continues, and
//     occurrences that fall due while it is disabled (or that were waiting
//     when it was disabled) are skipped. A disabled schedule does not
//     complete on its own; enabling one whose last occurrence has passed
//     completes it at once.
//   - Terminate makes the schedule terminating and terminates its active
//     job (reason TerminateJobSchedule); the schedule completes when that
//     job has. Delete makes it deleting and deletes all its jobs; the
//     Machine is Deleted once they are gone.
//
// # Job ids
//
// The n-th job of schedule "s" is "s-job-n" (see JobID). Azure names it
// "s:job-n", but embatch ids may not contain ':'. Because "s-job-n" is a
// valid id a user could take it first: the Machine then moves on to the
// next number for the same occurrence (see JobAdded).
package jobschedule

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/embatch/embatch/task"
)

// MinInterval is Azure's smallest startWindow and recurrenceInterval.
const MinInterval = time.Minute

// TerminateReason is the terminateReason of a job ended because its
// schedule was terminated, as Azure reports it.
const TerminateReason = "TerminateJobSchedule"

// Schedule says when a schedule's jobs are created. All fields are
// optional; the zero Schedule creates one job at once.
type Schedule struct {
	// DoNotRunUntil is the earliest time a job is created, and the time
	// occurrences are counted from. Zero means the schedule's creation time.
	DoNotRunUntil time.Time `json:"doNotRunUntil,omitzero"`
	// DoNotRunAfter is the latest time a job is created; the schedule
	// completes once it has passed and no job is active. Zero means never.
	DoNotRunAfter time.Time `json:"doNotRunAfter,omitzero"`
	// StartWindow is how long after its due time an occurrence may still
	// create its job; nil means unlimited. At least one minute.
	StartWindow *task.Duration `json:"startWindow,omitempty"`
	// RecurrenceInterval is the time between the due times of consecutive
	// jobs; nil means the schedule creates one job. At least one minute.
	RecurrenceInterval *task.Duration `json:"recurrenceInterval,omitempty"`
}

// JobSpecification is the template of the schedule's jobs: a task.JobSpec
// whose id the schedule sets (it must be left empty). It is written to
// JSON without "id", as Azure's JobSpecification.
type JobSpecification task.JobSpec

// MarshalJSON writes the job spec without its id.
func (j JobSpecification) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		// ID shadows task.JobSpec's id so that an empty one is left out.
		ID string `json:"id,omitempty"`
		task.JobSpec
	}{ID: j.ID, JobSpec: task.JobSpec(j)})
}

// Spec is what a user submits to create a job schedule (Azure's
// JobScheduleAddParameter).
type Spec struct {
	ID               string              `json:"id"`
	DisplayName      string              `json:"displayName,omitempty"`
	Schedule         Schedule            `json:"schedule"`
	JobSpecification JobSpecification    `json:"jobSpecification"`
	Metadata         []task.MetadataItem `json:"metadata,omitempty"`
}

// Validate checks the spec against Azure's rules. The error, a *task.Error,
// names the field and value at fault.
func (s *Spec) Validate() error {
	if err := task.ValidateID("id", s.ID); err != nil {
		return err
	}
	if n := len([]rune(s.DisplayName)); n > task.MaxDisplayNameLength {
		return task.Invalid("displayName", string([]rune(s.DisplayName)[:32])+"...", "display names are at most %d characters (this one has %d)", task.MaxDisplayNameLength, n)
	}
	if err := s.Schedule.validate(); err != nil {
		return task.WithFieldPrefix("schedule", err)
	}
	if s.JobSpecification.ID != "" {
		return task.Invalid("jobSpecification.id", s.JobSpecification.ID, "the schedule names its jobs; leave the id out")
	}
	js := task.JobSpec(s.JobSpecification)
	js.ID = JobID(s.ID, 1)
	if err := js.Validate(); err != nil {
		return task.WithFieldPrefix("jobSpecification", err)
	}
	for i, m := range s.Metadata {
		if m.Name == "" {
			return task.Missing(fmt.Sprintf("metadata[%d].name", i))
		}
	}
	return nil
}

func (s *Schedule) validate() error {
	for _, f := range []struct {
		name string
		d    *task.Duration
	}{{"startWindow", s.StartWindow}, {"recurrenceInterval", s.RecurrenceInterval}} {
		if f.d != nil && f.d.D() < MinInterval {
			return task.Invalid(f.name, f.d.String(), "must be at least 1 minute (PT1M)")
		}
	}
	if !s.DoNotRunAfter.IsZero() && !s.DoNotRunUntil.IsZero() && !s.DoNotRunAfter.After(s.DoNotRunUntil) {
		return task.Invalid("doNotRunAfter", s.DoNotRunAfter.Format(time.RFC3339Nano), "must be after doNotRunUntil (%s)", s.DoNotRunUntil.Format(time.RFC3339Nano))
	}
	return nil
}

// JobID returns the id of the n-th job (counting from 1) of the schedule
// with id scheduleID: "<scheduleID>-job-<n>". When that is longer than 64
// characters the schedule id is cut so that the suffix is kept.
func JobID(scheduleID string, n int) string {
	suffix := "-job-" + strconv.Itoa(n)
	if len(scheduleID)+len(suffix) > task.MaxIDLength {
		scheduleID = scheduleID[:max(task.MaxIDLength-len(suffix), 0)]
	}
	return scheduleID + suffix
}

// State is a job schedule's Azure state. The zero value is invalid.
type State uint8

// Job schedule states.
const (
	StateInvalid State = iota
	// StateActive: the schedule creates jobs when they are due.
	StateActive
	// StateDisabled: no new jobs; the active job, if any, continues.
	StateDisabled
	// StateTerminating: terminated by the user; its active job is being
	// terminated.
	StateTerminating
	// StateCompleted: the schedule has ended (no more occurrences, or
	// terminated) and creates no more jobs.
	StateCompleted
	// StateDeleting: its jobs are being deleted; then it is gone.
	StateDeleting
)

var stateNames = [...]string{"", "active", "disabled", "terminating", "completed", "deleting"}

// String returns Azure's name of the state.
func (s State) String() string {
	if int(s) < len(stateNames) && s != StateInvalid {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText writes Azure's name.
func (s State) MarshalText() ([]byte, error) {
	if s == StateInvalid || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("invalid job schedule state %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText reads Azure's name.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if i > 0 && n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return task.Invalid("state", string(b), "unknown job schedule state; want active, disabled, terminating, completed or deleting")
}

// RecentJob names the most recent job created by a schedule.
type RecentJob struct {
	ID string `json:"id"`
}

// ExecutionInfo is Azure's JobScheduleExecutionInformation, plus the
// embatch-only SchedulingError.
type ExecutionInfo struct {
	// NextRunTime is when the next job is due. It is meaningful only if
	// the schedule is active then; zero when no occurrence is left.
	NextRunTime time.Time `json:"nextRunTime,omitzero"`
	// RecentJob is the most recently created job, if any (it may since
	// have been deleted). It is set once the job exists.
	RecentJob *RecentJob `json:"recentJob,omitempty"`
	// EndTime is when the schedule completed.
	EndTime time.Time `json:"endTime,omitzero"`
	// SchedulingError (embatch only) says why the most recent occurrence
	// could not create its job (for example, its pool was deleted); nil
	// once a job is created again. Category is usererror, Code the error's
	// Azure code.
	SchedulingError *task.FailureInfo `json:"schedulingError,omitempty"`
}

// JobSchedule is Azure's CloudJobSchedule: the spec plus the state the
// service keeps.
type JobSchedule struct {
	Spec
	CreationTime                time.Time     `json:"creationTime,omitzero"`
	State                       State         `json:"state"`
	StateTransitionTime         time.Time     `json:"stateTransitionTime,omitzero"`
	PreviousState               State         `json:"previousState,omitzero"`
	PreviousStateTransitionTime time.Time     `json:"previousStateTransitionTime,omitzero"`
	ExecutionInfo               ExecutionInfo `json:"executionInfo"`
}
