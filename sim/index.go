package sim

import (
	"fmt"
	"time"

	"github.com/embatch/embatch/task"
)

// taskTrack is what the simulator sees of a workload task.
type taskTrack struct {
	state   task.TaskState // 0 until submitted
	skipped bool           // left out: it can never fit the pool
	submit  time.Duration
}

// jobTasks finds a job's workload tasks by id: by number when the ids are
// small non-negative integers (traces, synthetic workloads), else by map.
type jobTasks struct {
	id    string
	byNum []int32
	byID  map[string]int32
}

// arrivalGroup is a run of tasks submitted at the same time to the same job.
type arrivalGroup struct{ first, n int32 }

// index groups arrivals and builds the task lookup, leaving out tasks that
// cannot fit the pool.
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
		last := len(s.groups) - 1
		if last >= 0 {
			g := &s.groups[last]
			p := &w.Tasks[g.first]
			if p.Submit == t.Submit && p.Job == t.Job && int(g.first+g.n) == i {
				g.n++
				continue
			}
		}
		s.groups = append(s.groups, arrivalGroup{first: int32(i), n: 1})
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

// queueArrival queues the next arrival group.
func (s *simulation) queueArrival() {
	if s.next >= len(s.groups) {
		return
	}
	g := s.groups[s.next]
	s.next++
	s.k.push(event{at: s.wl.Tasks[g.first].Submit, kind: evArrival, a: g.first, n: g.n})
}
