package jobschedule

import (
	"slices"
	"time"

	"github.com/embatch/embatch/task"
)

// Durable is a Machine in the form a durable account stores: the record
// plus the state the Machine keeps beside it. Its JSON names are
// embatch's own (it is not an Azure type).
type Durable struct {
	JobSchedule
	// Next is the due time of the next occurrence (zero: none left).
	Next time.Time `json:"embatchNext,omitzero"`
	// Pending is the due time of an occurrence waiting for the active job
	// to finish (zero: none).
	Pending time.Time `json:"embatchPending,omitzero"`
	// Active is the schedule's job that has not completed, ActiveDue the
	// due time of its occurrence.
	Active    string    `json:"embatchActive,omitempty"`
	ActiveDue time.Time `json:"embatchActiveDue,omitzero"`
	// Adding is the job whose add was not known to have succeeded or
	// failed when the record was written.
	Adding string `json:"embatchAdding,omitempty"`
	// Jobs are the jobs created and not known to be deleted, oldest first.
	Jobs []string `json:"embatchJobs,omitempty"`
	// Seq is the number of the last job id handed out.
	Seq int `json:"embatchSeq"`
}

// Durable returns the Machine's durable form. A driver writes it, when
// Ready says something changed or asks for actions, before it performs
// the actions: a restored Machine then repeats what may not have been
// done (see Restore).
func (m *Machine) Durable() Durable {
	return Durable{
		JobSchedule: m.JobSchedule(),
		Next:        m.next,
		Pending:     m.pending,
		Active:      m.active,
		ActiveDue:   m.activeDue,
		Adding:      m.adding,
		Jobs:        slices.Clone(m.jobs),
		Seq:         m.seq,
	}
}

// Restore rebuilds a Machine from its durable form at now (after a
// restart). exists reports whether a job is in the account. Because the
// actions of the last round written may or may not have been performed,
// the first Ready repeats them:
//
//   - a job being added that exists counts as added; one that does not is
//     added again (same id);
//   - a terminating schedule terminates its active job again, a deleting
//     one deletes its jobs again (both harmless when already done);
//
// Occurrences that fell due while the account was down are handled as
// after any gap: the latest one due fires if its start window allows.
// The driver must then report, as usual, when the active job finishes.
func Restore(d Durable, now time.Time, exists func(jobID string) bool) (*Machine, error) {
	if err := d.Spec.Validate(); err != nil {
		return nil, err
	}
	if d.State == 0 {
		return nil, task.Invalid("state", "", "a restored job schedule needs a state")
	}
	m := &Machine{
		rec:       d.JobSchedule,
		next:      d.Next,
		pending:   d.Pending,
		active:    d.Active,
		activeDue: d.ActiveDue,
		jobs:      slices.Clone(d.Jobs),
		seq:       d.Seq,
	}
	m.setSchedule(d.Schedule, d.CreationTime)
	m.now = now
	if t := d.StateTransitionTime; t.After(m.now) {
		m.now = t
	}
	switch m.rec.State {
	case StateTerminating:
		if m.active != "" && m.active != d.Adding {
			m.act(Action{Kind: ActTerminateJob, JobID: m.active, Reason: TerminateReason})
		}
	case StateDeleting:
		for _, id := range m.jobs {
			if id != d.Adding {
				m.act(Action{Kind: ActDeleteJob, JobID: id})
			}
		}
	}
	if id := d.Adding; id != "" {
		m.adding = id
		if exists(id) {
			m.jobAdded(JobAdded{JobID: id}) // terminates or deletes it if due
		} else {
			job := task.JobSpec(m.rec.JobSpecification)
			job.ID = id
			m.act(Action{Kind: ActAddJob, JobID: id, Job: job})
		}
	}
	m.advance()
	m.jobEnded()
	m.sync()
	return m, nil
}
