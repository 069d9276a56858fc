package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/sim/workload"
	"github.com/embatch/embatch/task"
)

// Rand returns the generator for stream of seed. Every draw of a run comes
// from seed: stream StreamRun for the simulation itself, StreamWorkload for
// generating its synthetic workload, StreamShake for shaking a trace, so
// that changing faults does not change the workload.
func Rand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// Random streams derived from one seed (see Rand).
const (
	StreamRun      = 0x73696d72756e // "simrun"
	StreamWorkload = 0x776f726b6c64 // "workld"
	StreamShake    = 0x7368616b65   // "shake"
)

// simulation is one run.
type simulation struct {
	cfg   Config
	wl    *workload.Workload
	rng   *rand.Rand
	d     dists
	k     kernel
	drv   *Driver
	slots int

	nodes   []simNode
	nodeIdx map[string]int32 // by id, for ids nodeByNum cannot hold
	// nodeByNum finds nodes by the number in their id ("tvm-<n>"), -1
	// where there is none; see nodeIndex.
	nodeByNum []int32
	attempts  attemptTable
	free      []*simAttempt // spare simAttempt records

	tasks   []taskTrack
	jobs    []jobTasks
	jobIdx  map[string]int
	next    int // the workload task that starts the next arrival group
	specBuf []*task.TaskSpec

	skipped   int
	total     int
	submitted int
	completed int
	tickAt    time.Duration // pending tick, -1 for none
	exiting   uint64        // the attempt whose exit is being stepped
	// life counts engine restarts: attempt ids start again at 1 in each
	// life, so exits queued in an earlier one are stale.
	life int32
	err  error

	acct  accounting
	check *checker
	spans *spans // nil unless Config.Tracer is set
	hooks testHooks
}

// Run simulates w on the pool cfg describes, with cfg's policy, and returns
// what happened. w is not modified. A task that can never fit the pool
// (more instances than nodes, more slots than a node has) is left out and
// counted in Result.Skipped.
func Run(cfg Config, w *workload.Workload) (*Result, error) {
	return run(cfg, w, testHooks{})
}

// testHooks let tests look inside a run.
type testHooks struct {
	// forceShadowCheck turns the EASY shadow-time check on for every
	// policy (to show it catches a greedy one).
	forceShadowCheck bool
	// trace, if set, receives every event and action.
	trace func(now time.Duration, line string)
	// arrived, if set, is called once the last task was submitted.
	arrived func()
}

// run is Run with test hooks.
func run(cfg Config, w *workload.Workload, hooks testHooks) (*Result, error) {
	d, err := cfg.check()
	if err != nil {
		return nil, err
	}
	policy, err := NewPolicy(cfg.Policy)
	if err != nil {
		return nil, err
	}
	s := &simulation{
		cfg:     cfg,
		wl:      w,
		rng:     Rand(cfg.Seed, StreamRun),
		d:       d,
		slots:   cfg.slots(),
		spans:   newSpans(cfg.Tracer),
		nodeIdx: make(map[string]int32),
		tickAt:  -1,
		hooks:   hooks,
	}
	if cfg.Check {
		s.check = newChecker(s, policy)
	}
	if err := s.index(); err != nil {
		return nil, err
	}
	s.acct.init(cfg.Series)
	s.drv, err = NewDriver(0, cfg.poolSpec(), policy, s)
	if err != nil {
		return nil, err
	}
	for i := range w.Jobs {
		if err := s.drv.Step(0, pool.AddJob{Spec: w.Jobs[i]}); err != nil {
			return nil, fmt.Errorf("workload %s: jobs[%d]: %w", w.Name, i, err)
		}
	}
	s.queueArrival()
	s.queueRestart()

	var wallStart time.Time
	if cfg.Clock != nil {
		wallStart = cfg.Clock()
	}
	s.loop()
	s.spans.end(s.k.now)
	var wall time.Duration
	if cfg.Clock != nil {
		wall = cfg.Clock().Sub(wallStart)
	}
	if s.err != nil {
		return nil, s.err
	}
	return s.result(wall), nil
}

// loop runs events until every task has completed, nothing that could
// move a task forward is queued, or the horizon is reached.
func (s *simulation) loop() {
	horizon := time.Duration(math.MaxInt64)
	if s.cfg.HorizonS > 0 {
		horizon = time.Duration(s.cfg.HorizonS * 1e9)
	}
	for s.k.len() > 0 && s.err == nil {
		if s.completed == s.total && s.arrivalsQueued() {
			break
		}
		if s.k.progress == 0 && s.stalled() {
			break
		}
		if s.k.peek() > horizon {
			s.k.now = horizon
			break
		}
		s.handle(s.k.pop())
	}
}

// stalled reports, when no arrival or attempt exit is queued, whether the
// run can make no further progress: every job is settled (completed, or its
// remaining tasks wait for dependencies that failed, or it is disabled), so
// nodes coming up or timers firing would change nothing for its tasks.
func (s *simulation) stalled() bool {
	if !s.arrivalsQueued() {
		return false
	}
	core := s.drv.Core()
	for i := range s.wl.Jobs {
		if ok, err := core.Settled(s.wl.Jobs[i].ID); err == nil && !ok {
			return false
		}
	}
	return true
}

// step applies ev to the core now; a rejection ends the run with an error.
func (s *simulation) step(ev pool.Event) {
	if err := s.drv.Step(s.k.now, ev); err != nil && s.err == nil {
		s.err = fmt.Errorf("at %v: the core rejected %T: %w", s.k.now, ev, err)
	}
	if s.check != nil {
		s.check.afterStep(s.k.now)
	}
	s.scheduleTick()
}

// scheduleTick queues a tick for the core's next deadline if it is earlier
// than the one queued.
func (s *simulation) scheduleTick() {
	d, ok := s.drv.NextDeadline()
	if !ok || (s.tickAt >= 0 && s.tickAt <= d) {
		return
	}
	s.tickAt = d
	s.k.push(event{at: d, kind: evTick})
}

func (s *simulation) handle(e event) {
	if s.hooks.trace != nil {
		s.hooks.trace(s.k.now, fmt.Sprintf("event kind=%d a=%d n=%d id=%d", e.kind, e.a, e.n, e.id))
	}
	switch e.kind {
	case evArrival:
		s.arrive(e)
	case evNodeUp:
		s.nodeUp(e)
	case evExit, evKilled:
		a := s.attempts.get(e.id)
		if a == nil || e.a != s.life {
			return // written off meanwhile (node lost, engine restarted)
		}
		code := a.code
		if e.kind == evKilled {
			code = killedExitCode
		}
		if a.lostNode && s.check != nil {
			// The task is requeued now, ahead of what was promised.
			s.check.capacityLost()
		}
		s.endAttempt(a)
		s.spans.exited(s.k.now, e.id, code)
		s.exiting = e.id
		s.step(pool.AttemptExited{ID: e.id, Outcome: task.OutcomeExited, ExitCode: code})
		s.exiting = 0
	case evTick:
		if e.at != s.tickAt {
			return // superseded by an earlier tick
		}
		s.tickAt = -1
		s.step(pool.Tick{})
	case evNodeFail, evPreempt:
		s.nodeDown(e)
	case evRestart:
		s.restart()
	}
}

func (s *simulation) arrive(e event) {
	tasks := s.wl.Tasks[e.a : e.a+e.n]
	s.specBuf = s.specBuf[:0]
	for i := range tasks {
		// By pointer: the core keeps the workload's spec (which
		// nothing modifies) instead of a copy.
		s.specBuf = append(s.specBuf, &tasks[i].Spec)
		tr := &s.tasks[int(e.a)+i]
		tr.state = task.TaskActive
	}
	s.acct.arrive(s.k.now, len(tasks))
	s.submitted += len(tasks)
	s.queueArrival()
	s.step(pool.AddTasks{JobID: s.wl.Jobs[tasks[0].Job].ID, Specs: s.specBuf})
	clear(s.specBuf)
	if s.hooks.arrived != nil && s.arrivalsQueued() {
		s.hooks.arrived()
	}
}

// Change implements Handler: it follows task states for the metrics.
func (s *simulation) Change(now time.Duration, c pool.Change) {
	if s.check != nil {
		s.check.change(now, c)
	}
	if c.Kind != pool.ChangeTask {
		return
	}
	i := s.taskIndex(c.JobID, c.TaskID)
	if i < 0 {
		return
	}
	tr := &s.tasks[i]
	prev := tr.state
	tr.state = c.TaskState
	if prev == c.TaskState {
		return
	}
	waiting := func(st task.TaskState) bool { return st == task.TaskActive }
	switch {
	case waiting(prev) && !waiting(c.TaskState):
		s.acct.queue(now, -1)
	case !waiting(prev) && waiting(c.TaskState):
		s.acct.queue(now, +1)
	}
	if c.TaskState == task.TaskCompleted {
		s.completed++
		s.acct.depart(now)
	}
}

// Action implements Handler: it performs the core's decisions on the
// simulated nodes.
func (s *simulation) Action(now time.Duration, a pool.Action) {
	if s.hooks.trace != nil {
		s.hooks.trace(now, "  "+a.String())
	}
	switch a.Kind {
	case pool.ActAllocateNode:
		s.allocate(now, a)
	case pool.ActReleaseNode:
		s.release(now, a)
	case pool.ActStartAttempt:
		s.spans.started(now, workload.PoolID, a.Attempt)
		s.start(now, a.Attempt)
	case pool.ActKillAttempt:
		s.spans.killed(now, a.Attempt.ID, a.Reason)
		if s.check != nil {
			s.check.kill(a)
		}
		if sa := s.attempts.get(a.Attempt.ID); sa != nil {
			sa.lostNode = sa.lostNode || len(sa.nodes) < len(a.Attempt.Nodes)
		}
		s.k.push(event{at: now, kind: evKilled, id: a.Attempt.ID, a: s.life})
	}
}

func (s *simulation) draw(d workload.Dist) time.Duration {
	if !d.Valid() {
		return 0
	}
	return time.Duration(d.Sample(s.rng)*1e9 + 0.5)
}

func (s *simulation) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}
