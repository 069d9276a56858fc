package pool

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/embatch/embatch/task"
)

// policyNames are the names NewPolicy accepts, in the order error messages
// list them.
var policyNames = []string{"fcfs", "azure", "easy", "conservative", "sjf", "fair"}

// PolicyNames returns the names NewPolicy accepts.
func PolicyNames() []string { return slices.Clone(policyNames) }

// NewPolicy returns a new scheduling policy by name (case-insensitive):
//
//   - "fcfs" and "azure": NewAzurePolicy, Azure Batch's greedy ordering
//     (its Name is "azure");
//   - "easy": NewEasyPolicy, EASY backfilling;
//   - "conservative": NewConservativePolicy, conservative backfilling;
//   - "sjf": NewSJFPolicy, shortest job first by estimate;
//   - "fair": NewFairPolicy, fair share across jobs.
//
// An unknown name is an InvalidPropertyValue error for field "policy".
// Each call returns a new policy: a policy belongs to one scheduler.
func NewPolicy(name string) (Policy, error) {
	switch strings.ToLower(name) {
	case "fcfs", "azure":
		return NewAzurePolicy(), nil
	case "easy":
		return NewEasyPolicy(), nil
	case "conservative":
		return NewConservativePolicy(), nil
	case "sjf":
		return NewSJFPolicy(), nil
	case "fair":
		return NewFairPolicy(), nil
	}
	return nil, task.Invalid("policy", name, "unknown scheduling policy; want one of %s", strings.Join(policyNames, ", "))
}

// qKey orders a policy's queue. Fields a policy does not use stay zero.
type qKey struct {
	// res is a conservative reservation, nanoseconds since the scheduler
	// was created (resAtInfinity, resNone when there is none).
	res int64
	// prio is the job's priority negated, so that higher runs first.
	prio int32
	// est is the task's estimate, for sjf (unknownEnd when unknown).
	est int64
	seq uint64
}

// qItem is a queued task: the candidate at the epoch it was added, and
// what searches look at.
type qItem struct {
	key   qKey
	c     *Candidate
	epoch uint32
	inst  int32
	slots int32
	// est is the task's estimate in nanoseconds, unknownEnd when it has
	// none.
	est int64
}

func (it *qItem) live() bool { return it.c.ready && it.c.epoch == it.epoch }

func cmpQItem(a, b *qItem) int {
	x, y := &a.key, &b.key
	if c := cmp.Compare(x.res, y.res); c != 0 {
		return c
	}
	if c := cmp.Compare(x.prio, y.prio); c != 0 {
		return c
	}
	if c := cmp.Compare(x.est, y.est); c != 0 {
		return c
	}
	return cmp.Compare(x.seq, y.seq)
}

func qItemSpan(it *qItem) span { return span{minInst: it.inst, minSlots: it.slots, minEst: it.est} }

// estimate is c's estimate in nanoseconds, unknownEnd when it has none.
func estimate(c *Candidate) int64 {
	if e := c.Estimate(); e > 0 {
		return int64(e)
	}
	return unknownEnd
}

func newQItem(c *Candidate) qItem {
	return qItem{
		key:   qKey{prio: int32(-c.job.spec.Priority), seq: c.seq},
		c:     c,
		epoch: c.epoch,
		inst:  int32(min(c.instances, math.MaxInt32)),
		slots: int32(min(c.slots, math.MaxInt32)),
		est:   estimate(c),
	}
}

// taskQueue is a queue of tasks ordered by qKey, with lazy deletion of
// entries whose task left the ready set.
type taskQueue struct{ t tree[qItem] }

func newTaskQueue() taskQueue { return taskQueue{t: newTree(cmpQItem, qItemSpan)} }

func (q *taskQueue) len() int { return q.t.len() }

// push adds it, replacing a stale entry with the same key.
func (q *taskQueue) push(it qItem) { q.t.insert(it, hash64(it.key.seq)) }

func (q *taskQueue) remove(it *qItem) { q.t.delete(it) }

// next returns the first live item after `after` (from the start when nil)
// that ok accepts, skipping subtrees that skip rejects (see tree.first).
// Stale items it finds are dropped.
func (q *taskQueue) next(after *qItem, skip func(*span) bool, ok func(*qItem) bool) (qItem, bool) {
	for {
		it, found := q.t.first(after, skip, ok)
		if !found || it.live() {
			return it, found
		}
		q.t.delete(&it)
	}
}

// jobLimited reports whether c's job may start no more tasks now
// (maxParallelTasks), the check Place makes first.
func jobLimited(c *Candidate) bool {
	j := c.job
	if j.state != task.JobActive {
		return true
	}
	max := j.spec.EffectiveMaxParallelTasks()
	return max > 0 && j.running >= max
}

// jobSet is a set of jobs for one scheduling pass (jobs found at their
// maxParallelTasks limit). It is only looked up, never iterated.
type jobSet struct{ m map[*jobRec]bool }

func (s *jobSet) reset()             { s.m = nil }
func (s *jobSet) has(j *jobRec) bool { return s.m[j] }
func (s *jobSet) add(j *jobRec) {
	if s.m == nil {
		s.m = make(map[*jobRec]bool)
	}
	s.m[j] = true
}

// fitsNow reports whether it could be placed now as far as node capacity
// goes.
func fitsNow(s *Scheduler, it *qItem) bool {
	return s.nodes.nodesWithFree(int(it.slots)) >= int(it.inst)
}

// fitSkip returns a subtree filter that rejects subtrees in which no task
// can fit the nodes' free slots now, and the matching item test. They read
// the node index when called, so they stay right as tasks are placed.
func fitSkip(s *Scheduler) (func(*span) bool, func(*qItem) bool) {
	skip := func(sp *span) bool {
		return int(sp.minInst) > s.nodes.nodesWithFree(1) || int(sp.minSlots) > s.nodes.maxFree()
	}
	ok := func(it *qItem) bool { return fitsNow(s, it) }
	return skip, ok
}
