package sim

import "time"

// evKind says what a kernel event does when it fires.
type evKind uint8

// Event kinds. The zero value is invalid.
const (
	evInvalid evKind = iota
	// evArrival submits workload tasks [a, a+n).
	evArrival
	// evNodeUp: node a (generation gen) finished booting or recovered.
	evNodeUp
	// evExit: attempt id ran to its end.
	evExit
	// evKilled: attempt id was killed; it exits at once.
	evKilled
	// evTick: a deadline of the core is due.
	evTick
	// evNodeFail: node a (generation gen) is lost.
	evNodeFail
	// evPreempt: low-priority node a (generation gen) is preempted.
	evPreempt
	// evRestart: the engine restarts (the core is rebuilt from its
	// durable records and every node is lost).
	evRestart
	// evNop does nothing (the bare-heap benchmark's events).
	evNop
)

// progresses reports whether events of kind k move tasks forward by
// themselves. Node events (boots, recoveries, faults) and the core's timers
// help only jobs that are not settled; see simulation.stalled.
func (k evKind) progresses() bool {
	switch k {
	case evArrival, evExit, evKilled:
		return true
	}
	return false
}

// event is one entry of the kernel's queue. It is a small value, not a
// closure, so that millions of them cost no garbage.
type event struct {
	at   time.Duration // virtual time since the start of the run
	seq  uint64        // insertion order: breaks ties in time
	kind evKind
	a    int32  // node index, first task index, or engine life (exits)
	n    int32  // task count (evArrival)
	id   uint64 // attempt id, or node generation
}

// before orders events by time, then by insertion.
func (e *event) before(o *event) bool {
	if e.at != o.at {
		return e.at < o.at
	}
	return e.seq < o.seq
}

// kernel is the discrete-event core: a virtual clock and a binary heap of
// events ordered by (time, sequence). It has no goroutines and no wall
// clock; the same pushes give the same pops.
type kernel struct {
	now      time.Duration
	seq      uint64
	heap     []event
	progress int    // queued events whose kind progresses()
	popped   uint64 // events taken off the queue
}

// push queues an event at time at (never before now).
func (k *kernel) push(e event) {
	if e.at < k.now {
		e.at = k.now
	}
	k.seq++
	e.seq = k.seq
	if e.kind.progresses() {
		k.progress++
	}
	k.heap = append(k.heap, e)
	k.up(len(k.heap) - 1)
}

// pop removes the earliest event and moves the clock to it. The queue must
// not be empty.
func (k *kernel) pop() event {
	h := k.heap
	e := h[0]
	last := len(h) - 1
	h[0] = h[last]
	k.heap = h[:last]
	if last > 0 {
		k.down(0)
	}
	k.now = e.at
	k.popped++
	if e.kind.progresses() {
		k.progress--
	}
	return e
}

// len is the number of queued events.
func (k *kernel) len() int { return len(k.heap) }

// peek is the time of the earliest event; the queue must not be empty.
func (k *kernel) peek() time.Duration { return k.heap[0].at }

func (k *kernel) up(i int) {
	h := k.heap
	e := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !e.before(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

func (k *kernel) down(i int) {
	h := k.heap
	n := len(h)
	e := h[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].before(&h[c]) {
			c = r
		}
		if !h[c].before(&e) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = e
}
