// Package embatch is the root of the embatch module: an embeddable,
// in-process batch engine that reproduces the Azure Batch model (account,
// pools, compute nodes, jobs, tasks) with pluggable node backends, and a
// discrete-event simulator that runs the same scheduling core in virtual
// time.
//
// The packages:
//
//	task         job and task specs (Azure JSON names), states, validation, exit rules
//	pool         pool and node model and the pure, deterministic scheduling core
//	node         the backend SPI; node/inprocess, node/local, node/fake backends
//	engine       the account: public API, owner loops, events
//	bench        reproducible benchmarks
//	cmd/embatch  the command-line tool
//
// This package holds no code; its test keeps the import rules of the
// design (see DESIGN.md in the project docs) true.
package embatch
