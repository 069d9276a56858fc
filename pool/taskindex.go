package pool

import "iter"

// taskIndex finds a job's tasks by folded id. Ids that are non-negative
// integers written canonically ("0", "17": what traces, generated workloads
// and many users number their tasks with) are kept by number: in a slice
// while they are dense, which costs 8 bytes a task and no hashing, else in
// a map keyed by the number. Other ids go to a map keyed by the id. The
// numbers also serve dependency ranges (dependsOn.taskIdRanges).
type taskIndex struct {
	byNum  []*Candidate // by integer id; nil where there is none
	nums   int          // non-nil entries of byNum
	sparse map[int]*Candidate
	byID   map[string]*Candidate
}

// get returns the task with folded id key, or nil.
func (x *taskIndex) get(key string) *Candidate {
	if n, ok := intID(key); ok {
		return x.num(n)
	}
	return x.byID[key]
}

// num returns the task with integer id n, or nil.
func (x *taskIndex) num(n int) *Candidate {
	if n < len(x.byNum) {
		if c := x.byNum[n]; c != nil {
			return c
		}
	}
	return x.sparse[n]
}

// put adds c under folded id key, which must not be in x yet.
func (x *taskIndex) put(key string, c *Candidate) {
	n, ok := intID(key)
	switch {
	case !ok:
		if x.byID == nil {
			x.byID = make(map[string]*Candidate)
		}
		x.byID[key] = c
	case n < len(x.byNum) || n <= 2*x.nums+1024:
		// Dense enough: at most about two slots per task.
		if n >= len(x.byNum) {
			x.byNum = append(x.byNum, make([]*Candidate, n+1-len(x.byNum))...)
		}
		x.byNum[n] = c
		x.nums++
	default:
		if x.sparse == nil {
			x.sparse = make(map[int]*Candidate)
		}
		x.sparse[n] = c
	}
}

// del removes c, filed under folded id key.
func (x *taskIndex) del(key string, c *Candidate) {
	n, ok := intID(key)
	switch {
	case !ok:
		delete(x.byID, key)
	case n < len(x.byNum) && x.byNum[n] == c:
		x.byNum[n] = nil
		x.nums--
	default:
		delete(x.sparse, n)
	}
}

// numbered is the number of tasks with integer ids.
func (x *taskIndex) numbered() int { return x.nums + len(x.sparse) }

// numbers yields the tasks with integer ids and their numbers, in no
// particular order.
func (x *taskIndex) numbers() iter.Seq2[int, *Candidate] {
	return func(yield func(int, *Candidate) bool) {
		for n, c := range x.byNum {
			if c != nil && !yield(n, c) {
				return
			}
		}
		for n, c := range x.sparse {
			if !yield(n, c) {
				return
			}
		}
	}
}
