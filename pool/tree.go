package pool

import "math"

// tree is an ordered set of items: a treap whose nodes live in chunks of a
// fixed size, addressed by index (fewer pointers for the garbage collector
// to chase than one allocation per node, and no copying as the tree grows). Each node carries an optional summary of its subtree
// (span) so that searches can skip subtrees with nothing of interest; this is
// what keeps the backfilling policies from scanning their whole queue.
//
// The order is cmp's; items that compare equal are the same item (insert
// replaces). Node priorities come from the caller (a hash of a unique id), so
// the shape of the tree, and everything else, is deterministic.
type tree[T any] struct {
	cmp func(a, b *T) int
	// sum summarizes one item; nil means no summaries.
	sum    func(*T) span
	chunks [][]tnode[T] // node i is chunks[i/chunkSize][i%chunkSize]; node 0 is nil
	used   int32        // nodes handed out, node 0 included
	free   []int32
	root   int32
	size   int
	// key is scratch for delete: passing the caller's pointer to cmp, a
	// func value, would move the caller's variable to the heap.
	key T
}

type tnode[T any] struct {
	item        T
	pri         uint64
	left, right int32
	span        span
}

// span summarizes a subtree of queued tasks: the least instances, slots
// and estimate (math.MaxInt64 when unknown) of any task in it.
type span struct {
	minInst, minSlots int32
	minEst            int64
}

// noSpan is the summary of the empty subtree: larger than any task's.
var noSpan = span{minInst: math.MaxInt32, minSlots: math.MaxInt32, minEst: math.MaxInt64}

// chunkSize is the number of nodes per chunk (a power of two).
const chunkSize = 512

func newTree[T any](cmp func(a, b *T) int, sum func(*T) span) tree[T] {
	return tree[T]{cmp: cmp, sum: sum, used: 1, chunks: [][]tnode[T]{make([]tnode[T], chunkSize)}}
}

// n returns node i.
func (t *tree[T]) n(i int32) *tnode[T] { return &t.chunks[i/chunkSize][i%chunkSize] }

// len is the number of items.
func (t *tree[T]) len() int { return t.size }

// hash64 spreads a unique id over 64 bits (splitmix64's finalizer), for node
// priorities.
func hash64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (t *tree[T]) alloc(x T, pri uint64) int32 {
	n := tnode[T]{item: x, pri: pri}
	var i int32
	if k := len(t.free); k > 0 {
		i = t.free[k-1]
		t.free = t.free[:k-1]
	} else {
		if int(t.used) == len(t.chunks)*chunkSize {
			t.chunks = append(t.chunks, make([]tnode[T], chunkSize))
		}
		i = t.used
		t.used++
	}
	*t.n(i) = n
	t.pull(i)
	return i
}

// pull recomputes node i's summary from its item and children.
func (t *tree[T]) pull(i int32) {
	if t.sum == nil {
		return
	}
	n := t.n(i)
	s := t.sum(&n.item)
	for _, c := range [2]int32{n.left, n.right} {
		if c == 0 {
			continue
		}
		cs := &t.n(c).span
		s.minInst = min(s.minInst, cs.minInst)
		s.minSlots = min(s.minSlots, cs.minSlots)
		s.minEst = min(s.minEst, cs.minEst)
	}
	n.span = s
}

// insert adds x, or replaces the item equal to it. It reports whether an
// item was replaced. pri is x's node priority.
func (t *tree[T]) insert(x T, pri uint64) bool {
	i := t.alloc(x, pri)
	var replaced bool
	t.root, replaced = t.ins(t.root, i)
	if replaced {
		*t.n(i) = tnode[T]{}
		t.free = append(t.free, i)
	} else {
		t.size++
	}
	return replaced
}

func (t *tree[T]) ins(n, x int32) (int32, bool) {
	if n == 0 {
		return x, false
	}
	c := t.cmp(&t.n(x).item, &t.n(n).item)
	var replaced bool
	switch {
	case c == 0:
		t.n(n).item = t.n(x).item
		replaced = true
	case c < 0:
		var l int32
		l, replaced = t.ins(t.n(n).left, x)
		t.n(n).left = l
		if t.n(l).pri > t.n(n).pri {
			// Rotate right: l becomes the subtree's root.
			t.n(n).left = t.n(l).right
			t.pull(n)
			t.n(l).right = n
			n = l
		}
	default:
		var r int32
		r, replaced = t.ins(t.n(n).right, x)
		t.n(n).right = r
		if t.n(r).pri > t.n(n).pri {
			t.n(n).right = t.n(r).left
			t.pull(n)
			t.n(r).left = n
			n = r
		}
	}
	t.pull(n)
	return n, replaced
}

// delete removes the item equal to x and reports whether there was one.
func (t *tree[T]) delete(x *T) bool {
	t.key = *x
	var found bool
	t.root, found = t.del(t.root, &t.key)
	if found {
		t.size--
	}
	return found
}

func (t *tree[T]) del(n int32, x *T) (int32, bool) {
	if n == 0 {
		return 0, false
	}
	var found bool
	switch c := t.cmp(x, &t.n(n).item); {
	case c == 0:
		m := t.merge(t.n(n).left, t.n(n).right)
		*t.n(n) = tnode[T]{}
		t.free = append(t.free, n)
		return m, true
	case c < 0:
		t.n(n).left, found = t.del(t.n(n).left, x)
	default:
		t.n(n).right, found = t.del(t.n(n).right, x)
	}
	if found {
		t.pull(n)
	}
	return n, found
}

// merge joins two subtrees whose items are all ordered a before b.
func (t *tree[T]) merge(a, b int32) int32 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	case t.n(a).pri > t.n(b).pri:
		t.n(a).right = t.merge(t.n(a).right, b)
		t.pull(a)
		return a
	default:
		t.n(b).left = t.merge(a, t.n(b).left)
		t.pull(b)
		return b
	}
}

// first returns the first item after `after` (from the start when nil)
// that ok accepts, skipping whole subtrees that skip rejects by their
// summary. skip must only reject subtrees in which ok accepts nothing; nil
// skip or ok accept everything.
func (t *tree[T]) first(after *T, skip func(*span) bool, ok func(*T) bool) (T, bool) {
	i := t.find(t.root, after, skip, ok)
	if i == 0 {
		var zero T
		return zero, false
	}
	return t.n(i).item, true
}

func (t *tree[T]) find(n int32, after *T, skip func(*span) bool, ok func(*T) bool) int32 {
	for n != 0 {
		nd := t.n(n)
		if skip != nil && skip(&nd.span) {
			return 0
		}
		if after != nil && t.cmp(&nd.item, after) <= 0 {
			n = nd.right
			continue
		}
		if i := t.find(nd.left, after, skip, ok); i != 0 {
			return i
		}
		if ok == nil || ok(&nd.item) {
			return n
		}
		n = nd.right
	}
	return 0
}

// each calls f with every item in order until f returns false. f must not
// change the tree.
func (t *tree[T]) each(f func(*T) bool) { t.walk(t.root, f) }

func (t *tree[T]) walk(n int32, f func(*T) bool) bool {
	for n != 0 {
		if !t.walk(t.n(n).left, f) || !f(&t.n(n).item) {
			return false
		}
		n = t.n(n).right
	}
	return true
}
