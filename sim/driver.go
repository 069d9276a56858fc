package sim

import (
	"time"

	"github.com/embatch/embatch/pool"
)

// Handler receives what the core decided after each step: first every
// Change, then every Action, in order, at virtual time now. An Action's
// Attempt must not be kept past the call: the core reuses the records of
// ended attempts (pool.Config.ReuseAttempts).
type Handler interface {
	Change(now time.Duration, c pool.Change)
	Action(now time.Duration, a pool.Action)
}

// Driver drives one pool scheduling core in virtual time: it steps an event
// at a virtual time (a duration since Epoch), takes the core's Ready, hands
// its Changes and Actions to a Handler and acknowledges it with Advance.
// The simulator runs on it, and so does the scripted scenario runner
// (package sim/scenario) that the conformance test compares with the live
// engine.
type Driver struct {
	core *pool.Scheduler
	h    Handler
	now  time.Duration
}

// NewDriver creates the core for spec at virtual time at, with policy (nil
// means Azure's), and hands the first Ready (the initial node allocations)
// to h.
func NewDriver(at time.Duration, spec pool.Spec, policy pool.Policy, h Handler) (*Driver, error) {
	core, err := pool.NewScheduler(spec, pool.Config{Policy: policy, Now: Epoch.Add(at), ReuseAttempts: true})
	if err != nil {
		return nil, err
	}
	d := &Driver{core: core, h: h, now: at}
	d.flush()
	return d, nil
}

// DriverFor drives core, an existing scheduler (one pool.Restore rebuilt,
// say) whose clock is at virtual time at, and hands its pending Ready to h.
func DriverFor(at time.Duration, core *pool.Scheduler, h Handler) *Driver {
	d := &Driver{core: core, h: h, now: at}
	d.flush()
	return d
}

// Core is the driven scheduler, for reading records. Step it only through
// the Driver.
func (d *Driver) Core() *pool.Scheduler { return d.core }

// Now is the virtual time of the latest step.
func (d *Driver) Now() time.Duration { return d.now }

// Step applies ev at virtual time at (not before the latest step) and hands
// the resulting Ready to the handler. The error is the core's: the event
// was rejected and changed nothing, but the Ready is still handled (timers
// that fell due fired).
func (d *Driver) Step(at time.Duration, ev pool.Event) error {
	d.now = max(d.now, at)
	err := d.core.Step(Epoch.Add(d.now), ev)
	d.flush()
	return err
}

// NextDeadline is the virtual time at which the core next wants a Tick, and
// false when it wants none.
func (d *Driver) NextDeadline() (time.Duration, bool) {
	t := d.core.NextDeadline()
	if t.IsZero() {
		return 0, false
	}
	return t.Sub(Epoch), true
}

func (d *Driver) flush() {
	rd := d.core.Ready()
	for _, c := range rd.Changes {
		d.h.Change(d.now, c)
	}
	for _, a := range rd.Actions {
		d.h.Action(d.now, a)
	}
	d.core.Advance(rd)
}
