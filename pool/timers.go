package pool

import (
	"time"

	"github.com/embatch/embatch/task"
)

// timerKind says what a deadline is for.
type timerKind uint8

const (
	timerAttempt   timerKind = iota + 1 // an attempt's maxWallClockTime
	timerJob                            // a job's maxWallClockTime
	timerResize                         // the resize timeout
	timerSample                         // the next autoscale metrics sample
	timerAutoScale                      // the next autoscale evaluation
)

// timer is one deadline. Stale timers (their subject changed) are skipped
// when they fire rather than removed, which keeps the heap simple.
type timer struct {
	at   time.Time
	seq  uint64
	kind timerKind
	id   uint64 // attempt id, job seq or resize generation
}

// timerHeap is a binary min-heap of timers by (at, seq). It is typed
// rather than a container/heap, which would box every timer pushed or
// popped in an interface (an allocation per timer).
type timerHeap []timer

func (h timerHeap) less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}

// push adds t.
func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

// pop removes and returns the earliest timer; h must not be empty.
func (h *timerHeap) pop() timer {
	q := *h
	t := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	for i := 0; ; {
		m := i
		if l := 2*i + 1; l < n && q.less(l, m) {
			m = l
		}
		if r := 2*i + 2; r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return t
}

func (s *Scheduler) addTimer(at time.Time, kind timerKind, id uint64) {
	s.timerSeq++
	s.timers.push(timer{at: at, seq: s.timerSeq, kind: kind, id: id})
}

// fireTimers runs every timer due at or before now.
func (s *Scheduler) fireTimers() {
	for len(s.timers) > 0 && !s.timers[0].at.After(s.now) {
		t := s.timers.pop()
		if !s.timerLive(t) {
			continue
		}
		switch t.kind {
		case timerAttempt:
			s.killAttempt(s.attempts.get(t.id), killTimeout)
		case timerJob:
			s.terminateJob(s.jobBySeq[t.id], task.TerminateReasonMaxWallClockTime)
		case timerResize:
			s.resizeTimedOut()
		case timerSample:
			s.sampleMetrics()
		case timerAutoScale:
			s.evaluateAutoScale()
		}
	}
}

// timerLive reports whether firing t would still do something: its attempt
// runs and is not being killed, its job has not ended, its resize is the
// one in progress (a deleting pool has no resize timeout: it waits for its
// nodes to drain).
func (s *Scheduler) timerLive(t timer) bool {
	switch t.kind {
	case timerAttempt:
		a := s.attempts.get(t.id)
		return a != nil && a.kill == "" && a.a.Deadline.Equal(t.at)
	case timerJob:
		j := s.jobBySeq[t.id]
		return j != nil && j.live()
	case timerResize:
		return t.id == s.resizeGen && s.alloc == AllocationResizing && !s.deleting
	case timerSample, timerAutoScale:
		return s.autoScaling() && t.id == s.as.gen && !s.deleting
	}
	return false
}

// NextDeadline is the earliest time at which a timer is due, or the zero
// time if none is pending. Drivers call Step(t, Tick{}) at that time.
//
// Timers that would do nothing (their attempt ended, their job ended, their
// resize is over) are dropped first, so that a driver never wakes up for
// nothing.
func (s *Scheduler) NextDeadline() time.Time {
	for len(s.timers) > 0 && !s.timerLive(s.timers[0]) {
		s.timers.pop()
	}
	if len(s.timers) == 0 {
		return time.Time{}
	}
	return s.timers[0].at
}
