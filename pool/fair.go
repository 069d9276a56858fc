package pool

import "cmp"

// FairPolicy shares the pool's slots across jobs: the next task to place
// comes from the job that has the fewest running slots now (slots times
// instances of its tasks that are preparing or running), ties going to the
// job with the higher priority, then to the job that arrived first. Within a
// job, tasks go in arrival order as in AzurePolicy (a task that does not
// fit is passed over for smaller ones of the same job). A job whose next
// task does not fit, or that is at its maxParallelTasks limit, is passed
// over for the rest of the pass.
//
// Running slots rather than accumulated slot-seconds: it needs no history,
// reacts at once when a job's tasks end, and makes two equal jobs alternate
// task by task. The cost of a pass grows with the number of jobs that have
// both running and queued tasks (their counts are re-read every pass), not
// with the number of queued tasks.
type FairPolicy struct {
	jobs  map[*jobRec]*fairJob // lookups only
	order tree[fairItem]       // jobs with queued tasks
	// busy lists the jobs in order whose key counts running slots, in the
	// order they became busy: those whose count can have dropped since.
	busy []*fairJob
	n    int
	pass uint64
}

// fairJob is one job's queue and its place in the order.
type fairJob struct {
	q       azureJobQueue
	running int // running slots in its key
	inOrder bool
	inBusy  bool
	pass    uint64
	blocked []bool // shapes that did not fit in pass `pass`
}

// fairItem orders jobs: fewest running slots, higher priority, earlier
// arrival.
type fairItem struct {
	running int
	prio    int // negated
	seq     uint64
	fj      *fairJob
}

func cmpFairItem(a, b *fairItem) int {
	if c := cmp.Compare(a.running, b.running); c != 0 {
		return c
	}
	if c := cmp.Compare(a.prio, b.prio); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// NewFairPolicy returns a fair-share policy.
func NewFairPolicy() *FairPolicy {
	return &FairPolicy{jobs: make(map[*jobRec]*fairJob), order: newTree(cmpFairItem, nil)}
}

// Name is "fair".
func (p *FairPolicy) Name() string { return "fair" }

// Len is the number of queued entries, stale ones included.
func (p *FairPolicy) Len() int { return p.n }

func (fj *fairJob) item() fairItem {
	return fairItem{running: fj.running, prio: -fj.q.job.spec.Priority, seq: fj.q.job.seq, fj: fj}
}

func (p *FairPolicy) enter(fj *fairJob) {
	fj.running = fj.q.job.slotCounts.Running
	fj.inOrder = true
	p.order.insert(fj.item(), hash64(fj.q.job.seq))
	if fj.running > 0 && !fj.inBusy {
		fj.inBusy = true
		p.busy = append(p.busy, fj)
	}
}

func (p *FairPolicy) leave(fj *fairJob) {
	it := fj.item()
	p.order.delete(&it)
	fj.inOrder = false
}

// Add queues c behind the tasks of its job and shape.
func (p *FairPolicy) Add(c *Candidate) {
	fj := p.jobs[c.job]
	if fj == nil {
		fj = &fairJob{q: azureJobQueue{job: c.job}}
		p.jobs[c.job] = fj
	}
	fj.q.queue(shapeKey{c.slots, c.instances}).push(queueEntry{c, c.epoch})
	fj.q.n++
	p.n++
	if !fj.inOrder {
		p.enter(fj)
	}
}

// Schedule places one task at a time from the job with the fewest running
// slots.
func (p *FairPolicy) Schedule(cl *Cluster) {
	s := cl.s
	p.pass++
	// Jobs whose tasks ended since their key was set move forward.
	keep := p.busy[:0]
	for _, fj := range p.busy {
		if !fj.inOrder {
			fj.inBusy = false
			continue
		}
		if now := fj.q.job.slotCounts.Running; now != fj.running {
			p.leave(fj)
			p.enter(fj)
		}
		if fj.running > 0 {
			keep = append(keep, fj)
		} else {
			fj.inBusy = false
		}
	}
	clear(p.busy[len(keep):])
	p.busy = keep

	var cur fairItem
	var after *fairItem
	for s.nodes.freeTotal > 0 {
		it, ok := p.order.first(after, nil, nil)
		if !ok {
			return
		}
		fj := it.fj
		placed := p.placeOne(s, fj)
		switch {
		case fj.q.n == 0:
			p.leave(fj)
			delete(p.jobs, fj.q.job)
		case placed:
			p.leave(fj)
			p.enter(fj)
		default:
			cur = it
			after = &cur
		}
	}
}

// placeOne places the earliest task of fj that fits, and reports whether
// it did.
func (p *FairPolicy) placeOne(s *Scheduler, fj *fairJob) bool {
	jq := &fj.q
	if fj.pass != p.pass {
		fj.pass = p.pass
		fj.blocked = fj.blocked[:0]
	}
	for len(fj.blocked) < len(jq.shapes) {
		fj.blocked = append(fj.blocked, false)
	}
	for {
		best := -1
		var bestE queueEntry
		for i, q := range jq.queues {
			if fj.blocked[i] {
				continue
			}
			before := q.len()
			e, ok := q.peekLive()
			removed := before - q.len()
			jq.n -= removed
			p.n -= removed
			if ok && (best < 0 || e.c.seq < bestE.c.seq) {
				best, bestE = i, e
			}
		}
		if best < 0 {
			return false
		}
		switch r := s.place(bestE.c); {
		case r == ReasonNone:
			jq.queues[best].pop()
			jq.n--
			p.n--
			return true
		case r.JobLimited():
			return false
		default:
			fj.blocked[best] = true
		}
	}
}
