// Package idtable holds values by increasing uint64 ids that mostly live
// briefly, such as the attempts in flight of a scheduling core: a window
// of slots from the oldest live id to the newest, so that lookups index a
// slice instead of hashing. A few long-lived values (a job manager task, a
// service task with no time limit) would pin the window's start and make it
// grow with every id handed out since; when the window is mostly empty its
// oldest live values move to a small overflow map, so memory stays
// proportional to the live values.
package idtable

import (
	"iter"
	"maps"
	"slices"
)

// minWindow is the window length below which the table never compacts.
const minWindow = 1024

// Table maps ids to non-nil values. The zero Table is empty and ready. It
// is not safe for concurrent use.
type Table[T any] struct {
	base  uint64 // id of slots[0]
	slots []*T   // nil where no value is
	// inWindow counts the non-nil slots.
	inWindow int
	// old holds values whose ids are below base.
	old map[uint64]*T
}

// Get returns the value with id, or nil.
func (t *Table[T]) Get(id uint64) *T {
	if id >= t.base && id-t.base < uint64(len(t.slots)) {
		return t.slots[id-t.base]
	}
	return t.old[id]
}

// Put stores v (not nil) under id, replacing any value there.
func (t *Table[T]) Put(id uint64, v *T) {
	if t.inWindow == 0 && id >= t.base {
		// An empty window restarts at id, reusing the slice.
		clear(t.slots)
		t.base, t.slots = id, t.slots[:0]
	}
	if id < t.base {
		// Older than the window: ids are not handed out this way, but
		// it is correct anyway.
		if t.old == nil {
			t.old = map[uint64]*T{}
		}
		t.old[id] = v
		return
	}
	for id-t.base >= uint64(len(t.slots)) {
		t.slots = append(t.slots, nil)
	}
	p := &t.slots[id-t.base]
	if *p == nil {
		t.inWindow++
	}
	*p = v
}

// Delete removes the value with id, if any.
func (t *Table[T]) Delete(id uint64) {
	if id < t.base || id-t.base >= uint64(len(t.slots)) {
		delete(t.old, id)
		return
	}
	if t.slots[id-t.base] == nil {
		return
	}
	t.slots[id-t.base] = nil
	t.inWindow--
	t.slide()
	// Mostly empty: move the oldest values out until it is dense again.
	for len(t.slots) > minWindow && t.inWindow*4 < len(t.slots) {
		if t.old == nil {
			t.old = map[uint64]*T{}
		}
		t.old[t.base] = t.slots[0] // slide left a value in front
		t.slots[0] = nil
		t.inWindow--
		t.slide()
	}
}

// slide moves the window's start past the empty slots at its front.
func (t *Table[T]) slide() {
	k := 0
	for k < len(t.slots) && t.slots[k] == nil {
		k++
	}
	t.slots, t.base = t.slots[k:], t.base+uint64(k)
}

// Len is the number of values.
func (t *Table[T]) Len() int { return t.inWindow + len(t.old) }

// All yields the ids and values in id order.
func (t *Table[T]) All() iter.Seq2[uint64, *T] {
	return func(yield func(uint64, *T) bool) {
		for _, id := range slices.Sorted(maps.Keys(t.old)) {
			if !yield(id, t.old[id]) {
				return
			}
		}
		for i, v := range t.slots {
			if v != nil && !yield(t.base+uint64(i), v) {
				return
			}
		}
	}
}
