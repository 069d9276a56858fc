package pool

import (
	"iter"

	"github.com/embatch/embatch/internal/idtable"
)

// attemptTable holds the attempts in flight by id. Ids are handed out in
// increasing order and most attempts end soon after they start, so it is
// an idtable.Table: a window of slots indexed by id, with long-lived
// attempts moved aside so that they do not pin the window.
type attemptTable struct{ t idtable.Table[attemptRec] }

// get returns the live attempt with id, or nil.
func (t *attemptTable) get(id uint64) *attemptRec { return t.t.Get(id) }

// put adds a, replacing any attempt with its id.
func (t *attemptTable) put(a *attemptRec) { t.t.Put(a.a.ID, a) }

// del removes the attempt with id, if any.
func (t *attemptTable) del(id uint64) { t.t.Delete(id) }

// len is the number of live attempts.
func (t *attemptTable) len() int { return t.t.Len() }

// all yields the live attempts and their ids, in id order.
func (t *attemptTable) all() iter.Seq2[uint64, *attemptRec] { return t.t.All() }
