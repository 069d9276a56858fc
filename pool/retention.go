package pool

import (
	"slices"
	"strconv"
	"time"

	"github.com/embatch/embatch/task"
)

// DefaultRetentionTime is Azure's default task retentionTime: 7 days.
const DefaultRetentionTime = 7 * 24 * time.Hour

// CompactTasks removes completed tasks whose retention time has passed:
// their records leave the job (and its task counts), and Ready reports a
// ChangeTaskDeleted for each, naming the node where it last ran so that the
// driver can delete the task's directory there. A task's own
// constraints.retentionTime wins over Default. A completed task that blocks
// or still has to satisfy an incomplete task of its job (it is named in
// that task's dependsOn) is kept until that task completes, so that
// compaction never changes what runs.
//
// This keeps a long-running pool (and the driver's store) from growing
// without bound. Unlike Azure, which keeps task records until the job is
// deleted, the record goes with the task directory.
type CompactTasks struct {
	// Default is the retention time of tasks that set none; zero or
	// negative keeps such tasks forever.
	Default time.Duration
}

func (CompactTasks) isEvent() {}

// compactTasks handles CompactTasks.
func (s *Scheduler) compactTasks(e CompactTasks) {
	for _, j := range s.jobList() {
		if j.counts.Completed == 0 {
			continue
		}
		var deps *dependencyTargets
		if j.incomplete > 0 {
			deps = newDependencyTargets(j)
		}
		kept := j.order[:0]
		for _, c := range j.order {
			if !s.expired(c, e.Default) || deps.names(c) {
				kept = append(kept, c)
				continue
			}
			s.dropTask(c)
		}
		clear(j.order[len(kept):])
		j.order = kept
	}
}

// expired reports whether c is completed, idle and past its retention time.
func (s *Scheduler) expired(c *Candidate, def time.Duration) bool {
	if c.state != task.TaskCompleted || c.attempt != nil {
		return false
	}
	keep := def
	if k := c.spec.Constraints; k != nil && k.RetentionTime != nil {
		keep = k.RetentionTime.D()
		if *k.RetentionTime >= task.Unlimited {
			return false
		}
	}
	if keep <= 0 {
		return false
	}
	return !c.endTime().Add(keep).After(s.now)
}

// dropTask forgets a completed task (its position in j.order is the
// caller's to remove).
func (s *Scheduler) dropTask(c *Candidate) {
	j := c.job
	j.tasks.del(task.FoldID(c.spec.ID), c)
	w := c.slots * c.instances
	j.counts.Completed--
	j.slotCounts.Completed -= w
	if c.result() == task.ResultSuccess {
		j.counts.Succeeded--
		j.slotCounts.Succeeded -= w
	} else {
		j.counts.Failed--
		j.slotCounts.Failed -= w
	}
	ch := Change{Kind: ChangeTaskDeleted, JobID: j.spec.ID, TaskID: c.spec.ID, TaskState: c.state}
	if ni := c.nodeInfo(); ni != nil {
		ch.NodeID = ni.NodeID
	}
	s.change(ch)
}

// dependencyTargets are the task ids and id ranges that a job's incomplete
// tasks depend on.
type dependencyTargets struct {
	ids    map[string]bool
	ranges []task.TaskIDRange
}

func newDependencyTargets(j *jobRec) *dependencyTargets {
	d := &dependencyTargets{ids: map[string]bool{}}
	for _, c := range j.order {
		if c.state == task.TaskCompleted || c.spec.DependsOn == nil {
			continue
		}
		for _, id := range c.spec.DependsOn.TaskIDs {
			d.ids[task.FoldID(id)] = true
		}
		d.ranges = append(d.ranges, c.spec.DependsOn.TaskIDRanges...)
	}
	return d
}

// names reports whether some incomplete task depends on c. A nil d names
// nothing.
func (d *dependencyTargets) names(c *Candidate) bool {
	if d == nil {
		return false
	}
	if d.ids[task.FoldID(c.spec.ID)] {
		return true
	}
	if len(d.ranges) == 0 {
		return false
	}
	n, err := strconv.Atoi(c.spec.ID)
	if err != nil || n < 0 || strconv.Itoa(n) != c.spec.ID {
		return false
	}
	return slices.ContainsFunc(d.ranges, func(r task.TaskIDRange) bool { return n >= r.Start && n <= r.End })
}
