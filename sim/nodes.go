package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/embatch/embatch/pool"
)

// simNode is a simulated compute node.
type simNode struct {
	id        string
	dedicated bool
	up        bool // ready and not lost
	released  bool
	gen       uint64 // bumped when the node goes down or leaves: stale events
	upSince   time.Duration
	billing   bool
	billFrom  time.Duration
	billed    time.Duration
	attempts  []uint64
}

func (s *simulation) allocate(now time.Duration, a pool.Action) {
	i := int32(len(s.nodes))
	s.nodes = append(s.nodes, simNode{id: a.Node, dedicated: a.Dedicated, billing: true, billFrom: now})
	if n, ok := nodeNum(a.Node); ok && n < 4*len(s.nodes)+1024 {
		for len(s.nodeByNum) <= n {
			s.nodeByNum = append(s.nodeByNum, -1)
		}
		s.nodeByNum[n] = i
	} else {
		s.nodeIdx[a.Node] = i
	}
	s.k.push(event{at: now + s.draw(s.d.boot), kind: evNodeUp, a: i})
}

func (s *simulation) release(now time.Duration, a pool.Action) {
	i, ok := s.nodeIndex(a.Node)
	if !ok {
		s.fail(fmt.Errorf("at %v: the core released unknown node %s", now, a.Node))
		return
	}
	n := &s.nodes[i]
	if s.check != nil {
		s.check.release(now, n)
		s.check.capacityLost()
	}
	s.setDown(now, n)
	s.stopBilling(now, n)
	n.released = true
	n.gen++
}

// nodeIndex finds a simulated node by id: the core's ids are "tvm-<n>",
// which index nodeByNum without hashing; others are in nodeIdx.
func (s *simulation) nodeIndex(id string) (int32, bool) {
	if n, ok := nodeNum(id); ok && n < len(s.nodeByNum) && s.nodeByNum[n] >= 0 {
		return s.nodeByNum[n], true
	}
	i, ok := s.nodeIdx[id]
	return i, ok
}

// nodeNum parses a node id of the form "tvm-<n>".
func nodeNum(id string) (int, bool) {
	const prefix = "tvm-"
	if len(id) <= len(prefix) || id[:len(prefix)] != prefix {
		return 0, false
	}
	return smallNum(id[len(prefix):])
}

func (s *simulation) stopBilling(now time.Duration, n *simNode) {
	if n.billing {
		n.billed += now - n.billFrom
		n.billing = false
	}
}

// setDown takes n out of service for the accounting.
func (s *simulation) setDown(now time.Duration, n *simNode) {
	if n.up {
		n.up = false
		s.acct.avail(now, -s.slots)
	}
}

func (s *simulation) nodeUp(e event) {
	n := &s.nodes[e.a]
	if n.released || n.gen != e.id || n.up {
		return
	}
	now := s.k.now
	n.up = true
	n.upSince = now
	s.acct.avail(now, s.slots)
	if !n.billing {
		n.billing, n.billFrom = true, now
	}
	if r := s.cfg.FailureRate; r > 0 {
		s.k.push(event{at: now + hours(s.rng.ExpFloat64()/r), kind: evNodeFail, a: e.a, id: n.gen})
	}
	if r := s.cfg.PreemptionRate; r > 0 && !n.dedicated {
		s.k.push(event{at: now + hours(s.rng.ExpFloat64()/r), kind: evPreempt, a: e.a, id: n.gen})
	}
	s.step(pool.NodeReady{Node: n.id})
}

// hours converts hours to a Duration, saturating far in the future.
func hours(h float64) time.Duration {
	if h >= float64(math.MaxInt64)/float64(time.Hour)/2 {
		return math.MaxInt64 / 2
	}
	return time.Duration(h * float64(time.Hour))
}

func (s *simulation) nodeDown(e event) {
	n := &s.nodes[e.a]
	if n.released || n.gen != e.id || !n.up {
		return
	}
	now := s.k.now
	preempted := e.kind == evPreempt
	s.setDown(now, n)
	n.gen++
	if s.check != nil {
		s.check.capacityLost()
	}
	if preempted {
		s.acct.preemptions++
		s.stopBilling(now, n) // a preempted spot node is not billed
	}
	// The node's processes are gone with it: the core writes its attempts
	// off (a multi-instance task's other instances are killed).
	s.dropAttempts(e.a)
	s.k.push(event{at: now + s.draw(s.d.recovery), kind: evNodeUp, a: e.a, id: n.gen})
	s.step(pool.NodeFailed{Node: n.id, Preempted: preempted, Reason: "simulated fault"})
}

// dropAttempts forgets what node i ran: its processes are gone.
func (s *simulation) dropAttempts(i int32) {
	now := s.k.now
	n := &s.nodes[i]
	for _, id := range n.attempts {
		a := s.attempts.get(id)
		if a == nil {
			continue
		}
		s.acct.busy(now, -a.slots)
		if s.check != nil {
			s.check.freeSlots(a, i)
		}
		for k, x := range a.nodes {
			if x == i {
				a.nodes = append(a.nodes[:k], a.nodes[k+1:]...)
				break
			}
		}
		if len(a.nodes) == 0 {
			s.attempts.del(id)
			s.recycle(a)
		}
	}
	n.attempts = n.attempts[:0]
}
