package sim

import (
	"fmt"
	"time"

	"github.com/embatch/embatch/internal/idtable"
	"github.com/embatch/embatch/pool"
)

// attemptTable holds the running attempts by id. The core numbers attempts
// 1, 2, 3, ... (afresh after an engine restart, when the table is empty),
// and most end soon after they start, so it is an idtable.Table: a window
// of slots indexed by id, with long-lived attempts moved aside.
type attemptTable struct{ t idtable.Table[simAttempt] }

func (t *attemptTable) get(id uint64) *simAttempt { return t.t.Get(id) }

func (t *attemptTable) put(a *simAttempt) { t.t.Put(a.id, a) }

func (t *attemptTable) del(id uint64) { t.t.Delete(id) }

// len is the number of running attempts.
func (t *attemptTable) len() int { return t.t.Len() }

// killedExitCode is what a killed attempt reports (128+SIGKILL, as the
// node backends do).
const killedExitCode = 137

// simAttempt is an attempt running on simulated nodes.
type simAttempt struct {
	id    uint64
	kind  pool.AttemptKind
	task  int32 // workload task index, -1 unless kind is AttemptTask
	slots int
	nodes []int32
	start time.Duration
	code  int
	// lostNode: one of its nodes was lost, so its kill ends a node loss.
	lostNode bool
}

func (s *simulation) start(now time.Duration, at *pool.Attempt) {
	a := s.newAttempt()
	a.id, a.kind, a.task, a.slots, a.start, a.code, a.lostNode = at.ID, at.Kind, -1, at.Slots, now, 0, false
	for _, id := range at.Nodes {
		i, ok := s.nodeIndex(id)
		if !ok {
			s.fail(fmt.Errorf("at %v: attempt #%d started on unknown node %s", now, at.ID, id))
			return
		}
		a.nodes = append(a.nodes, i)
		n := &s.nodes[i]
		n.attempts = append(n.attempts, a.id)
	}
	var dur time.Duration
	switch at.Kind {
	case pool.AttemptTask:
		i := s.taskIndex(at.JobID, at.TaskID)
		if i < 0 {
			s.fail(fmt.Errorf("at %v: attempt #%d runs unknown task %s/%s", now, at.ID, at.JobID, at.TaskID))
			return
		}
		a.task = i
		t := &s.wl.Tasks[i]
		dur, a.code = t.Runtime, t.ExitCode
	case pool.AttemptStartTask:
		dur = s.draw(s.d.startTask)
	}
	if s.check != nil {
		s.check.start(now, a, at)
	}
	s.attempts.put(a)
	s.acct.busy(now, a.slots*len(a.nodes))
	s.k.push(event{at: now + dur, kind: evExit, id: a.id, a: s.life})
}

// endAttempt frees what a held on its nodes.
func (s *simulation) endAttempt(a *simAttempt) {
	now := s.k.now
	for _, i := range a.nodes {
		n := &s.nodes[i]
		for k, id := range n.attempts {
			if id == a.id {
				n.attempts = append(n.attempts[:k], n.attempts[k+1:]...)
				break
			}
		}
		if s.check != nil {
			s.check.freeSlots(a, i)
		}
	}
	s.acct.busy(now, -a.slots*len(a.nodes))
	s.attempts.del(a.id)
	s.recycle(a)
}

func (s *simulation) newAttempt() *simAttempt {
	if n := len(s.free); n > 0 {
		a := s.free[n-1]
		s.free = s.free[:n-1]
		return a
	}
	return &simAttempt{}
}

func (s *simulation) recycle(a *simAttempt) {
	a.nodes = a.nodes[:0]
	s.free = append(s.free, a)
}
