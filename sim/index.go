package sim

import (
	"fmt"

	"github.com/embatch/embatch/task"
)

// taskTrack is what the simulator sees of a workload task. It is kept
// small: there is one per task.
type taskTrack struct {
	state   task.TaskState // 0 until submitted
	skipped bool           // left out: it can never fit the pool
}

// jobTasks finds a job's workload tasks by id: by number when the ids are
// small non-negative integers (traces, synthetic workloads), else by map.
// When the ids are 0, 1, 2, ... in workload order (a generated workload's
// usually are), task n is simply workload task first+n, with no table.
type jobTasks struct {
	id    string
	byNum []int32
	byID  map[string]int32
	// linear, when set, replaces byNum: ids 0..linear-1 are workload tasks
	// first, first+1, ...
	linear, first int32
}

// compact replaces byNum by linear and first if it maps every number n
// below its length to workload task byNum[0]+n.
func (jt *jobTasks) compact() {
	if len(jt.byNum) == 0 || jt.byNum[0] < 0 {
		return
	}
	for n, i := range jt.byNum {
		if i != jt.byNum[0]+int32(n) {
			return
		}
	}
	jt.linear, jt.first, jt.byNum = int32(len(jt.byNum)), jt.byNum[0], nil
}

// index builds the task lookup, leaving out tasks that cannot fit the
// pool.
func (s *simulation) index() error {
	w := s.wl
	nodes := s.cfg.Nodes + s.cfg.LowPriority
	s.tasks = make([]taskTrack, len(w.Tasks))
	s.jobIdx = make(map[string]int, len(w.Jobs))
	s.jobs = make([]jobTasks, len(w.Jobs))
	maxNum := make([]int, len(w.Jobs))
	counts := make([]int, len(w.Jobs))
	for i, j := range w.Jobs {
		s.jobIdx[j.ID] = i
		s.jobs[i].id = j.ID
		maxNum[i] = -1
	}
	for i := range w.Tasks {
		t := &w.Tasks[i]
		if t.Job < 0 || t.Job >= len(w.Jobs) {
			return fmt.Errorf("workload %s: tasks[%d]: no job %d", w.Name, i, t.Job)
		}
		counts[t.Job]++
		if n, ok := smallNum(t.Spec.ID); ok && maxNum[t.Job] >= -1 {
			maxNum[t.Job] = max(maxNum[t.Job], n)
		} else {
			maxNum[t.Job] = -2 // not numeric: use a map
		}
	}
	for j := range s.jobs {
		if maxNum[j] >= 0 && maxNum[j] < 4*counts[j]+16 {
			s.jobs[j].byNum = make([]int32, maxNum[j]+1)
			for k := range s.jobs[j].byNum {
				s.jobs[j].byNum[k] = -1
			}
		} else {
			s.jobs[j].byID = make(map[string]int32, counts[j])
		}
	}
	for i := range w.Tasks {
		t := &w.Tasks[i]
		if t.Spec.MultiInstanceSettings.Instances() > nodes || t.Spec.Slots() > s.slots {
			s.tasks[i].skipped = true
			s.skipped++
			continue
		}
		jt := &s.jobs[t.Job]
		if jt.byNum != nil {
			n, _ := smallNum(t.Spec.ID)
			jt.byNum[n] = int32(i)
		} else {
			jt.byID[t.Spec.ID] = int32(i)
		}
		s.total++
	}
	for j := range s.jobs {
		s.jobs[j].compact()
	}
	return nil
}

// smallNum parses a canonical non-negative decimal id below 2^31.
func smallNum(id string) (int, bool) {
	if len(id) == 0 || len(id) > 9 || (len(id) > 1 && id[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// taskIndex finds the workload task of a core task, or -1.
func (s *simulation) taskIndex(jobID, taskID string) int32 {
	var jt *jobTasks
	if len(s.jobs) == 1 && s.jobs[0].id == jobID {
		jt = &s.jobs[0]
	} else if j, ok := s.jobIdx[jobID]; ok {
		jt = &s.jobs[j]
	} else {
		return -1
	}
	if jt.linear > 0 {
		n, ok := smallNum(taskID)
		if !ok || n >= int(jt.linear) {
			return -1
		}
		return jt.first + int32(n)
	}
	if jt.byNum != nil {
		n, ok := smallNum(taskID)
		if !ok || n >= len(jt.byNum) {
			return -1
		}
		return jt.byNum[n]
	}
	if i, ok := jt.byID[taskID]; ok {
		return i
	}
	return -1
}

// queueArrival queues the next arrival group: the run of tasks from s.next
// on submitted at the same time to the same job (tasks left out end a
// run). Groups are found as they are needed rather than listed up front.
func (s *simulation) queueArrival() {
	s.skipLeftOut()
	ts := s.wl.Tasks
	first := s.next
	if first >= len(ts) {
		return
	}
	n := 1
	for k := first + 1; k < len(ts) && !s.tasks[k].skipped && ts[k].Submit == ts[first].Submit && ts[k].Job == ts[first].Job; k++ {
		n++
	}
	s.next = first + n
	s.skipLeftOut()
	s.k.push(event{at: ts[first].Submit, kind: evArrival, a: int32(first), n: int32(n)})
}

// skipLeftOut moves s.next past tasks left out of the run.
func (s *simulation) skipLeftOut() {
	for s.next < len(s.tasks) && s.tasks[s.next].skipped {
		s.next++
	}
}

// arrivalsQueued reports whether the last arrival group was queued.
func (s *simulation) arrivalsQueued() bool { return s.next >= len(s.tasks) }
