package pool

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/embatch/embatch/task"
)

// vtDriver drives a Scheduler in virtual time, the simplest way a simulator
// would: a task attempt ends after runtime(attempt) (its exit is reported
// then), kills are answered at once, other attempts (start, preparation and
// release tasks) end at once, deadlines fire at NextDeadline, and arrivals
// come in at their times. It only uses the Scheduler's exported API.
type vtDriver struct {
	s   *Scheduler
	now time.Time

	events   vtHeap
	seq      uint64
	arrivals []vtArrival
	next     int // next arrival

	// runtime is how long a started task attempt runs; it defaults to
	// three quarters of its estimate (maxWallClockTime), or a minute
	// without one.
	runtime func(a *Attempt) time.Duration
	// onStart, when set, sees every task attempt the core starts.
	onStart func(now time.Time, a *Attempt) error
	// afterReady, when set, runs after every Ready's actions were taken.
	afterReady func() error

	started, exited int
	err             error
}

// vtArrival is a batch of tasks added to a job at a time.
type vtArrival struct {
	at    time.Time
	job   string
	tasks []task.TaskSpec
}

type vtEvent struct {
	at   time.Time
	seq  uint64
	id   uint64 // attempt
	code int
}

// vtHeap is a binary min-heap of events by (at, seq), typed so that pushes
// do not allocate.
type vtHeap []vtEvent

func (h vtHeap) less(i, j int) bool {
	if c := h[i].at.Compare(h[j].at); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}

func (h *vtHeap) push(e vtEvent) {
	*h = append(*h, e)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *vtHeap) pop() vtEvent {
	q := *h
	e := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && q.less(l, m) {
			m = l
		}
		if l+1 < n && q.less(l+1, m) {
			m = l + 1
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return e
}

var vtEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// newVTDriver makes a pool of nodes nodes with slots slots each under
// policy, brings every node up at t=0, and adds the given jobs (by id,
// priority). It panics on a setup error: that is a bug in the test.
func newVTDriver(policy string, nodes, slots int, jobs map[string]int) *vtDriver {
	p, err := NewPolicy(policy)
	if err != nil {
		panic(err)
	}
	spec := Spec{ID: "p", TargetDedicatedNodes: nodes, TaskSlotsPerNode: &slots}
	s, err := NewScheduler(spec, Config{Policy: p, Now: vtEpoch, ReuseAttempts: true})
	if err != nil {
		panic(err)
	}
	d := &vtDriver{s: s, now: vtEpoch}
	rd := s.Ready()
	var up []string
	for _, a := range rd.Actions {
		if a.Kind == ActAllocateNode {
			up = append(up, a.Node)
		}
	}
	s.Advance(rd)
	for _, n := range up {
		d.step(NodeReady{Node: n})
	}
	ids := make([]string, 0, len(jobs))
	for id := range jobs {
		ids = append(ids, id)
	}
	// Jobs are added in id order, whatever the map order.
	slices.Sort(ids)
	for _, id := range ids {
		d.step(AddJob{Spec: task.JobSpec{ID: id, Priority: jobs[id], PoolInfo: task.PoolInformation{PoolID: "p"}}})
	}
	if d.err != nil {
		panic(d.err)
	}
	return d
}

// arrive schedules tasks to be added to job at t (after the time of the
// previous arrival).
func (d *vtDriver) arrive(at time.Duration, job string, tasks ...task.TaskSpec) {
	d.arrivals = append(d.arrivals, vtArrival{at: vtEpoch.Add(at), job: job, tasks: tasks})
}

// step applies ev now and takes the Ready.
func (d *vtDriver) step(ev Event) {
	if err := d.s.Step(d.now, ev); err != nil && d.err == nil {
		d.err = fmt.Errorf("t=%s %T: %v", d.now.Sub(vtEpoch), ev, err)
	}
	d.flush()
}

func (d *vtDriver) flush() {
	rd := d.s.Ready()
	for _, a := range rd.Actions {
		switch a.Kind {
		case ActStartAttempt:
			at := d.now
			if a.Attempt.Kind == AttemptTask {
				d.started++
				if d.onStart != nil && d.err == nil {
					d.err = d.onStart(d.now, a.Attempt)
				}
				at = at.Add(d.runtimeOf(a.Attempt))
			}
			d.push(at, a.Attempt.ID, 0)
		case ActKillAttempt:
			d.push(d.now, a.Attempt.ID, -1)
		}
	}
	d.s.Advance(rd)
	if d.afterReady != nil && d.err == nil {
		d.err = d.afterReady()
	}
}

func (d *vtDriver) runtimeOf(a *Attempt) time.Duration {
	if d.runtime != nil {
		return d.runtime(a)
	}
	if est := a.Task.WallClockLimit().D(); est > 0 {
		return est * 3 / 4
	}
	return time.Minute
}

func (d *vtDriver) push(at time.Time, id uint64, code int) {
	d.seq++
	d.events.push(vtEvent{at: at, seq: d.seq, id: id, code: code})
}

// run processes events until none are left or until limit (if not zero).
// Events at the same time go arrivals first (all of them, then one Ready),
// then exits in the order they were scheduled; a deadline is stepped (Tick)
// when it comes first.
func (d *vtDriver) run(limit time.Duration) error {
	end := vtEpoch.Add(limit)
	for d.err == nil {
		var t time.Time
		kind := 0 // 1 arrival, 2 exit, 3 deadline
		if d.next < len(d.arrivals) {
			t, kind = d.arrivals[d.next].at, 1
		}
		if len(d.events) > 0 && (kind == 0 || d.events[0].at.Before(t)) {
			t, kind = d.events[0].at, 2
		}
		if dl := d.s.NextDeadline(); !dl.IsZero() && (kind == 0 || dl.Before(t)) {
			t, kind = dl, 3
		}
		if kind == 0 || (limit > 0 && t.After(end)) {
			break
		}
		if t.After(d.now) {
			d.now = t
		}
		switch kind {
		case 1:
			// Arrivals at the same time are stepped together, then one
			// Ready, as a simulator batching its events would.
			for d.next < len(d.arrivals) && !d.arrivals[d.next].at.After(d.now) {
				a := d.arrivals[d.next]
				d.next++
				if err := d.s.Step(d.now, AddTasks{JobID: a.job, Tasks: a.tasks}); err != nil && d.err == nil {
					d.err = fmt.Errorf("t=%s AddTasks: %v", d.now.Sub(vtEpoch), err)
				}
			}
			d.flush()
		case 2:
			e := d.events.pop()
			d.exited++
			d.step(AttemptExited{ID: e.id, Outcome: task.OutcomeExited, ExitCode: e.code})
		case 3:
			d.step(Tick{})
		}
	}
	return d.err
}

// tspec builds a task spec: id, instances (1 for an ordinary task), estimate
// (0: none).
func tspec(id string, instances int, est time.Duration) task.TaskSpec {
	t := task.TaskSpec{ID: id, CommandLine: "x"}
	if instances > 1 {
		t.MultiInstanceSettings = &task.MultiInstanceSettings{NumberOfInstances: instances, CoordinationCommandLine: "c"}
	}
	if est > 0 {
		d := task.Duration(est)
		t.Constraints = &task.TaskConstraints{MaxWallClockTime: &d}
	}
	return t
}

func itoa(i int) string { return strconv.Itoa(i) }
