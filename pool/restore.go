package pool

import (
	"cmp"
	"slices"

	"github.com/embatch/embatch/task"
)

// This file is the core's side of durability: the durable form of its
// records (what a driver persists when Ready reports a Change) and Restore,
// which rebuilds a scheduler from them after a restart.
//
// Restore follows what Azure does after a node is lost, because after a
// restart every node is gone:
//
//   - tasks that were preparing or running go back to active with
//     requeueCount+1 (not a retry);
//   - completed tasks stay completed, and their dependency action (satisfy
//     or block) still applies to their dependents;
//   - jobs that were disabling become disabled, terminating jobs complete,
//     deleting jobs disappear (nothing of them runs any more), and active
//     jobs with onAllTasksComplete=terminatejob whose tasks all completed
//     complete;
//   - the pool allocates new nodes for its targets; node ids continue after
//     the last id the pool handed out, so a task's nodeInfo never names a
//     node of the new life;
//   - a pool that was being deleted is deleted (Deleted reports true).
//
// Everything that changed in the restore is in the first Ready's Changes,
// and the node allocations are its Actions.

// DurablePool is a pool as a driver persists it: its record plus what the
// core needs to restore it.
type DurablePool struct {
	Pool
	// NodeSeq is how many nodes the pool has ever allocated; node ids are
	// "tvm-<n>" with n counting from 1.
	NodeSeq int `json:"nodeSeq"`
}

// DurableJob is a job as a driver persists it: its record plus what the
// core needs to restore it.
type DurableJob struct {
	task.Job
	// Seq orders the pool's jobs by arrival (from 1).
	Seq uint64 `json:"seq"`
	// EndReason is the termination reason of a terminating job, which
	// becomes executionInfo.terminateReason when it completes.
	EndReason string `json:"endReason,omitempty"`
	// ReleaseOnDelete: the job was deleted before it ended.
	ReleaseOnDelete bool `json:"releaseOnDelete,omitempty"`
}

// DurableTask is a task as a driver persists it: its record plus what the
// core needs to restore it.
type DurableTask struct {
	task.Task
	// JobID is the id of the task's job.
	JobID string `json:"jobId"`
	// Seq orders the pool's tasks by arrival (from 1).
	Seq uint64 `json:"seq"`
	// DepsSatisfied is the dependency action of a completed task: true
	// when its dependents may run (satisfy), false when they are blocked.
	DepsSatisfied bool `json:"depsSatisfied,omitempty"`
}

// DurablePool returns the pool in its durable form.
func (s *Scheduler) DurablePool() DurablePool {
	return DurablePool{Pool: s.Pool(), NodeSeq: s.nodeSeq}
}

// DurableJob returns a job in its durable form.
func (s *Scheduler) DurableJob(id string) (DurableJob, error) {
	j, err := s.job(id)
	if err != nil {
		return DurableJob{}, err
	}
	return DurableJob{Job: j.record(), Seq: j.seq, EndReason: j.endReason, ReleaseOnDelete: j.releaseOnDelete}, nil
}

// DurableTask returns a task in its durable form.
func (s *Scheduler) DurableTask(jobID, taskID string) (DurableTask, error) {
	c, err := s.task(jobID, taskID)
	if err != nil {
		return DurableTask{}, err
	}
	return DurableTask{Task: c.record(), JobID: c.job.spec.ID, Seq: c.seq, DepsSatisfied: c.depsSatisfied}, nil
}

// Restore rebuilds a pool's scheduler from its durable records after a
// restart (see the rules at the top of this file). Jobs and tasks may come
// in any order; they are restored in arrival (Seq) order, so the same
// records always give the same scheduler. cfg.Now is the time of the
// restart. An error means the records are inconsistent (a task of an
// unknown job, a duplicate id or seq, an invalid state); nothing is
// returned then.
func Restore(p DurablePool, jobs []DurableJob, tasks []DurableTask, cfg Config) (*Scheduler, error) {
	spec := p.Spec
	// Targets are never negative in a valid spec (removeNodes can drive a
	// target below zero when it removes a node the resize had kept).
	dedicated, lowPriority := max(0, spec.TargetDedicatedNodes), max(0, spec.TargetLowPriorityNodes)
	spec.TargetDedicatedNodes, spec.TargetLowPriorityNodes = 0, 0
	s, err := NewScheduler(spec, cfg)
	if err != nil {
		return nil, err
	}
	if !p.CreationTime.IsZero() {
		s.created = p.CreationTime
	}
	s.nodeSeq = p.NodeSeq
	s.resizeErrors = slices.Clone(p.ResizeErrors)
	s.deleting = p.State == "deleting"

	jobs = slices.Clone(jobs)
	slices.SortFunc(jobs, func(a, b DurableJob) int { return cmp.Compare(a.Seq, b.Seq) })
	for i := range jobs {
		if err := s.restoreJob(&jobs[i]); err != nil {
			return nil, err
		}
	}
	tasks = slices.Clone(tasks)
	slices.SortFunc(tasks, func(a, b DurableTask) int { return cmp.Compare(a.Seq, b.Seq) })
	restored := make([]*Candidate, 0, len(tasks))
	// The restored tasks' specs, in one allocation (candidates point into
	// it, as into an added collection).
	specs := make([]task.TaskSpec, len(tasks))
	for i := range tasks {
		specs[i] = tasks[i].TaskSpec
		c, err := s.restoreTask(&tasks[i], &specs[i])
		if err != nil {
			return nil, err
		}
		restored = append(restored, c)
	}
	// Dependencies are linked once every task is back, in arrival order,
	// exactly as addTasks links a new collection.
	for _, c := range restored {
		if c.state != task.TaskCompleted {
			s.linkDependencies(c)
		}
	}
	for _, c := range restored {
		if c.state == task.TaskActive && c.unmet == 0 && !c.blocked {
			s.makeReady(c)
		}
	}
	for _, j := range s.jobList() {
		if j.state == task.JobEnabling {
			s.setJobState(j, task.JobActive)
			for _, c := range j.order {
				s.makeReady(c)
			}
		}
		s.maybeFinishJob(j)
	}
	if !s.deleting {
		s.resize(dedicated, lowPriority, 0, DeallocRequeue)
	}
	s.dirty = true
	return s, nil
}

// restoreJob adds a job record as it was, with no tasks yet.
func (s *Scheduler) restoreJob(d *DurableJob) error {
	key := task.FoldID(d.ID)
	if _, ok := s.jobs[key]; ok {
		return task.Errorf(task.CodeJobExists, "id", d.ID, "restore: job listed twice")
	}
	if d.Seq == 0 || s.jobBySeq[d.Seq] != nil {
		return task.Invalid("seq", d.Seq, "restore: job %q has a zero or duplicate seq", d.ID)
	}
	if d.State == task.JobStateInvalid || d.State > task.JobDeleting {
		return task.Invalid("state", d.State, "restore: job %q has an invalid state", d.ID)
	}
	j := &jobRec{
		spec:            d.JobSpec,
		poolID:          s.spec.ID,
		seq:             d.Seq,
		state:           d.State,
		prev:            d.PreviousState,
		created:         d.CreationTime,
		changed:         d.StateTransitionTime,
		exec:            d.ExecutionInfo,
		endReason:       d.EndReason,
		releaseOnDelete: d.ReleaseOnDelete,
	}
	s.jobs[key] = j
	s.jobBySeq[j.seq] = j
	s.jobSeq = max(s.jobSeq, j.seq)
	if c := j.spec.Constraints; j.live() && c != nil && c.MaxWallClockTime != nil && *c.MaxWallClockTime < task.Unlimited {
		// Measured from job creation, so a limit that passed while the
		// account was down fires at the first Step.
		s.addTimer(j.created.Add(c.MaxWallClockTime.D()), timerJob, j.seq)
	}
	return nil
}

// restoreTask adds a task record to its job; a task that was preparing or
// running is requeued (its node is gone).
func (s *Scheduler) restoreTask(d *DurableTask, spec *task.TaskSpec) (*Candidate, error) {
	j := s.jobs[task.FoldID(d.JobID)]
	if j == nil {
		return nil, task.Errorf(task.CodeJobNotFound, "jobId", d.JobID, "restore: task %q of an unknown job", d.ID)
	}
	key := task.FoldID(d.ID)
	if j.tasks.get(key) != nil {
		return nil, task.Errorf(task.CodeTaskExists, "id", d.ID, "restore: task listed twice in job %q", d.JobID)
	}
	if d.Seq == 0 || d.Seq <= s.taskSeq {
		return nil, task.Invalid("seq", d.Seq, "restore: task %q of job %q has a zero or duplicate seq", d.ID, d.JobID)
	}
	if d.State == task.TaskStateInvalid || d.State > task.TaskCompleted {
		return nil, task.Invalid("state", d.State, "restore: task %q of job %q has an invalid state", d.ID, d.JobID)
	}
	s.taskSeq = d.Seq
	c := &Candidate{
		spec:          spec,
		job:           j,
		seq:           d.Seq,
		state:         d.State,
		prev:          d.PreviousState,
		created:       d.CreationTime,
		changed:       d.StateTransitionTime,
		slots:         s.taskSlots(j, spec),
		instances:     d.MultiInstanceSettings.Instances(),
		depsSatisfied: d.DepsSatisfied,
	}
	if d.ExecutionInfo != (task.ExecutionInfo{}) {
		c.setExecInfo(d.ExecutionInfo)
	}
	if d.NodeInfo != nil {
		c.setNodeInfo(*d.NodeInfo)
	}
	j.tasks.put(key, c)
	j.order = append(j.order, c)
	w := c.slots * c.instances
	switch c.state {
	case task.TaskPreparing, task.TaskRunning:
		// Its node is gone: back to active, requeueCount+1, as Azure
		// does after a node loss. The state change is in the next Ready.
		m := c.extra()
		m.requeueCount++
		m.lastRequeue = s.now
		c.prev, c.state, c.changed = c.state, task.TaskActive, s.now
		s.taskChanged(c)
		fallthrough
	case task.TaskActive:
		j.counts.Active++
		j.slotCounts.Active += w
		j.incomplete++
	case task.TaskCompleted:
		j.counts.Completed++
		j.slotCounts.Completed += w
		switch c.result() {
		case task.ResultSuccess:
			j.counts.Succeeded++
			j.slotCounts.Succeeded += w
		case task.ResultFailure:
			j.counts.Failed++
			j.slotCounts.Failed += w
		default:
			return nil, task.Invalid("executionInfo.result", c.result(), "restore: completed task %q of job %q has no result", d.ID, d.JobID)
		}
	}
	return c, nil
}

// jobList returns the jobs in arrival order.
func (s *Scheduler) jobList() []*jobRec {
	list := make([]*jobRec, 0, len(s.jobs))
	for _, j := range s.jobs {
		list = append(list, j)
	}
	slices.SortFunc(list, func(a, b *jobRec) int { return compareU64(a.seq, b.seq) })
	return list
}
