package pool

import (
	"math"
	"slices"
	"time"
)

// Conservative reservation keys (qKey.res) that are not times.
const (
	// resNone: the task has no reservation yet.
	resNone = math.MaxInt64
	// resAtInfinity: the task is reserved at the end of time: the nodes
	// it needs are held by tasks with no estimate.
	resAtInfinity = math.MaxInt64 - 1
)

// ConservativePolicy is conservative backfilling (Mu'alem and Feitelson
// 2001): every queued task gets a reservation, and a task starts now only
// if that delays no earlier reservation.
//
// Each pass goes through the queue in order: first the tasks that already
// have a reservation, by reservation time (then priority and arrival), then
// the others by job priority (higher first) and arrival. Tasks start while
// they fit. From the first one that does not, a profile of free nodes over
// time is built from the running tasks' estimated ends (start plus
// maxWallClockTime; a task with no estimate never ends), and each task in
// turn gets the earliest time at which enough nodes stay free for its
// estimate (for ever, without one) after the reservations before it; it
// starts now if that time is now. Taking tasks with reservations in
// reservation order means none of them ever gets a later reservation
// (compression: each one's old slot is still free), so that, without
// disturbances (see ReservationChecker), a task starts no later than its
// first reservation. A task's priority orders it only among tasks that have
// no reservation yet.
//
// A pass stops once no remaining task could start now (for none do enough
// nodes stay free long enough); the rest keep their reservations, and
// tasks without one get one in a later pass. Capacity is counted in whole nodes, as for
// EasyPolicy, with the same handling of taskSlotsPerNode > 1. Tasks of jobs
// at their maxParallelTasks limit and tasks needing more nodes than are
// schedulable lose their reservation and are passed over.
//
// A pass costs O(queue × profile) in the worst case (a profile step per
// running task and reservation), like the published algorithm: the Lublin
// trace (10,000 jobs on 256 nodes) takes about 0.2 s of CPU, but 20,000 gang
// tasks on 1,000 nodes at 120% load, with queues of thousands, take about
// 6 s where EasyPolicy takes 0.3 s.
type ConservativePolicy struct {
	q       taskQueue
	limited jobSet
	prof    profile
	s       *Scheduler
	rekeys  []rekey // reservations that change at the end of the pass
}

// rekey is an item whose key.res becomes res.
type rekey struct {
	it  qItem
	res int64
}

// NewConservativePolicy returns a conservative backfilling policy.
func NewConservativePolicy() *ConservativePolicy {
	return &ConservativePolicy{q: newTaskQueue()}
}

// Name is "conservative".
func (p *ConservativePolicy) Name() string { return "conservative" }

// Len is the number of queued entries, stale ones included.
func (p *ConservativePolicy) Len() int { return p.q.len() }

// Add queues c, without a reservation, in priority and arrival order.
func (p *ConservativePolicy) Add(c *Candidate) {
	it := newQItem(c)
	it.key.res = resNone
	p.q.push(it)
}

// Schedule starts tasks in order while they fit, then gives each further
// task a reservation and starts those whose reservation is now.
func (p *ConservativePolicy) Schedule(cl *Cluster) {
	s := cl.s
	p.s = s
	p.limited.reset()
	p.rekeys = p.rekeys[:0]
	nowOff := int64(max(s.now.Sub(s.created), 0))
	built := false
	// cand is the first task after the cursor that could start now given
	// the profile as it is (once built) and the nodes' free slots: enough
	// nodes stay free for its estimate. Tasks before it only take more of
	// the profile, so none after the cursor can start now if there is no
	// cand: the pass ends there, and the tasks left keep their
	// reservations.
	var cur, cand qItem
	var after *qItem
	haveCand := false
	skip := func(sp *span) bool {
		return int(sp.minInst) > s.nodes.nodesWithFree(1) || int(sp.minSlots) > s.nodes.maxFree() ||
			sp.minEst > p.prof.freeFor(int(sp.minInst))
	}
	mayStart := func(it *qItem) bool { return it.est <= p.prof.freeFor(int(it.inst)) && fitsNow(s, it) }
	for s.nodes.freeTotal > 0 {
		if built && !haveCand {
			p.prof.prefixMin()
			if cand, haveCand = p.q.next(after, skip, mayStart); !haveCand {
				break
			}
		}
		it, ok := p.q.next(after, nil, nil)
		if !ok {
			break
		}
		cur = it
		after = &cur
		if haveCand && cmpQItem(&it, &cand) >= 0 {
			haveCand = false // look again after this one
		}
		c := it.c
		if p.limited.has(c.job) || c.instances > s.nodes.count || jobLimited(c) {
			if jobLimited(c) {
				p.limited.add(c.job)
			}
			p.setRes(it, resNone)
			continue
		}
		if !built {
			if fitsNow(s, &it) {
				switch r := s.place(c); {
				case r == ReasonNone:
					p.q.remove(&it)
					continue
				case r.JobLimited():
					p.limited.add(c.job)
					p.setRes(it, resNone)
					continue
				}
			}
			p.prof.build(s)
			built = true
		}
		inst := int(it.inst)
		t := p.prof.earliest(inst, it.est)
		if t == 0 && fitsNow(s, &it) {
			switch r := s.place(c); {
			case r == ReasonNone:
				p.q.remove(&it)
				p.prof.reserve(0, it.est, inst)
				haveCand = false // fewer nodes free now
				continue
			case r.JobLimited():
				p.limited.add(c.job)
				p.setRes(it, resNone)
				continue
			}
			// Not placed after all (its job preparation task failed
			// on the free nodes): it keeps a reservation for now.
		}
		p.prof.reserve(t, it.est, inst)
		res := int64(resAtInfinity)
		if t != unknownEnd {
			res = satAdd(nowOff, t)
		}
		p.setRes(it, res)
	}
	// Re-key after the walk: moving an item while walking could make the
	// walk meet it twice.
	for _, rk := range p.rekeys {
		p.q.remove(&rk.it)
		rk.it.key.res = rk.res
		p.q.push(rk.it)
	}
	clear(p.rekeys)
}

// setRes records that it's reservation becomes res at the end of the pass.
func (p *ConservativePolicy) setRes(it qItem, res int64) {
	if it.key.res != res {
		p.rekeys = append(p.rekeys, rekey{it, res})
	}
}

// Reservations reports every queued task's reservation, in reservation
// order. Since is zero: a task with a reservation never has a task put
// ahead of it.
func (p *ConservativePolicy) Reservations(f func(Reservation) bool) {
	if p.s == nil {
		return
	}
	p.q.t.each(func(it *qItem) bool {
		if it.key.res >= resAtInfinity {
			return false
		}
		if !it.live() {
			return true
		}
		return f(Reservation{JobID: it.c.JobID(), TaskID: it.c.TaskID(), At: p.s.created.Add(time.Duration(it.key.res))})
	})
}

// profile is free capacity over time in whole nodes: caps[i] nodes are free
// from times[i] (nanoseconds from now; times[0] is 0) to times[i+1], the
// last step for ever; inf nodes are free at the end of time, after every
// task with an estimate has ended (tasks with none hold theirs).
type profile struct {
	times []int64
	caps  []int
	inf   int
	// low[i] is the least of caps[0..i], as of the last prefixMin.
	low []int
	// wide[k] is a time before which no step has k nodes free. Nodes are
	// only taken from a profile once built, so it only moves later.
	wide map[int]int64
}

// build makes the profile of s now: its wholly free nodes and the nodes
// running tasks release at their estimated ends.
func (p *profile) build(s *Scheduler) {
	p.times = append(p.times[:0], 0)
	p.caps = append(p.caps[:0], s.nodes.buckets[s.slotsPerNode].n)
	s.releases(func(d int64, n int) bool {
		last := len(p.times) - 1
		if d == p.times[last] {
			p.caps[last] += n
		} else {
			p.times = append(p.times, d)
			p.caps = append(p.caps, p.caps[last]+n)
		}
		return true
	})
	p.inf = p.caps[len(p.caps)-1]
	if p.wide == nil {
		p.wide = make(map[int]int64)
	}
	clear(p.wide)
}

// earliest is the first time (nanoseconds from now) from which k nodes stay
// free for est nanoseconds (for ever, and at the end of time, when est is
// unknownEnd), or unknownEnd if there is none.
func (p *profile) earliest(k int, est int64) int64 {
	n := len(p.times)
	i, _ := slices.BinarySearch(p.times, p.wide[k])
	for ; i < n && p.caps[i] < k; i++ {
	}
	if i < n {
		p.wide[k] = p.times[i]
	}
	for ; i < n; i++ {
		if p.caps[i] < k {
			continue
		}
		start := p.times[i]
		j := i + 1
		if est == unknownEnd {
			for j < n && p.caps[j] >= k {
				j++
			}
			if j == n {
				if p.inf >= k {
					return start
				}
				return unknownEnd
			}
		} else {
			end := satAdd(start, est)
			for j < n && p.times[j] < end && p.caps[j] >= k {
				j++
			}
			if j == n || p.times[j] >= end {
				return start
			}
		}
		i = j // caps[j] < k: no start before times[j+1] works
	}
	return unknownEnd
}

// reserve takes k nodes from t for est nanoseconds (for ever when est is
// unknownEnd); t == unknownEnd takes them at the end of time only.
func (p *profile) reserve(t, est int64, k int) {
	if t == unknownEnd {
		p.inf -= k
		return
	}
	i := p.split(t)
	j := len(p.times)
	if est == unknownEnd {
		p.inf -= k
	} else {
		j = p.split(satAdd(t, est))
	}
	for ; i < j; i++ {
		p.caps[i] -= k
	}
}

// prefixMin brings low up to date with the profile.
func (p *profile) prefixMin() {
	p.low = p.low[:0]
	m := math.MaxInt
	for _, c := range p.caps {
		m = min(m, c)
		p.low = append(p.low, m)
	}
}

// freeFor is how long (nanoseconds) k nodes stay free from now, as of the
// last prefixMin: unknownEnd if for ever (end of time included),
// unknownEnd-1 if until the end of time but not at it.
func (p *profile) freeFor(k int) int64 {
	i, _ := slices.BinarySearchFunc(p.low, k, func(c, k int) int {
		if c >= k {
			return -1
		}
		return 1
	})
	switch {
	case i < len(p.low):
		return p.times[i]
	case p.inf >= k:
		return unknownEnd
	}
	return unknownEnd - 1
}

// split makes sure a step starts at x (x >= 0) and returns its index.
func (p *profile) split(x int64) int {
	i, found := slices.BinarySearch(p.times, x)
	if found {
		return i
	}
	p.times = slices.Insert(p.times, i, x)
	p.caps = slices.Insert(p.caps, i, p.caps[i-1])
	return i
}
