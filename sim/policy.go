package sim

import (
	"github.com/embatch/embatch/pool"
)

// PolicyNames are the policy names the simulator offers, in the order help
// lists them. "fcfs" is Azure's default ordering (pool.NewAzurePolicy).
var PolicyNames = []string{"fcfs", "easy", "conservative", "sjf", "fair"}

// NewPolicy returns a fresh scheduling policy by name ("" is fcfs); see
// pool.NewPolicy. Each scheduler needs its own: policies hold per-pool
// queues.
func NewPolicy(name string) (pool.Policy, error) {
	if name == "" {
		name = "fcfs"
	}
	return pool.NewPolicy(name)
}
