package pool

import "iter"

// attemptTable holds the attempts in flight by id. Ids are handed out in
// increasing order and most attempts end soon after they start, so the
// table is a window of slots from the oldest live id to the newest: lookups
// and updates index a slice instead of hashing, and the window slides
// forward as the oldest attempts end. Its size is the span of live ids,
// one pointer each.
type attemptTable struct {
	base  uint64        // id of slots[0]
	slots []*attemptRec // nil where the attempt ended
	n     int           // live attempts
}

// get returns the live attempt with id, or nil.
func (t *attemptTable) get(id uint64) *attemptRec {
	if id < t.base || id-t.base >= uint64(len(t.slots)) {
		return nil
	}
	return t.slots[id-t.base]
}

// put adds a, replacing any attempt with its id.
func (t *attemptTable) put(a *attemptRec) {
	id := a.a.ID
	if t.n == 0 {
		// Empty: restart the window at id, reusing the slice.
		clear(t.slots)
		t.base, t.slots = id, t.slots[:0]
	}
	if id < t.base {
		// An id older than the window (not how ids are handed out, but
		// correct anyway): grow the window at the front.
		grown := make([]*attemptRec, t.base-id+uint64(len(t.slots)))
		copy(grown[t.base-id:], t.slots)
		t.base, t.slots = id, grown
	}
	for id-t.base >= uint64(len(t.slots)) {
		t.slots = append(t.slots, nil)
	}
	p := &t.slots[id-t.base]
	if *p == nil {
		t.n++
	}
	*p = a
}

// del removes the attempt with id, if any, and slides the window past the
// ended attempts at its front.
func (t *attemptTable) del(id uint64) {
	if t.get(id) == nil {
		return
	}
	t.slots[id-t.base] = nil
	t.n--
	k := 0
	for k < len(t.slots) && t.slots[k] == nil {
		k++
	}
	if k > 0 {
		t.slots = t.slots[k:]
		t.base += uint64(k)
	}
}

// len is the number of live attempts.
func (t *attemptTable) len() int { return t.n }

// all yields the live attempts and their ids, in id order.
func (t *attemptTable) all() iter.Seq2[uint64, *attemptRec] {
	return func(yield func(uint64, *attemptRec) bool) {
		for i, a := range t.slots {
			if a != nil && !yield(t.base+uint64(i), a) {
				return
			}
		}
	}
}
