//go:build race

package sim

// raceEnabled is true under the race detector, which slows the long
// single-goroutine runs tenfold without finding anything in them.
const raceEnabled = true
