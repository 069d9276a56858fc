package pool

// SJFPolicy is shortest job first: tasks by job priority (higher first),
// then by estimate (maxWallClockTime; tasks with none last), then by
// arrival. It is greedy like AzurePolicy: a task that does not fit is
// passed over and shorter-ranked ones behind it may start, so a wide task
// can wait for ever behind a stream of narrower ones (SJF has no
// reservations). Tasks of jobs at their maxParallelTasks limit are passed
// over.
type SJFPolicy struct {
	q       taskQueue
	limited jobSet
}

// NewSJFPolicy returns a shortest-job-first policy.
func NewSJFPolicy() *SJFPolicy { return &SJFPolicy{q: newTaskQueue()} }

// Name is "sjf".
func (p *SJFPolicy) Name() string { return "sjf" }

// Len is the number of queued entries, stale ones included.
func (p *SJFPolicy) Len() int { return p.q.len() }

// Add queues c by priority, estimate and arrival.
func (p *SJFPolicy) Add(c *Candidate) {
	it := newQItem(c)
	it.key.est = it.est
	p.q.push(it)
}

// Schedule places every task that fits, in order.
func (p *SJFPolicy) Schedule(cl *Cluster) {
	s := cl.s
	p.limited.reset()
	skip, ok := fitSkip(s)
	var cur qItem
	var after *qItem
	for s.nodes.freeTotal > 0 {
		it, found := p.q.next(after, skip, ok)
		if !found {
			return
		}
		c := it.c
		if p.limited.has(c.job) {
			cur = it
			after = &cur
			continue
		}
		switch r := s.place(c); {
		case r == ReasonNone:
			p.q.remove(&it)
		case r.JobLimited():
			p.limited.add(c.job)
			cur = it
			after = &cur
		default:
			cur = it
			after = &cur
		}
	}
}
