package pool

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// newTestNodes returns n nodes named tvm-1..tvm-n with slots free slots each,
// not yet indexed.
func newTestNodes(n, slots int) []*nodeRec {
	out := make([]*nodeRec, n)
	for i := range out {
		out[i] = &nodeRec{rec: Node{ID: "tvm-" + strconv.Itoa(i+1)}, idx: i + 1, free: slots}
	}
	return out
}

func ids(ns []*nodeRec) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.rec.ID
	}
	return out
}

func TestNodeSetPick(t *testing.T) {
	// Four nodes with 4 slots; free slots 4, 1, 3, 1 after setFree, added
	// in order 1..4.
	setup := func() (nodeSet, []*nodeRec) {
		s := newNodeSet(4)
		ns := newTestNodes(4, 4)
		for _, n := range ns {
			s.add(n)
		}
		s.setFree(ns[1], 1)
		s.setFree(ns[2], 3)
		s.setFree(ns[3], 1)
		return s, ns
	}
	skip2 := func(n *nodeRec) bool { return n.rec.ID == "tvm-2" }
	cases := []struct {
		name   string
		need   int
		want   int
		fill   NodeFillType
		prefer int // index+1 into ns, 0 for none
		skip   func(*nodeRec) bool
		expect []string
	}{
		{name: "spread most free first", need: 1, want: 1, fill: FillSpread, expect: []string{"tvm-1"}},
		{name: "spread several distinct", need: 1, want: 3, fill: FillSpread, expect: []string{"tvm-1", "tvm-3", "tvm-2"}},
		{name: "pack fewest free that fits", need: 1, want: 1, fill: FillPack, expect: []string{"tvm-2"}},
		{name: "pack ties in bucket order", need: 1, want: 2, fill: FillPack, expect: []string{"tvm-2", "tvm-4"}},
		{name: "pack skips nodes too full", need: 2, want: 1, fill: FillPack, expect: []string{"tvm-3"}},
		{name: "spread needs 4", need: 4, want: 1, fill: FillSpread, expect: []string{"tvm-1"}},
		{name: "too few qualify", need: 3, want: 3, fill: FillSpread, expect: nil},
		{name: "nothing fits", need: 5, want: 1, fill: FillPack, expect: nil},
		{name: "prefer comes first", need: 1, want: 1, fill: FillSpread, prefer: 4, expect: []string{"tvm-4"}},
		{name: "prefer then fill order", need: 1, want: 3, fill: FillPack, prefer: 1, expect: []string{"tvm-1", "tvm-2", "tvm-4"}},
		{name: "prefer without room is passed over", need: 2, want: 1, fill: FillSpread, prefer: 2, expect: []string{"tvm-1"}},
		{name: "skip", need: 1, want: 1, fill: FillPack, skip: skip2, expect: []string{"tvm-4"}},
		{name: "skipped prefer", need: 1, want: 1, fill: FillPack, prefer: 2, skip: skip2, expect: []string{"tvm-4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, ns := setup()
			var prefer *nodeRec
			if tc.prefer > 0 {
				prefer = ns[tc.prefer-1]
			}
			got := s.pick(tc.need, tc.want, tc.fill, prefer, tc.skip, nil)
			if tc.expect == nil {
				if got != nil {
					t.Fatalf("pick = %v, want nil", ids(got))
				}
				return
			}
			if diff := gocmp.Diff(tc.expect, ids(got)); diff != "" {
				t.Errorf("pick (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeSetPickIgnoresDroppedPrefer(t *testing.T) {
	s := newNodeSet(2)
	ns := newTestNodes(2, 2)
	s.add(ns[0])
	s.add(ns[1])
	s.drop(ns[1])
	got := s.pick(1, 1, FillSpread, ns[1], nil, nil)
	if diff := gocmp.Diff([]string{"tvm-1"}, ids(got)); diff != "" {
		t.Errorf("pick (-want +got):\n%s", diff)
	}
}

func TestNodeSetAccounting(t *testing.T) {
	s := newNodeSet(3)
	ns := newTestNodes(3, 3)
	for _, n := range ns {
		s.add(n)
	}
	s.add(ns[0]) // idempotent
	s.setFree(ns[0], 0)
	s.setFree(ns[1], 2)
	s.drop(ns[2])
	s.drop(ns[2]) // idempotent
	s.setFree(ns[2], 1)
	type counts struct{ Count, FreeTotal, With1, With2, With3, MaxFree int }
	got := counts{s.count, s.freeTotal, s.nodesWithFree(1), s.nodesWithFree(2), s.nodesWithFree(3), s.maxFree()}
	want := counts{Count: 2, FreeTotal: 2, With1: 1, With2: 1, With3: 0, MaxFree: 2}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	s.add(ns[2])
	if s.count != 3 || s.freeTotal != 3 || s.maxFree() != 2 {
		t.Errorf("after re-add: count=%d freeTotal=%d maxFree=%d, want 3, 3, 2", s.count, s.freeTotal, s.maxFree())
	}
}

// TestNodeSetModel drives a nodeSet with random operations and checks every
// answer against a plain model: the indexed nodes with their free slots and
// the order in which they entered their current bucket.
func TestNodeSetModel(t *testing.T) {
	const slots, nodes = 4, 8
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 42))
		s := newNodeSet(slots)
		ns := newTestNodes(nodes, slots)
		entered := make(map[*nodeRec]int) // bucket entry order, for indexed nodes
		tick := 0
		for step := range 500 {
			n := ns[rng.IntN(nodes)]
			switch op := rng.IntN(4); op {
			case 0:
				if !n.indexed {
					tick++
					entered[n] = tick
				}
				s.add(n)
			case 1:
				delete(entered, n)
				s.drop(n)
			default:
				// setFree moves an indexed node to the tail of its
				// (possibly same) bucket.
				if n.indexed {
					tick++
					entered[n] = tick
				}
				s.setFree(n, rng.IntN(slots+1))
			}
			// Invariants.
			count, total := 0, 0
			for _, m := range ns {
				if m.indexed {
					count++
					total += m.free
				}
			}
			if s.count != count || s.freeTotal != total {
				t.Fatalf("seed %d step %d: count=%d freeTotal=%d, model %d %d", seed, step, s.count, s.freeTotal, count, total)
			}
			// Picks.
			need := 1 + rng.IntN(slots)
			want := 1 + rng.IntN(3)
			fill := FillSpread
			if rng.IntN(2) == 0 {
				fill = FillPack
			}
			var prefer *nodeRec
			if rng.IntN(3) == 0 {
				prefer = ns[rng.IntN(nodes)]
			}
			got := s.pick(need, want, fill, prefer, nil, nil)
			expect := modelPick(ns, entered, need, want, fill, prefer)
			if diff := gocmp.Diff(ids(expect), ids(got)); diff != "" {
				t.Fatalf("seed %d step %d: pick(need=%d, want=%d, %s, prefer=%v) (-model +got):\n%s", seed, step, need, want, fill, prefer != nil, diff)
			}
		}
	}
}

func modelPick(ns []*nodeRec, entered map[*nodeRec]int, need, want int, fill NodeFillType, prefer *nodeRec) []*nodeRec {
	var out, cands []*nodeRec
	if prefer != nil && prefer.indexed && prefer.free >= need {
		out = append(out, prefer)
	}
	for _, n := range ns {
		if n.indexed && n != prefer && n.free >= need && n.free >= 1 {
			cands = append(cands, n)
		}
	}
	slices.SortFunc(cands, func(a, b *nodeRec) int {
		if a.free != b.free {
			if fill == FillPack {
				return cmp.Compare(a.free, b.free)
			}
			return cmp.Compare(b.free, a.free)
		}
		return cmp.Compare(entered[a], entered[b])
	})
	for _, n := range cands {
		if len(out) >= want {
			break
		}
		out = append(out, n)
	}
	if len(out) < want {
		return nil
	}
	return out
}
