package pool

import "time"

// EasyPolicy is EASY backfilling (Lifka 1995; Mu'alem and Feitelson 2001).
//
// Tasks are taken in strict order: job priority (higher first), then
// arrival (the task's sequence in the pool, across jobs; AzurePolicy takes
// a job's tasks together instead). Tasks start in that order while they
// fit. The first one that does not fit, the head, gets a reservation: the
// earliest time at which, if every running task ends at its estimated end
// (start plus maxWallClockTime; a task with no estimate never ends), enough
// nodes are free for it. A later task starts now only if it fits now and
// does not delay that reservation: it ends (now plus its estimate) no later
// than the reservation, or it needs no more nodes than will be left over at
// the reservation once the head has its own (a task with no estimate never
// ends, so only the second way is open to it). When no reservation is
// possible (the nodes the head needs are held by tasks with no estimate),
// tasks with an estimate may still start, tasks without one may not.
//
// Capacity is counted in whole nodes, as in the papers (one processor per
// node). With taskSlotsPerNode > 1 a node counts as free at a time only if
// all its slots are (every task on it has ended by then) and a backfilled
// task is assumed to take whole nodes from the leftover; this never breaks
// the reservation but backfills less than a per-slot model would.
//
// Tasks whose job is at its maxParallelTasks limit, and tasks needing more
// nodes than the pool can schedule on now, are passed over: they neither
// start nor become the head.
//
// Without disturbances (capacity lost, a task queued ahead of the head, or
// a task outliving its estimate because its kill is reported late) the head
// starts no later than its first reservation; ReservationChecker checks it.
type EasyPolicy struct {
	q       taskQueue
	limited jobSet

	// The head of the latest pass and its reservation, for Reservations.
	s        *Scheduler
	head     qItem
	hasHead  bool
	resKnown bool
	resAt    time.Time // zero: no reservation possible
	since    time.Time // when the head's promise was made

	// greedy turns the reservation off (every task that fits may start):
	// a broken EASY for testing that ReservationChecker notices.
	greedy bool
}

// NewEasyPolicy returns an EASY backfilling policy.
func NewEasyPolicy() *EasyPolicy { return &EasyPolicy{q: newTaskQueue()} }

// Name is "easy".
func (p *EasyPolicy) Name() string { return "easy" }

// Len is the number of queued entries, stale ones included.
func (p *EasyPolicy) Len() int { return p.q.len() }

// Add queues c in priority and arrival order.
func (p *EasyPolicy) Add(c *Candidate) { p.q.push(newQItem(c)) }

// Schedule starts tasks in order while they fit, then backfills behind the
// head's reservation.
func (p *EasyPolicy) Schedule(cl *Cluster) {
	s := cl.s
	p.s = s
	p.limited.reset()
	var prev *qItem
	if p.hasHead {
		prev = &p.head
	}
	head, ok, jumped := startInOrder(s, &p.q, &p.limited, prev)
	// The head keeps its promise unless it is a new head, or a task ahead
	// of it that was not there for the last pass started.
	if !ok || prev == nil || head.c != prev.c || head.epoch != prev.epoch || jumped {
		p.since = s.now
	}
	p.hasHead, p.resKnown = ok, false
	if !ok {
		return
	}
	p.head = head
	if s.nodes.freeTotal == 0 {
		// Nothing can start: the reservation is worked out only if
		// someone asks (Reservations).
		return
	}
	shadow, extra := easyShadow(s, int(head.inst))
	p.setReservation(s, shadow)
	if p.greedy {
		shadow, extra = unknownEnd-1, s.nodes.count
	}
	p.backfill(s, head, shadow, extra)
}

// startInOrder places tasks of q in order while they fit, passing over
// tasks of limited jobs (adding jobs found at their limit to limited) and
// tasks needing more nodes than are schedulable. It returns the first task
// that does not fit, if any, and whether it placed a task ordered before
// prev.
func startInOrder(s *Scheduler, q *taskQueue, limited *jobSet, prev *qItem) (head qItem, found, jumped bool) {
	var cur qItem
	var after *qItem
	for {
		it, ok := q.next(after, nil, nil)
		if !ok {
			return qItem{}, false, jumped
		}
		c := it.c
		switch {
		case limited.has(c.job), c.instances > s.nodes.count:
			cur = it
			after = &cur
			continue
		case jobLimited(c):
			limited.add(c.job)
			cur = it
			after = &cur
			continue
		case !fitsNow(s, &it):
			return it, true, jumped
		}
		switch r := s.place(c); {
		case r == ReasonNone:
			q.remove(&it)
			jumped = jumped || prev != nil && cmpQItem(&it, prev) < 0
		case r.JobLimited():
			limited.add(c.job)
			cur = it
			after = &cur
		default:
			return it, true, jumped
		}
	}
}

// easyShadow is the head's reservation for a task needing inst nodes: the
// shadow time (nanoseconds from now; unknownEnd when no reservation is
// possible) and the extra nodes, those free at the shadow time beyond the
// head's (negative when no reservation is possible).
func easyShadow(s *Scheduler, inst int) (shadow int64, extra int) {
	free := s.nodes.buckets[s.slotsPerNode].n
	if free >= inst {
		// The head fits in whole nodes yet could not be placed (its
		// job preparation task failed on some nodes): reserve now.
		return 0, free - inst
	}
	shadow = unknownEnd
	s.releases(func(d int64, n int) bool {
		if shadow != unknownEnd && d > shadow {
			return false
		}
		free += n
		if shadow == unknownEnd && free >= inst {
			shadow = d
		}
		return true
	})
	return shadow, free - inst
}

// setReservation records the head's reservation at shadow (from now).
func (p *EasyPolicy) setReservation(s *Scheduler, shadow int64) {
	p.resKnown = true
	p.resAt = time.Time{}
	if shadow != unknownEnd {
		p.resAt = s.now.Add(time.Duration(shadow))
	}
}

// backfill starts tasks behind head that fit now and end by the shadow time
// or fit in the extra nodes.
func (p *EasyPolicy) backfill(s *Scheduler, head qItem, shadow int64, extra int) {
	// A task "ends by the shadow time" if its estimate is at most by;
	// unknownEnd (no estimate) never is.
	by := min(shadow, unknownEnd-1)
	skip := func(sp *span) bool {
		return int(sp.minInst) > s.nodes.nodesWithFree(1) || int(sp.minSlots) > s.nodes.maxFree() ||
			(int(sp.minInst) > extra && sp.minEst > by)
	}
	ok := func(it *qItem) bool {
		return (it.est <= by || int(it.inst) <= extra) && fitsNow(s, it)
	}
	cur := head
	after := &cur
	for s.nodes.freeTotal > 0 {
		it, found := p.q.next(after, skip, ok)
		if !found {
			return
		}
		cur = it
		c := it.c
		if p.limited.has(c.job) || c.instances > s.nodes.count {
			continue
		}
		if jobLimited(c) {
			p.limited.add(c.job)
			continue
		}
		switch r := s.place(c); {
		case r == ReasonNone:
			p.q.remove(&it)
			if it.est > by {
				extra -= int(it.inst)
			}
		case r.JobLimited():
			p.limited.add(c.job)
		}
	}
}

// Reservations reports the head's reservation from the latest pass, if it
// has one and is still queued. Since changes when the head changes or a
// task ahead of it started (see Reservation).
func (p *EasyPolicy) Reservations(f func(Reservation) bool) {
	if !p.hasHead || !p.head.live() {
		return
	}
	if !p.resKnown {
		shadow, _ := easyShadow(p.s, int(p.head.inst))
		p.setReservation(p.s, shadow)
	}
	if !p.resAt.IsZero() {
		f(Reservation{JobID: p.head.c.JobID(), TaskID: p.head.c.TaskID(), At: p.resAt, Since: p.since})
	}
}
