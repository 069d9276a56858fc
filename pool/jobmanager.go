package pool

import (
	"github.com/embatch/embatch/task"
)

// This file is the job manager task (Azure's JobManagerTask) in the core.
// The job manager is an ordinary task of its job, added with the job, plus
// these rules, each applied by a hook in the scheduler:
//
//   - it is scheduled first: while it is active (not yet started, or back to
//     active for a retry or requeue) no other task of its job becomes ready
//     (heldForJobManager); when it starts the others are released after the
//     scheduling pass (releaseJobManagerHolds);
//   - runExclusive (the default) makes it take every slot of its node
//     (taskSlots), so it waits for an empty node and nothing else runs there
//     while it runs; its taskSlotCounts count the whole node;
//   - allowLowPriorityNode=false keeps it off low-priority nodes
//     (jobManagerSkip);
//   - killJobOnCompletion (the default) terminates the job with reason
//     JMComplete when it completes, whatever its result
//     (jobManagerCompleted).
//
// Nothing here is durable state: the job manager is found again by its id in
// the job spec, so Restore needs no extra records.

// ReasonJobManagerFirst: the task waits for its job's job manager task to
// start.
const ReasonJobManagerFirst Reason = "waiting for the job manager task to start"

// ReasonNoDedicatedNode: a job manager task with allowLowPriorityNode=false
// found free slots only on low-priority nodes.
const ReasonNoDedicatedNode Reason = "the job manager task needs a dedicated node"

// checkJobManager checks the job manager of a job about to be added against
// the pool.
func (s *Scheduler) checkJobManager(spec *task.JobSpec) error {
	m := spec.JobManagerTask
	if m == nil {
		return nil
	}
	ts := m.TaskSpec()
	if n := ts.Slots(); n > s.slotsPerNode {
		return task.Invalid("jobManagerTask.requiredSlots", n, "pool %q has only %d slots per node", s.spec.ID, s.slotsPerNode)
	}
	return nil
}

// addJobManager adds j's job manager, if it has one, as j's first task.
func (s *Scheduler) addJobManager(j *jobRec) {
	m := j.spec.JobManagerTask
	if m == nil {
		return
	}
	if err := s.addTasks(AddTasks{JobID: j.spec.ID, Tasks: []task.TaskSpec{m.TaskSpec()}}); err != nil {
		// checkJobManager and JobSpec.Validate ran before the job was
		// added, so a new job must accept its job manager.
		panic("pool: job manager task rejected: " + err.Error())
	}
}

// jobManager returns j's job manager task, or nil when j has none.
func (j *jobRec) jobManager() *Candidate {
	m := j.spec.JobManagerTask
	if m == nil {
		return nil
	}
	if j.manager == nil {
		j.manager = j.tasks.get(task.FoldID(m.ID))
	}
	return j.manager
}

// isJobManager reports whether c is its job's job manager task.
func (c *Candidate) isJobManager() bool {
	return c.job.spec.JobManagerTask != nil && c.job.jobManager() == c
}

// taskSlots is the slots t takes on each node as a task of j: its
// requiredSlots, or the whole node for an exclusive job manager.
func (s *Scheduler) taskSlots(j *jobRec, t *task.TaskSpec) int {
	if m := j.spec.JobManagerTask; m != nil && m.Exclusive() && j.spec.IsJobManager(t.ID) {
		return s.slotsPerNode
	}
	return t.Slots()
}

// heldForJobManager reports whether c must wait because its job's job
// manager has not started.
func (s *Scheduler) heldForJobManager(c *Candidate) bool {
	jm := c.job.jobManager()
	return jm != nil && jm != c && jm.state == task.TaskActive
}

// jobManagerMoved is called when c changed state from from. When a job
// manager starts, its job's held tasks are queued for release; when it goes
// back to active, its job's other tasks leave the ready set until it starts
// again (running ones go on).
func (s *Scheduler) jobManagerMoved(c *Candidate, from task.TaskState) {
	if !c.isJobManager() {
		return
	}
	switch {
	case from == task.TaskActive && c.state != task.TaskActive:
		s.jmStarted = append(s.jmStarted, c.job)
	case c.state == task.TaskActive:
		for _, o := range c.job.order {
			if o != c {
				s.unready(o)
			}
		}
	}
}

// releaseJobManagerHolds makes ready the tasks held for job managers that
// started in the last scheduling pass. It reports whether it made any ready.
func (s *Scheduler) releaseJobManagerHolds() bool {
	if len(s.jmStarted) == 0 {
		return false
	}
	jobs := s.jmStarted
	s.jmStarted = nil
	any := false
	for _, j := range jobs {
		for _, c := range j.order {
			if !c.ready && c.state == task.TaskActive {
				s.makeReady(c)
				any = any || c.ready
			}
		}
	}
	return any
}

// jobManagerSkip extends a placement filter so that a job manager with
// allowLowPriorityNode=false skips low-priority nodes.
func jobManagerSkip(c *Candidate, skip func(*nodeRec) bool) func(*nodeRec) bool {
	m := c.job.spec.JobManagerTask
	if m == nil || m.AllowsLowPriority() || !c.isJobManager() {
		return skip
	}
	return func(n *nodeRec) bool {
		return !n.rec.IsDedicated || skip != nil && skip(n)
	}
}

// jobManagerNotPlaced is the reason a job manager that could not be placed
// gives when low-priority nodes had room for it, or ReasonNone.
func (s *Scheduler) jobManagerNotPlaced(c *Candidate) Reason {
	m := c.job.spec.JobManagerTask
	if m == nil || m.AllowsLowPriority() || !c.isJobManager() || s.nodes.nodesWithFree(c.slots) == 0 {
		return ReasonNone
	}
	return ReasonNoDedicatedNode
}

// dedicatedRoomFor reports whether c may run on a node now as far as
// allowLowPriorityNode goes: always, unless c is a job manager that needs a
// dedicated node and no schedulable dedicated node has c.slots free.
func (s *Scheduler) dedicatedRoomFor(c *Candidate) bool {
	m := c.job.spec.JobManagerTask
	if m == nil || m.AllowsLowPriority() || !c.isJobManager() {
		return true
	}
	for _, n := range s.nodeList {
		if n.indexed && n.rec.IsDedicated && n.free >= c.slots {
			return true
		}
	}
	return false
}

// jobManagerCompleted terminates c's job (reason JMComplete) when c is a job
// manager with killJobOnCompletion.
func (s *Scheduler) jobManagerCompleted(c *Candidate) {
	if m := c.job.spec.JobManagerTask; m != nil && m.KillsJob() && c.isJobManager() {
		s.terminateJob(c.job, task.TerminateReasonJMComplete)
	}
}
