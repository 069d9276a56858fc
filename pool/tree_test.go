package pool

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// treeItem is a test item: a key and a "size" summarized as minInst.
type treeItem struct{ key, inst, tag int }

func newTestTree() tree[treeItem] {
	return newTree(
		func(a, b *treeItem) int { return cmp.Compare(a.key, b.key) },
		func(it *treeItem) span { return span{minInst: int32(it.inst), minSlots: 1, minEst: 0} },
	)
}

// TestTreeModel applies random inserts, replaces and deletes to a tree and
// to a sorted slice, and compares order, summaries and searches after every
// operation.
func TestTreeModel(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		tr := newTestTree()
		var model []treeItem // sorted by key
		for op := range 400 {
			k := rng.IntN(60)
			i, found := slices.BinarySearchFunc(model, k, func(x treeItem, k int) int { return cmp.Compare(x.key, k) })
			switch rng.IntN(3) {
			case 0, 1:
				it := treeItem{key: k, inst: 1 + rng.IntN(9), tag: op}
				if replaced := tr.insert(it, hash64(uint64(k))); replaced != found {
					t.Fatalf("seed %d op %d: insert(%d) replaced=%v, model has it: %v", seed, op, k, replaced, found)
				}
				if found {
					model[i] = it
				} else {
					model = slices.Insert(model, i, it)
				}
			default:
				if got := tr.delete(&treeItem{key: k}); got != found {
					t.Fatalf("seed %d op %d: delete(%d)=%v, model has it: %v", seed, op, k, got, found)
				}
				if found {
					model = slices.Delete(model, i, i+1)
				}
			}
			checkTree(t, &tr, model, rng)
			if t.Failed() {
				t.Fatalf("seed %d op %d", seed, op)
			}
		}
	}
}

func checkTree(t *testing.T, tr *tree[treeItem], model []treeItem, rng *rand.Rand) {
	t.Helper()
	if tr.len() != len(model) {
		t.Errorf("len %d, model %d", tr.len(), len(model))
	}
	var got []treeItem
	tr.each(func(it *treeItem) bool { got = append(got, *it); return true })
	if !slices.Equal(got, model) {
		t.Errorf("items %v\nmodel %v", got, model)
		return
	}
	// The root's summary is the least inst overall.
	want := noSpan.minInst
	for _, it := range model {
		want = min(want, int32(it.inst))
	}
	if tr.root != 0 && tr.n(tr.root).span.minInst != want {
		t.Errorf("root minInst %d, want %d", tr.n(tr.root).span.minInst, want)
	}
	// first(after, skip, ok) finds the first item after a random key with
	// inst <= limit, pruning by the summary.
	after := &treeItem{key: rng.IntN(62) - 1}
	limit := 1 + rng.IntN(9)
	calls := 0
	skip := func(sp *span) bool { calls++; return int(sp.minInst) > limit }
	ok := func(it *treeItem) bool { return it.inst <= limit }
	gotIt, gotOK := tr.first(after, skip, ok)
	var wantIt treeItem
	wantOK := false
	for _, it := range model {
		if it.key > after.key && it.inst <= limit {
			wantIt, wantOK = it, true
			break
		}
	}
	if gotOK != wantOK || gotIt != wantIt {
		t.Errorf("first(after %d, inst<=%d) = %v %v, want %v %v", after.key, limit, gotIt, gotOK, wantIt, wantOK)
	}
	if all, ok := tr.first(nil, nil, nil); len(model) > 0 && (!ok || all != model[0]) {
		t.Errorf("first(nil) = %v %v, want %v", all, ok, model[0])
	}
}

// TestTreeBalanced checks that a million ascending inserts (the common case:
// tasks arrive in order) keep the tree shallow.
func TestTreeBalanced(t *testing.T) {
	tr := newTestTree()
	const n = 1 << 16
	for i := range n {
		tr.insert(treeItem{key: i, inst: 1}, hash64(uint64(i)))
	}
	var depth func(n int32) int
	depth = func(n int32) int {
		if n == 0 {
			return 0
		}
		return 1 + max(depth(tr.n(n).left), depth(tr.n(n).right))
	}
	if d := depth(tr.root); d > 50 {
		t.Fatalf("depth %d for %d ascending keys", d, n)
	}
	for i := range n / 2 {
		tr.delete(&treeItem{key: i})
	}
	if tr.len() != n/2 || len(tr.free) != n/2 {
		t.Fatalf("len %d free %d after deleting half", tr.len(), len(tr.free))
	}
	if it, _ := tr.first(nil, nil, nil); it.key != n/2 {
		t.Fatalf("first %d, want %d", it.key, n/2)
	}
}
