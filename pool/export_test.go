package pool

import "math/rand/v2"

// What the external tests (package pool_test, which drive the core through
// sim/scenario) need from the core's internals.

// CheckInvariants checks the core's internal bookkeeping against its
// records (invariants_test.go).
func CheckInvariants(s *Scheduler) error { return checkInvariants(s) }

// NodeSeq is the index of the last node s allocated (tvm-N).
func NodeSeq(s *Scheduler) int { return s.nodeSeq }

// MemStore is the restore tests' store (restore_test.go): what a driver
// persists, kept the way the engine keeps it.
type MemStore = memStore

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return newMemStore() }

// Apply persists the changes of one Ready of s.
func (m *memStore) Apply(s *Scheduler, changes []Change) { m.apply(s, Ready{Changes: changes}) }

// Check compares the store with the records of s.
func (m *memStore) Check(s *Scheduler) error { return m.check(s) }

// RestoreArgs returns the stored records in an order shuffled by rng.
func (m *memStore) RestoreArgs(rng *rand.Rand) ([]DurableJob, []DurableTask) {
	return m.restoreArgs(rng)
}

// Pool is the stored pool.
func (m *memStore) Pool() DurablePool { return m.pool }
