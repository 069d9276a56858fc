package pool

import (
	"slices"
	"time"

	"github.com/embatch/embatch/task"
)

// Candidate is a task as scheduling policies see it. The scheduler owns it;
// policies keep pointers in their queues and read it through these methods.
//
// It is kept small, because the core holds one per task (queued, running or
// completed): the spec is a pointer into the core's copy of the submitted
// collection, and what a task has only once it ran (execution and node
// info) is allocated when it first starts, is retried or requeued.
type Candidate struct {
	spec    *task.TaskSpec
	job     *jobRec
	seq     uint64
	run     *runInfo // nil until the task first starts, is retried or requeued
	attempt *attemptRec
	// children are the tasks waiting for this one to complete; a pointer
	// to keep the record small, as most tasks have none.
	children *[]*Candidate
	created  time.Time
	changed  time.Time
	// unmet counts dependencies that have not completed yet.
	unmet     int32
	epoch     uint32
	slots     int
	instances int
	state     task.TaskState
	prev      task.TaskState
	ready     bool
	blocked   bool
	// depsSatisfied records the dependency action of the final outcome.
	depsSatisfied bool
}

// JobID is the id of the task's job.
func (c *Candidate) JobID() string { return c.job.spec.ID }

// TaskID is the task's id.
func (c *Candidate) TaskID() string { return c.spec.ID }

// Priority is the job's priority, -1000..1000; higher runs first.
func (c *Candidate) Priority() int { return c.job.spec.Priority }

// JobSeq orders jobs by arrival within the pool (smaller is earlier).
func (c *Candidate) JobSeq() uint64 { return c.job.seq }

// Seq orders tasks by arrival within the pool (smaller is earlier).
func (c *Candidate) Seq() uint64 { return c.seq }

// Slots is the slots the task needs on each node.
func (c *Candidate) Slots() int { return c.slots }

// Instances is the number of nodes the task needs at once (1 unless it is a
// multi-instance task).
func (c *Candidate) Instances() int { return c.instances }

// Estimate is the task's maxWallClockTime, the only run-time estimate Batch
// has; 0 means unknown (treat as unbounded).
func (c *Candidate) Estimate() time.Duration { return c.spec.WallClockLimit().D() }

// Spec is the task's spec. Policies must not modify it.
func (c *Candidate) Spec() *task.TaskSpec { return c.spec }

// Epoch changes every time the task leaves the ready set. A policy that
// stored (c, c.Epoch()) when c was added knows the entry is stale when the
// epochs differ.
func (c *Candidate) Epoch() uint32 { return c.epoch }

// Ready reports whether the task is waiting to be placed now.
func (c *Candidate) Ready() bool { return c.ready }

// Reason says why a task is not running.
type Reason string

// Reasons a task was not placed.
const (
	ReasonNone              Reason = ""
	ReasonNotActive         Reason = "task is not active"
	ReasonJobNotActive      Reason = "job is not active"
	ReasonJobDisabled       Reason = "job is disabled"
	ReasonDependencyUnmet   Reason = "waiting for dependencies"
	ReasonDependencyBlocked Reason = "a dependency completed with dependencyAction block"
	ReasonMaxParallelTasks  Reason = "job is at maxParallelTasks"
	ReasonNoNodes           Reason = "no node in the pool can take tasks"
	ReasonNoFreeSlots       Reason = "no node has enough free slots"
	ReasonNotEnoughNodes    Reason = "not enough nodes with a free slot for all instances"
	ReasonQueued            Reason = "queued behind other tasks"
	ReasonPrepFailed        Reason = "the job preparation task failed on every usable node"
	ReasonReserved          Reason = "slots are reserved for an earlier task"
)

// Policy decides the order in which ready tasks are placed. The scheduler
// tells it when a task becomes ready (Add) and asks it to place tasks
// (Schedule); node choice follows the pool's node fill type.
//
// A policy is owned by one scheduler and called from its Step; it must be
// deterministic: no map iteration order, clock or randomness of its own.
//
// NewPolicy returns the built-in policies by name: AzurePolicy ("azure",
// "fcfs"), EasyPolicy, ConservativePolicy, SJFPolicy and FairPolicy.
// Policies that make reservations also implement Reserver.
type Policy interface {
	// Name is the policy's short name, such as "azure" or "easy".
	Name() string
	// Add is called when c becomes ready to run. A task may be added again
	// after it left the ready set (its Epoch differs then).
	Add(c *Candidate)
	// Schedule places ready tasks by calling cl.Place. It is called once per
	// scheduling pass, when slots may be free and tasks may be waiting.
	Schedule(cl *Cluster)
	// Len is the number of entries queued (stale ones included); zero lets
	// the scheduler skip the pass.
	Len() int
}

// RunningInfo describes a running task attempt for backfilling policies.
type RunningInfo struct {
	// Slots is the slots held on each node; Instances the number of nodes.
	Slots     int
	Instances int
	// End is the attempt's start plus its task's estimate; zero when there
	// is no estimate, or when the attempt still waits for job preparation
	// tasks (its clock has not started).
	End time.Time
}

// Cluster is the scheduler as a policy sees it during Schedule.
type Cluster struct{ s *Scheduler }

// Now is the scheduler's current time.
func (cl *Cluster) Now() time.Time { return cl.s.now }

// FreeSlots is the number of free slots on schedulable nodes.
func (cl *Cluster) FreeSlots() int { return cl.s.nodes.freeTotal }

// SlotsPerNode is the pool's taskSlotsPerNode.
func (cl *Cluster) SlotsPerNode() int { return cl.s.slotsPerNode }

// SchedulableNodes is the number of nodes that can take tasks now.
func (cl *Cluster) SchedulableNodes() int { return cl.s.nodes.count }

// Fits reports whether a task needing slots on each of instances distinct
// nodes could be placed now, ignoring job limits.
func (cl *Cluster) Fits(slots, instances int) bool {
	return cl.s.nodes.nodesWithFree(slots) >= instances
}

// Running calls f for every task attempt holding slots, in order of
// estimated end (earliest first; attempts with no End last, in start order),
// until f returns false. f must not call Place.
func (cl *Cluster) Running(f func(RunningInfo) bool) {
	s := cl.s
	s.buildRunIndex()
	s.running.each(func(it *runItem) bool {
		a := it.a
		ri := RunningInfo{Slots: a.a.Slots, Instances: len(a.nodes)}
		if it.end != unknownEnd {
			ri.End = s.created.Add(time.Duration(it.end))
		}
		return f(ri)
	})
}

// Place tries to start c now. It returns ReasonNone when c was placed, or
// why it was not: a job-level reason (the job's other tasks will not fit
// either) or a node-level one.
func (cl *Cluster) Place(c *Candidate) Reason { return cl.s.place(c) }

// JobLimited reports whether r means no other task of the same job can be
// placed in this pass.
func (r Reason) JobLimited() bool {
	return r == ReasonMaxParallelTasks || r == ReasonJobNotActive || r == ReasonJobDisabled
}

// queueEntry is a policy's reference to a candidate at the epoch it was added.
type queueEntry struct {
	c     *Candidate
	epoch uint32
}

func (e queueEntry) live() bool { return e.c.ready && e.c.epoch == e.epoch }

// fifo is a queue of entries with amortized O(1) push and pop.
type fifo struct {
	items []queueEntry
	head  int
}

func (q *fifo) push(e queueEntry) { q.items = append(q.items, e) }
func (q *fifo) len() int          { return len(q.items) - q.head }

// peekLive drops stale entries at the head and returns the first live one.
func (q *fifo) peekLive() (queueEntry, bool) {
	for q.head < len(q.items) {
		e := q.items[q.head]
		if e.live() {
			return e, true
		}
		q.items[q.head] = queueEntry{}
		q.head++
	}
	q.items, q.head = q.items[:0], 0
	return queueEntry{}, false
}

func (q *fifo) pop() {
	q.items[q.head] = queueEntry{}
	q.head++
	if q.head > 64 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// shapeKey groups a job's tasks by what they need of nodes.
type shapeKey struct{ slots, instances int }

// azureJobQueue holds one job's ready tasks, one FIFO per task shape, so that
// a task that does not fit does not stop smaller ones behind it.
type azureJobQueue struct {
	job    *jobRec
	shapes []shapeKey
	queues []*fifo
	n      int
}

func (jq *azureJobQueue) queue(k shapeKey) *fifo {
	for i, s := range jq.shapes {
		if s == k {
			return jq.queues[i]
		}
	}
	jq.shapes = append(jq.shapes, k)
	q := &fifo{}
	jq.queues = append(jq.queues, q)
	return q
}

// reset empties jq for reuse by another job, keeping one shape's FIFO (and
// its storage) if it has one.
func (jq *azureJobQueue) reset() {
	jq.job = nil
	if len(jq.queues) > 1 {
		clear(jq.shapes[1:])
		clear(jq.queues[1:])
		jq.shapes, jq.queues = jq.shapes[:1], jq.queues[:1]
	}
	for _, q := range jq.queues {
		clear(q.items)
		q.items, q.head = q.items[:0], 0
	}
}

// AzurePolicy is Azure Batch's ordering: jobs by priority (higher first),
// then by arrival; within a job, tasks in arrival order. It is greedy: a task
// that does not fit is skipped and smaller ones behind it may run. This is
// the default policy and the simulator's "fcfs".
type AzurePolicy struct {
	jobs  []*azureJobQueue // sorted by priority desc, job seq asc
	byJob map[*jobRec]*azureJobQueue
	n     int
	// spare holds a job queue whose tasks were all placed, for reuse: on
	// a lightly loaded pool a job's queue empties after nearly every
	// arrival, and allocating it again each time dominated Add.
	spare *azureJobQueue
}

// NewAzurePolicy returns Azure's default policy.
func NewAzurePolicy() *AzurePolicy {
	return &AzurePolicy{byJob: make(map[*jobRec]*azureJobQueue)}
}

// Name is "azure".
func (p *AzurePolicy) Name() string { return "azure" }

// Len is the number of queued entries.
func (p *AzurePolicy) Len() int { return p.n }

// Add queues c behind the tasks of its job and shape.
func (p *AzurePolicy) Add(c *Candidate) {
	jq := p.byJob[c.job]
	if jq == nil {
		if jq = p.spare; jq != nil {
			p.spare = nil
			jq.job = c.job
		} else {
			jq = &azureJobQueue{job: c.job}
		}
		p.byJob[c.job] = jq
		i, _ := slices.BinarySearchFunc(p.jobs, jq, func(a, b *azureJobQueue) int {
			if a.job.spec.Priority != b.job.spec.Priority {
				return b.job.spec.Priority - a.job.spec.Priority
			}
			return compareU64(a.job.seq, b.job.seq)
		})
		p.jobs = slices.Insert(p.jobs, i, jq)
	}
	jq.queue(shapeKey{c.slots, c.instances}).push(queueEntry{c, c.epoch})
	jq.n++
	p.n++
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Schedule walks jobs in order and places each job's tasks in arrival order,
// skipping shapes that do not fit.
func (p *AzurePolicy) Schedule(cl *Cluster) {
	for ji := 0; ji < len(p.jobs) && cl.FreeSlots() > 0; ji++ {
		jq := p.jobs[ji]
		p.scheduleJob(cl, jq)
	}
	// Drop jobs whose queues emptied, keeping order.
	p.jobs = slices.DeleteFunc(p.jobs, func(jq *azureJobQueue) bool {
		if jq.n == 0 {
			delete(p.byJob, jq.job)
			jq.reset()
			p.spare = jq
			return true
		}
		return false
	})
}

func (p *AzurePolicy) scheduleJob(cl *Cluster, jq *azureJobQueue) {
	// blocked[i] is set when shape i cannot fit in this pass.
	var blockedBuf [8]bool
	blocked := blockedBuf[:0]
	for range jq.shapes {
		blocked = append(blocked, false)
	}
	for cl.FreeSlots() > 0 {
		// Pick the earliest live head among shapes that may still fit.
		best := -1
		var bestE queueEntry
		for i, q := range jq.queues {
			if blocked[i] {
				continue
			}
			before := q.len()
			e, ok := q.peekLive()
			removed := before - q.len()
			jq.n -= removed
			p.n -= removed
			if !ok {
				continue
			}
			if best < 0 || e.c.seq < bestE.c.seq {
				best, bestE = i, e
			}
		}
		if best < 0 {
			return
		}
		r := cl.Place(bestE.c)
		switch {
		case r == ReasonNone:
			jq.queues[best].pop()
			jq.n--
			p.n--
		case r.JobLimited():
			return
		default:
			blocked[best] = true
		}
	}
}
