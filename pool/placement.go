package pool

// nodeSet indexes the schedulable nodes by free slot count so that placement
// is O(slots per node) rather than O(nodes): bucket[k] lists the nodes with
// exactly k free slots, in the order they entered the bucket, which keeps
// choices deterministic.
type nodeSet struct {
	buckets   []nodeList // index = free slots, 0..slotsPerNode
	count     int        // schedulable nodes
	freeTotal int        // free slots over schedulable nodes
}

// nodeList is an intrusive doubly linked list of nodes.
type nodeList struct {
	head, tail *nodeRec
	n          int
}

func (l *nodeList) pushBack(n *nodeRec) {
	n.prev, n.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = n
	} else {
		l.head = n
	}
	l.tail = n
	l.n++
}

func (l *nodeList) remove(n *nodeRec) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
	l.n--
}

func newNodeSet(slotsPerNode int) nodeSet {
	return nodeSet{buckets: make([]nodeList, slotsPerNode+1)}
}

// add puts a schedulable node into the index.
func (s *nodeSet) add(n *nodeRec) {
	if n.indexed {
		return
	}
	n.indexed = true
	s.buckets[n.free].pushBack(n)
	s.count++
	s.freeTotal += n.free
}

// drop takes a node out of the index (it stopped being schedulable).
func (s *nodeSet) drop(n *nodeRec) {
	if !n.indexed {
		return
	}
	n.indexed = false
	s.buckets[n.free].remove(n)
	s.count--
	s.freeTotal -= n.free
}

// setFree changes a node's free slots, moving it between buckets if indexed.
func (s *nodeSet) setFree(n *nodeRec, free int) {
	if !n.indexed {
		n.free = free
		return
	}
	s.buckets[n.free].remove(n)
	s.freeTotal += free - n.free
	n.free = free
	s.buckets[free].pushBack(n)
}

// nodesWithFree counts schedulable nodes with at least need free slots.
func (s *nodeSet) nodesWithFree(need int) int {
	total := 0
	for k := len(s.buckets) - 1; k >= need && k >= 1; k-- {
		total += s.buckets[k].n
	}
	return total
}

// maxFree is the largest free slot count of any schedulable node.
func (s *nodeSet) maxFree() int {
	for k := len(s.buckets) - 1; k > 0; k-- {
		if s.buckets[k].n > 0 {
			return k
		}
	}
	return 0
}

// pick returns up to want distinct nodes with at least need free slots,
// chosen by fill type (spread: most free first; pack: fewest free first),
// skipping nodes for which skip returns true. prefer, if schedulable with
// room, comes first. It returns nil when fewer than want nodes qualify.
func (s *nodeSet) pick(need, want int, fill NodeFillType, prefer *nodeRec, skip func(*nodeRec) bool, buf []*nodeRec) []*nodeRec {
	out := buf[:0]
	if prefer != nil && prefer.indexed && prefer.free >= need && (skip == nil || !skip(prefer)) {
		out = append(out, prefer)
	}
	visit := func(k int) bool {
		for n := s.buckets[k].head; n != nil && len(out) < want; n = n.next {
			if n == prefer || (skip != nil && skip(n)) {
				continue
			}
			out = append(out, n)
		}
		return len(out) >= want
	}
	if len(out) < want {
		if fill == FillPack {
			for k := max(need, 1); k < len(s.buckets); k++ {
				if visit(k) {
					break
				}
			}
		} else {
			for k := len(s.buckets) - 1; k >= max(need, 1); k-- {
				if visit(k) {
					break
				}
			}
		}
	}
	if len(out) < want {
		return nil
	}
	return out
}
