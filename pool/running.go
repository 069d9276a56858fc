package pool

import (
	"cmp"
	"math"
	"time"
)

// This file keeps the running task attempts ordered by estimated end, for
// backfilling policies (Cluster.Running, Cluster.NodeReleases). The index is
// built on first use and then kept up to date by startTask, launch and
// endAttempt, so policies that never ask for it cost nothing.

// unknownEnd is the end of an attempt with no estimate: it never ends as far
// as reservations are concerned.
const unknownEnd = math.MaxInt64

// runItem is an attempt in the running index, ordered by estimated end
// (nanoseconds since the scheduler was created), then by attempt id, which is
// start order.
type runItem struct {
	end int64
	id  uint64
	a   *attemptRec
}

func cmpRunItem(x, y *runItem) int {
	if c := cmp.Compare(x.end, y.end); c != 0 {
		return c
	}
	return cmp.Compare(x.id, y.id)
}

// satAdd adds two non-negative int64s, saturating below unknownEnd so that a
// finite end stays finite.
func satAdd(a, b int64) int64 {
	if a > unknownEnd-1-b {
		return unknownEnd - 1
	}
	return a + b
}

// runEnd is a's estimated end in nanoseconds since the scheduler was
// created: its start plus its task's maxWallClockTime. An attempt still
// waiting for job preparation tasks has not started its clock yet, so its
// end is unknown too.
func (s *Scheduler) runEnd(a *attemptRec) int64 {
	est := a.task.Estimate()
	if !a.started || est <= 0 {
		return unknownEnd
	}
	return satAdd(int64(max(a.a.Start.Sub(s.created), 0)), int64(est))
}

// indexRunning puts a task attempt into the running index, or moves it
// there if its end changed.
func (s *Scheduler) indexRunning(a *attemptRec) {
	if !s.runIndexed {
		return
	}
	if a.runIndexed {
		s.running.delete(&runItem{end: a.runEnd, id: a.a.ID})
	}
	a.runEnd = s.runEnd(a)
	a.runIndexed = true
	s.running.insert(runItem{end: a.runEnd, id: a.a.ID, a: a}, hash64(a.a.ID))
}

// unindexRunning takes an ended attempt out of the running index.
func (s *Scheduler) unindexRunning(a *attemptRec) {
	if a.runIndexed {
		s.running.delete(&runItem{end: a.runEnd, id: a.a.ID})
		a.runIndexed = false
	}
}

// buildRunIndex starts keeping the running index, from the attempts there
// are now. The index holds the same items whatever the map order, so its
// order is deterministic.
func (s *Scheduler) buildRunIndex() {
	if s.runIndexed {
		return
	}
	s.runIndexed = true
	s.running = newTree(cmpRunItem, nil)
	for _, a := range s.attempts.all() {
		if a.task != nil {
			s.indexRunning(a)
		}
	}
}

// releases calls f, in time order, with each time (nanoseconds from now,
// at least 0) at which schedulable nodes become wholly free if every running
// task attempt ends at its estimated end, and how many nodes do. A node
// running an attempt with no estimate never becomes free. f must not change
// the scheduler.
func (s *Scheduler) releases(f func(d int64, nodes int) bool) {
	s.buildRunIndex()
	nowOff := int64(max(s.now.Sub(s.created), 0))
	s.releaseGen++
	gen := s.releaseGen
	onePerNode := s.slotsPerNode == 1
	pendD, pendN := int64(0), 0
	stopped := false
	s.running.each(func(it *runItem) bool {
		if it.end == unknownEnd {
			return false
		}
		d := max(it.end-nowOff, 0)
		if pendN > 0 && d != pendD {
			if !f(pendD, pendN) {
				stopped = true
				return false
			}
			pendN = 0
		}
		pendD = d
		for _, n := range it.a.nodes {
			if !n.indexed {
				continue // not schedulable: freeing it gives no capacity
			}
			if onePerNode {
				pendN++
				continue
			}
			if n.releaseGen != gen {
				n.releaseGen, n.releaseLeft = gen, n.rec.RunningTasksCount
			}
			n.releaseLeft--
			if n.releaseLeft == 0 {
				pendN++
			}
		}
		return true
	})
	if !stopped && pendN > 0 {
		f(pendD, pendN)
	}
}

// FreeNodes is the number of schedulable nodes with all their slots free.
func (cl *Cluster) FreeNodes() int { return cl.s.nodes.buckets[cl.s.slotsPerNode].n }

// NodeReleases calls f, in time order, with each time at which schedulable
// nodes become wholly free (all their slots) if every running task attempt
// ends at its estimated end (start plus maxWallClockTime) and nothing else
// starts, and how many nodes do then; until f returns false. Nodes running a
// task with no estimate never become free. Times before Now are reported as
// Now. Together with FreeNodes this is the capacity profile, in whole nodes,
// that EASY and conservative backfilling reason with. f must not call Place.
func (cl *Cluster) NodeReleases(f func(at time.Time, nodes int) bool) {
	now := cl.s.now
	cl.s.releases(func(d int64, n int) bool { return f(now.Add(time.Duration(d)), n) })
}
