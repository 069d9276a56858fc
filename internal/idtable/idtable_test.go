package idtable

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMatchesAMap drives a Table and a map with the same seeded random
// puts and deletes (mostly increasing ids, some long-lived) and checks
// they always agree.
func TestMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab Table[int]
	ref := map[uint64]*int{}
	next := uint64(1)
	for step := range 200_000 {
		switch r := rng.IntN(10); {
		case r < 5:
			v := step
			tab.Put(next, &v)
			ref[next] = &v
			next++
		case r < 9 && len(ref) > 0:
			// End a recent one mostly; the oldest ones live long.
			id := next - 1 - uint64(rng.IntN(min(int(next-1), 50)))
			tab.Delete(id)
			delete(ref, id)
		default:
			id := uint64(rng.IntN(int(next)))
			if got, want := tab.Get(id), ref[id]; got != want {
				t.Fatalf("step %d: Get(%d) = %v, want %v", step, id, got, want)
			}
		}
		if tab.Len() != len(ref) {
			t.Fatalf("step %d: Len %d, want %d", step, tab.Len(), len(ref))
		}
	}
	var ids []uint64
	for id, v := range tab.All() {
		if ref[id] != v {
			t.Fatalf("All yields %d → %v, want %v", id, v, ref[id])
		}
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids) || len(ids) != len(ref) {
		t.Fatalf("All: %d ids, sorted %v; want %d sorted", len(ids), slices.IsSorted(ids), len(ref))
	}
}

// TestLongLivedValueDoesNotPinTheWindow: one value that never ends, then a
// million short-lived ones: the window stays small.
func TestLongLivedValueDoesNotPinTheWindow(t *testing.T) {
	var tab Table[int]
	keep := 1
	tab.Put(1, &keep)
	for id := uint64(2); id < 1_000_000; id++ {
		v := 0
		tab.Put(id, &v)
		tab.Delete(id)
	}
	if len(tab.slots) > minWindow || cap(tab.slots) > 4*minWindow {
		t.Errorf("window of %d slots (cap %d) for 1 live value", len(tab.slots), cap(tab.slots))
	}
	if tab.Get(1) != &keep || tab.Len() != 1 {
		t.Errorf("the long-lived value: Get %v, Len %d", tab.Get(1), tab.Len())
	}
}
