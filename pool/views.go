package pool

import (
	"slices"

	"github.com/embatch/embatch/task"
)

// Pool returns the pool record.
func (s *Scheduler) Pool() Pool {
	p := Pool{
		Spec:                      s.spec,
		CreationTime:              s.created,
		State:                     "active",
		AllocationState:           s.alloc,
		AllocationStateTransition: s.allocChanged,
		ResizeErrors:              slices.Clone(s.resizeErrors),
		AutoScaleRun:              s.LastAutoScaleRun(),
	}
	if s.deleting {
		p.State = "deleting"
	}
	for _, n := range s.nodeList {
		if n.rec.IsDedicated {
			p.CurrentDedicatedNodes++
		} else {
			p.CurrentLowPriorityNodes++
		}
	}
	return p
}

// Deleted reports whether the pool was deleted and every node has left.
func (s *Scheduler) Deleted() bool { return s.deleting && len(s.nodeList) == 0 }

// Nodes returns the node records in creation order.
func (s *Scheduler) Nodes() []Node {
	out := make([]Node, len(s.nodeList))
	for i, n := range s.nodeList {
		out[i] = n.record()
	}
	return out
}

// Node returns one node record.
func (s *Scheduler) Node(id string) (Node, error) {
	n, err := s.node(id)
	if err != nil {
		return Node{}, err
	}
	return n.record(), nil
}

func (n *nodeRec) record() Node {
	r := n.rec
	if r.StartTaskInfo != nil {
		info := *r.StartTaskInfo
		r.StartTaskInfo = &info
	}
	return r
}

// FreeSlots is the number of free slots on nodes that can take tasks.
func (s *Scheduler) FreeSlots() int { return s.nodes.freeTotal }

// Job returns one job record.
func (s *Scheduler) Job(id string) (task.Job, error) {
	j, err := s.job(id)
	if err != nil {
		return task.Job{}, err
	}
	return j.record(), nil
}

// Jobs returns the records of the pool's jobs in arrival order.
func (s *Scheduler) Jobs() []task.Job {
	list := make([]*jobRec, 0, len(s.jobs))
	for _, j := range s.jobs {
		list = append(list, j)
	}
	slices.SortFunc(list, func(a, b *jobRec) int { return compareU64(a.seq, b.seq) })
	out := make([]task.Job, len(list))
	for i, j := range list {
		out[i] = j.record()
	}
	return out
}

func (j *jobRec) record() task.Job {
	return task.Job{
		JobSpec:             j.spec,
		CreationTime:        j.created,
		State:               j.state,
		StateTransitionTime: j.changed,
		PreviousState:       j.prev,
		ExecutionInfo:       j.exec,
	}
}

// TaskCounts returns a job's task and slot counts.
func (s *Scheduler) TaskCounts(jobID string) (task.JobTaskCounts, error) {
	j, err := s.job(jobID)
	if err != nil {
		return task.JobTaskCounts{}, err
	}
	return task.JobTaskCounts{TaskCounts: j.counts, TaskSlotCounts: j.slotCounts}, nil
}

// Task returns one task record.
func (s *Scheduler) Task(jobID, taskID string) (task.Task, error) {
	c, err := s.task(jobID, taskID)
	if err != nil {
		return task.Task{}, err
	}
	return c.record(), nil
}

// RangeTasks calls f with each task of a job in arrival order until f
// returns false. The record is a copy; f must not keep pointers into it
// past the call.
func (s *Scheduler) RangeTasks(jobID string, f func(*task.Task) bool) error {
	j, err := s.job(jobID)
	if err != nil {
		return err
	}
	var t task.Task
	for _, c := range j.order {
		t = c.record()
		if !f(&t) {
			break
		}
	}
	return nil
}

func (c *Candidate) record() task.Task {
	t := task.Task{
		TaskSpec:            *c.spec,
		CreationTime:        c.created,
		State:               c.state,
		StateTransitionTime: c.changed,
		PreviousState:       c.prev,
		ExecutionInfo:       c.execInfo(),
		NodeInfo:            c.nodeInfo(),
	}
	return t
}

// Why says why a task is not running now, or ReasonNone if it is running or
// completed. It is for people and logs: the answer may change with the next
// Step.
func (s *Scheduler) Why(jobID, taskID string) (Reason, error) {
	c, err := s.task(jobID, taskID)
	if err != nil {
		return ReasonNone, err
	}
	if c.state != task.TaskActive {
		return ReasonNone, nil
	}
	j := c.job
	switch {
	case j.state == task.JobDisabled || j.state == task.JobDisabling:
		return ReasonJobDisabled, nil
	case j.state != task.JobActive:
		return ReasonJobNotActive, nil
	case c.blocked:
		return ReasonDependencyBlocked, nil
	case c.unmet > 0:
		return ReasonDependencyUnmet, nil
	case s.heldForJobManager(c):
		return ReasonJobManagerFirst, nil
	}
	if max := j.spec.EffectiveMaxParallelTasks(); max > 0 && j.running >= max {
		return ReasonMaxParallelTasks, nil
	}
	// Nodes where the job's preparation task failed (and must succeed)
	// never run the job's tasks: leave them out.
	prepFailedOn := func(*nodeRec) bool { return false }
	if pt := j.spec.JobPreparationTask; pt != nil && prepWaits(pt) && len(j.prep) > 0 {
		prepFailedOn = func(n *nodeRec) bool {
			p := j.prep[n]
			return p != nil && p.state == prepFailed
		}
	}
	usable, failed, maxFree, withFree := 0, 0, 0, 0
	for _, n := range s.nodeList {
		switch {
		case !n.indexed:
		case prepFailedOn(n):
			failed++
		default:
			usable++
			maxFree = max(maxFree, n.free)
			if n.free > 0 {
				withFree++
			}
		}
	}
	switch {
	case usable == 0 && failed > 0:
		return ReasonPrepFailed, nil
	case usable == 0:
		return ReasonNoNodes, nil
	case c.instances > 1 && withFree < c.instances:
		return ReasonNotEnoughNodes, nil
	case maxFree < c.slots:
		return ReasonNoFreeSlots, nil
	case !s.dedicatedRoomFor(c):
		return ReasonNoDedicatedNode, nil
	}
	return ReasonQueued, nil
}

// TaskPage appends to buf the records of up to n tasks of a job starting at
// position from in arrival order, and returns it. Tasks are never reordered,
// so paging with increasing from visits each task once.
func (s *Scheduler) TaskPage(jobID string, from, n int, buf []task.Task) ([]task.Task, error) {
	j, err := s.job(jobID)
	if err != nil {
		return buf, err
	}
	for i := from; i < len(j.order) && i < from+n; i++ {
		buf = append(buf, j.order[i].record())
	}
	return buf, nil
}

// Settled reports whether a job will make no further progress on its own:
// it has completed, or nothing of it runs and none of its tasks is ready
// (the remaining active tasks wait on failed dependencies, or the job is
// disabled). Its answer may change with the next user action.
func (s *Scheduler) Settled(jobID string) (bool, error) {
	j, err := s.job(jobID)
	if err != nil {
		return false, err
	}
	if j.state == task.JobCompleted {
		return true, nil
	}
	if j.attempts > 0 || j.state == task.JobTerminating || j.state == task.JobDeleting {
		return false, nil
	}
	return j.readyN == 0, nil
}
