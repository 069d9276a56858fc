package pool

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/embatch/embatch/task"
)

// Config tunes a Scheduler. The zero Config is valid.
type Config struct {
	// Policy orders ready tasks; nil means NewAzurePolicy().
	Policy Policy
	// Now is the pool's creation time.
	Now time.Time
	// Seed seeds the pool's random stream (rand() in autoscale formulas).
	Seed uint64
	// ReuseAttempts lets the core reuse the record of a task attempt
	// (what Action.Attempt points at) for a later attempt once the
	// attempt has ended and an Advance followed: one allocation less per
	// attempt. Set it only if the driver is done with every Action's
	// Attempt before its next Step. The simulator sets it; the engine,
	// which performs actions only once their changes are durable, must
	// not.
	ReuseAttempts bool
}

// DefaultResizeTimeout is Azure's default resizeTimeout.
const DefaultResizeTimeout = 15 * time.Minute

// defaultJobReleaseWallClockTime is Azure's default maxWallClockTime of a
// job release task.
const defaultJobReleaseWallClockTime = 15 * time.Minute

// kill reasons, recorded on an attempt until its exit arrives.
const (
	killTimeout      = "maxWallClockTime"
	killTerminate    = "terminate"
	killJobEnded     = "job terminated"
	killJobDeleted   = "job deleted"
	killRequeue      = "requeue"
	killDeallocTerm  = "node deallocated"
	killNodeLost     = "node lost"
	killDisableTerm  = "job disabled"
	killStartTaskEnd = "node leaving"
)

// jobRec is a job bound to this pool.
type jobRec struct {
	spec       task.JobSpec
	poolID     string // the pool's id, for the tasks' nodeInfo
	seq        uint64
	state      task.JobState
	prev       task.JobState
	created    time.Time
	changed    time.Time
	exec       task.JobExecutionInfo
	tasks      taskIndex // by folded id
	order      []*Candidate
	counts     task.TaskCounts
	slotCounts task.TaskCounts
	running    int // task attempts holding slots (preparing or running)
	readyN     int // tasks in the ready set
	incomplete int
	attempts   int // attempts of any kind still on nodes
	prep       map[*nodeRec]*prepRec
	disableOpt DisableJobOption
	endReason  string
	// releaseOnDelete: the job was deleted before it ended, so its release
	// tasks run before it disappears.
	releaseOnDelete bool
	// manager caches the job's job manager task; see jobManager.
	manager *Candidate
}

// live reports whether the job can still run tasks at some point.
func (j *jobRec) live() bool {
	switch j.state {
	case task.JobActive, task.JobDisabling, task.JobDisabled, task.JobEnabling:
		return true
	}
	return false
}

// prepRec is a job preparation task's state on one node.
type prepRec struct {
	state   prepState
	retries int
	attempt *attemptRec
	waiting []*attemptRec // task attempts waiting for this prep
	release bool          // release task already started
}

type prepState uint8

const (
	prepRunning prepState = iota + 1
	prepSucceeded
	prepFailed
)

// nodeRec is a node of this pool.
type nodeRec struct {
	rec        Node
	idx        int
	free       int
	indexed    bool
	prev, next *nodeRec
	attempts   []*attemptRec
	leaving    bool
	leaveOpt   DeallocationOption
	startTask  *attemptRec
	startTries int
	// busy: the node is being created or is leaving, which makes the
	// pool resizing; Scheduler.busyNodes counts such nodes (see
	// markBusy).
	busy bool
	// releaseGen and releaseLeft are scratch for Scheduler.releases.
	releaseGen  uint64
	releaseLeft int
}

// attemptRec is an attempt in flight.
type attemptRec struct {
	a        Attempt
	task     *Candidate // nil for start/prep/release
	job      *jobRec
	nodes    []*nodeRec
	prepWait int    // preparation tasks still to finish before the command
	started  bool   // the command itself was started (ActStartAttempt sent)
	kill     string // non-empty once a kill was decided
	// runEnd is the key under which a task attempt is in the running
	// index, when runIndexed.
	runEnd     int64
	runIndexed bool
	// node1 and name1 back nodes and a.Nodes for single-node attempts
	// (nearly all), saving two allocations per attempt.
	node1 [1]*nodeRec
	name1 [1]string
}

// Scheduler is the deterministic scheduling core of one pool and the jobs
// bound to it. Drive it with Step, then Ready/Advance; see the package doc.
// It is not safe for concurrent use: its driver owns it.
type Scheduler struct {
	spec         Spec
	policy       Policy
	seed         uint64
	as           *autoScaler // nil until autoscaling is first enabled
	now          time.Time
	created      time.Time
	slotsPerNode int
	fill         NodeFillType
	deleting     bool

	alloc        AllocationState
	allocChanged time.Time
	resizeGen    uint64
	resizeErrors []ResizeError

	jobs     map[string]*jobRec
	jobBySeq map[uint64]*jobRec
	jobSeq   uint64
	taskSeq  uint64

	nodeList []*nodeRec // in creation order
	// busyNodes counts the nodes of nodeList being created or leaving,
	// so that the allocation state needs no scan over all nodes.
	busyNodes int
	nodeByID  map[string]*nodeRec
	nodeSeq   int
	nodes     nodeSet

	attempts  attemptTable
	attemptID uint64
	// ended are task attempts that ended since the last Advance, and
	// spare those that Advance made available again (only with
	// Config.ReuseAttempts); see recycle.
	reuse        bool
	ended, spare []*attemptRec

	// running orders task attempts by estimated end for backfilling
	// policies; kept only once runIndexed (see running.go).
	running    tree[runItem]
	runIndexed bool
	releaseGen uint64

	timers   timerHeap
	cluster  Cluster // the policies' view of s, see Ready
	timerSeq uint64

	dirty bool
	ready Ready
	pick  []*nodeRec
	// specPtrs is scratch for addTasks.
	specPtrs []*task.TaskSpec

	// jmStarted lists jobs whose job manager started in the current
	// scheduling pass; see releaseJobManagerHolds.
	jmStarted []*jobRec
}

// NewScheduler validates spec and returns its scheduler. The initial targets
// become AllocateNode actions in the first Ready.
func NewScheduler(spec Spec, cfg Config) (*Scheduler, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	p := cfg.Policy
	if p == nil {
		p = NewAzurePolicy()
	}
	s := &Scheduler{
		spec:         spec,
		policy:       p,
		seed:         cfg.Seed,
		reuse:        cfg.ReuseAttempts,
		now:          cfg.Now,
		created:      cfg.Now,
		slotsPerNode: spec.Slots(),
		fill:         spec.FillType(),
		alloc:        AllocationSteady,
		allocChanged: cfg.Now,
		jobs:         make(map[string]*jobRec),
		jobBySeq:     make(map[uint64]*jobRec),
		nodeByID:     make(map[string]*nodeRec),
		nodes:        newNodeSet(spec.Slots()),
	}
	s.change(Change{Kind: ChangePool})
	if spec.EnableAutoScale {
		f, err := parseFormula("autoScaleFormula", spec.AutoScaleFormula)
		if err != nil {
			return nil, err
		}
		var interval time.Duration
		if spec.AutoScaleEvaluationInterval != nil {
			interval = spec.AutoScaleEvaluationInterval.D()
		}
		s.startAutoScale(f, interval)
		return s, nil
	}
	s.resize(spec.TargetDedicatedNodes, spec.TargetLowPriorityNodes, 0, DeallocRequeue)
	return s, nil
}

// PolicyName is the name of the scheduler's policy.
func (s *Scheduler) PolicyName() string { return s.policy.Name() }

// Now is the time of the latest Step.
func (s *Scheduler) Now() time.Time { return s.now }

// Step applies one event at time now (which must not go backwards; an
// earlier time is treated as the latest seen). Timers due by now fire first.
// An error means the event was rejected and nothing changed.
func (s *Scheduler) Step(now time.Time, ev Event) error {
	if now.After(s.now) {
		s.now = now
	}
	s.fireTimers()
	var err error
	switch e := ev.(type) {
	case AddJob:
		err = s.addJob(e)
	case AddTasks:
		err = s.addTasks(e)
	case AttemptExited:
		err = s.attemptExited(e)
	case NodeReady:
		err = s.nodeReady(e)
	case NodeFailed:
		err = s.nodeFailed(e)
	case Resize:
		err = s.resizeEvent(e)
	case StopResize:
		err = s.stopResize()
	case RemoveNodes:
		err = s.removeNodes(e)
	case SetNodeScheduling:
		err = s.setNodeScheduling(e)
	case TerminateTask:
		err = s.terminateTask(e)
	case TerminateJob:
		err = s.terminateJobEvent(e)
	case DisableJob:
		err = s.disableJob(e)
	case EnableJob:
		err = s.enableJob(e)
	case DeleteJob:
		err = s.deleteJob(e)
	case DeletePool:
		s.deletePool()
	case CompactTasks:
		s.compactTasks(e)
	case EnableAutoScale:
		err = s.enableAutoScale(e)
	case DisableAutoScale:
		s.disableAutoScale()
	case EvaluateAutoScaleNow:
		if !s.autoScaling() {
			err = task.Errorf(task.CodeOperationInvalidForState, "enableAutoScale", false, "autoscaling is not enabled on pool %q", s.spec.ID)
		} else {
			s.evaluateAutoScale()
		}
	case Tick:
	case nil:
		err = task.Invalid("event", "nil", "no event")
	default:
		err = task.Invalid("event", fmt.Sprintf("%T", ev), "unknown event type")
	}
	s.dirty = true
	return err
}

// Ready runs a scheduling pass if anything changed since the last one and
// returns the changes to persist and actions to perform. The slices are
// valid until Advance.
func (s *Scheduler) Ready() Ready {
	if s.dirty {
		s.dirty = false
		// The policy's view of s is kept in s: a new one would escape
		// (an allocation per round).
		cl := &s.cluster
		cl.s = s
		if s.policy.Len() > 0 && s.nodes.freeTotal > 0 {
			s.policy.Schedule(cl)
		}
		for s.releaseJobManagerHolds() && s.nodes.freeTotal > 0 {
			s.policy.Schedule(cl)
		}
	}
	return s.ready
}

// Advance acknowledges that rd, the last Ready, has been handled.
func (s *Scheduler) Advance(rd Ready) {
	clear(s.ready.Changes)
	clear(s.ready.Actions)
	s.ready.Changes = s.ready.Changes[:0]
	s.ready.Actions = s.ready.Actions[:0]
	for _, a := range s.ended {
		if len(s.spare) < maxSpareAttempts {
			*a = attemptRec{}
			s.spare = append(s.spare, a)
		}
	}
	clear(s.ended)
	s.ended = s.ended[:0]
}

// maxSpareAttempts bounds the attempt records kept for reuse.
const maxSpareAttempts = 1024

// recycle offers an ended attempt's record for reuse after the next
// Advance. Only task attempts of jobs without a job preparation task
// qualify: nothing keeps a pointer to those once they ended (a
// preparation task's waiting list would).
func (s *Scheduler) recycle(a *attemptRec) {
	if s.reuse && a.task != nil && a.job.spec.JobPreparationTask == nil {
		s.ended = append(s.ended, a)
	}
}

// newAttempt returns a zero attempt record: a spare one if there is one.
func (s *Scheduler) newAttempt() *attemptRec {
	if n := len(s.spare); n > 0 {
		a := s.spare[n-1]
		s.spare[n-1] = nil
		s.spare = s.spare[:n-1]
		return a
	}
	return &attemptRec{}
}

func (s *Scheduler) change(c Change) { s.ready.Changes = append(s.ready.Changes, c) }
func (s *Scheduler) act(a Action)    { s.ready.Actions = append(s.ready.Actions, a) }
func (s *Scheduler) jobChanged(j *jobRec) {
	s.change(Change{Kind: ChangeJob, JobID: j.spec.ID, JobState: j.state})
}
func (s *Scheduler) taskChanged(c *Candidate) {
	s.change(Change{Kind: ChangeTask, JobID: c.job.spec.ID, TaskID: c.spec.ID, TaskState: c.state})
}
func (s *Scheduler) nodeChanged(n *nodeRec) {
	s.change(Change{Kind: ChangeNode, NodeID: n.rec.ID, NodeState: n.rec.State})
}

// ---- jobs ----

func (s *Scheduler) addJob(e AddJob) error {
	if s.deleting {
		return &task.Error{Code: task.CodePoolBeingDeleted, Field: "poolInfo.poolId", Value: s.spec.ID, Message: "the pool is being deleted"}
	}
	if err := e.Spec.Validate(); err != nil {
		return err
	}
	if err := s.checkJobManager(&e.Spec); err != nil {
		return err
	}
	key := task.FoldID(e.Spec.ID)
	if _, ok := s.jobs[key]; ok {
		return task.Errorf(task.CodeJobExists, "id", e.Spec.ID, "a job with this id already exists")
	}
	s.jobSeq++
	j := &jobRec{
		spec:    e.Spec,
		poolID:  s.spec.ID,
		seq:     s.jobSeq,
		state:   task.JobActive,
		created: s.now,
		changed: s.now,
		exec:    task.JobExecutionInfo{StartTime: s.now, PoolID: s.spec.ID},
	}
	s.jobs[key] = j
	s.jobBySeq[j.seq] = j
	if c := e.Spec.Constraints; c != nil && c.MaxWallClockTime != nil && *c.MaxWallClockTime < task.Unlimited {
		s.addTimer(s.now.Add(c.MaxWallClockTime.D()), timerJob, j.seq)
	}
	s.jobChanged(j)
	s.addJobManager(j)
	return nil
}

func (s *Scheduler) job(id string) (*jobRec, error) {
	j := s.jobs[task.FoldID(id)]
	if j == nil {
		return nil, task.Errorf(task.CodeJobNotFound, "jobId", id, "no such job in pool %q", s.spec.ID)
	}
	return j, nil
}

func (s *Scheduler) setJobState(j *jobRec, st task.JobState) {
	if j.state == st {
		return
	}
	j.prev, j.state, j.changed = j.state, st, s.now
	s.jobChanged(j)
}

// ---- tasks ----

func (s *Scheduler) addTasks(e AddTasks) error {
	j, err := s.job(e.JobID)
	if err != nil {
		return err
	}
	switch j.state {
	case task.JobCompleted:
		return task.Errorf(task.CodeJobCompleted, "jobId", e.JobID, "the job has completed")
	case task.JobTerminating:
		return task.Errorf(task.CodeJobBeingTerminated, "jobId", e.JobID, "the job is being terminated")
	case task.JobDeleting:
		return task.Errorf(task.CodeJobBeingDeleted, "jobId", e.JobID, "the job is being deleted")
	}
	if len(e.Tasks) > 0 && len(e.Specs) > 0 {
		return task.Invalid("tasks", len(e.Specs), "set either Tasks or Specs, not both")
	}
	// tasks are the collection by pointer: into a copy of e.Tasks made
	// now, since the caller may reuse it, or e.Specs as they are.
	tasks := e.Specs
	if len(e.Tasks) > 0 {
		specs := slices.Clone(e.Tasks)
		tasks = s.specPtrs[:0]
		for i := range specs {
			tasks = append(tasks, &specs[i])
		}
		// Not kept past this call: the candidates point into specs.
		defer func() { clear(tasks); s.specPtrs = tasks[:0] }()
	}
	// Validate everything before changing anything. batch finds the
	// collection's tasks by folded id; a single task with no dependencies
	// (the simulator's usual arrival) needs none.
	if i := slices.Index(tasks, nil); i >= 0 {
		return task.Invalid("tasks["+strconv.Itoa(i)+"]", nil, "no task spec")
	}
	hasDeps := slices.ContainsFunc(tasks, func(t *task.TaskSpec) bool { return t.DependsOn != nil })
	var batch map[string]int
	if len(tasks) > 1 || hasDeps {
		batch = make(map[string]int, len(tasks))
	}
	for i, t := range tasks {
		// prefix is built only for an error: most batches have none.
		prefix := func() string { return "tasks[" + strconv.Itoa(i) + "]" }
		if err := t.Validate(&j.spec); err != nil {
			return task.WithFieldPrefix(prefix(), err)
		}
		key := task.FoldID(t.ID)
		if j.tasks.get(key) != nil {
			return task.Errorf(task.CodeTaskExists, prefix()+".id", t.ID, "job %q already has a task with this id", j.spec.ID)
		}
		if k, ok := batch[key]; ok {
			return task.Errorf(task.CodeTaskExists, prefix()+".id", t.ID, "the same id as tasks[%d]", k)
		}
		if batch != nil {
			batch[key] = i
		}
		if t.Slots() > s.slotsPerNode {
			return task.Invalid(prefix()+".requiredSlots", t.Slots(), "pool %q has only %d slots per node", s.spec.ID, s.slotsPerNode)
		}
	}
	// Dependency targets must exist in the job or in this batch. The
	// batch's integer ids matter only when some task has dependencies.
	var batchInts map[int]bool
	if hasDeps {
		batchInts = map[int]bool{}
		for _, t := range tasks {
			if n, ok := intID(t.ID); ok {
				batchInts[n] = true
			}
		}
	}
	for i, t := range tasks {
		d := t.DependsOn
		if d == nil {
			continue
		}
		for k, id := range d.TaskIDs {
			key := task.FoldID(id)
			if j.tasks.get(key) != nil {
				continue
			}
			if _, ok := batch[key]; ok {
				continue
			}
			return task.Errorf(task.CodeTaskDependencyNotFound, fmt.Sprintf("tasks[%d].dependsOn.taskIds[%d]", i, k), id, "job %q has no task with this id", j.spec.ID)
		}
		for k, r := range d.TaskIDRanges {
			if !s.rangeHasTask(j, batchInts, r) {
				return task.Errorf(task.CodeTaskDependencyNotFound, fmt.Sprintf("tasks[%d].dependsOn.taskIdRanges[%d]", i, k), fmt.Sprintf("%d-%d", r.Start, r.End), "job %q has no task with an id in this range", j.spec.ID)
			}
		}
	}
	if hasDeps {
		// Without dependencies there is no cycle to find.
		if err := checkCycles(tasks, batch, batchInts); err != nil {
			return err
		}
	}
	// Commit. The collection's candidates are allocated together, as its
	// specs were copied together: fewer, larger objects for the allocator
	// and the garbage collector. The price is that a compacted task's
	// memory is reused only once every task of its collection is gone.
	cands := make([]Candidate, len(tasks))
	first := len(j.order)
	s.ready.Changes = slices.Grow(s.ready.Changes, len(tasks))
	for i, t := range tasks {
		s.taskSeq++
		c := &cands[i]
		*c = Candidate{
			spec:      t,
			job:       j,
			seq:       s.taskSeq,
			state:     task.TaskActive,
			created:   s.now,
			changed:   s.now,
			slots:     s.taskSlots(j, t),
			instances: t.MultiInstanceSettings.Instances(),
		}
		j.tasks.put(task.FoldID(c.spec.ID), c)
		j.order = append(j.order, c)
		j.counts.Active++
		j.slotCounts.Active += c.slots * c.instances
		j.incomplete++
	}
	added := j.order[first:]
	for _, c := range added {
		s.linkDependencies(c)
		s.taskChanged(c)
	}
	for _, c := range added {
		if c.unmet == 0 && !c.blocked {
			s.makeReady(c)
		}
	}
	return nil
}

// intID returns id as a task id range number: a non-negative integer
// written without sign or leading zeros.
func intID(id string) (int, bool) {
	if id == "" || id[0] < '0' || id[0] > '9' || (id[0] == '0' && len(id) > 1) {
		return 0, false
	}
	n, err := strconv.Atoi(id)
	return n, err == nil
}

// rangeHasTask reports whether some task of j (or of the batch being added)
// has an integer id in r.
func (s *Scheduler) rangeHasTask(j *jobRec, batchInts map[int]bool, r task.TaskIDRange) bool {
	if r.End-r.Start < j.tasks.numbered()+len(batchInts) {
		for n := r.Start; n <= r.End; n++ {
			if j.tasks.num(n) != nil || batchInts[n] {
				return true
			}
		}
		return false
	}
	for n := range j.tasks.numbers() {
		if n >= r.Start && n <= r.End {
			return true
		}
	}
	for n := range batchInts {
		if n >= r.Start && n <= r.End {
			return true
		}
	}
	return false
}

// checkCycles rejects dependency cycles among the tasks of one batch (tasks
// already in the job cannot depend on new ones, so cycles can only close
// inside the batch).
func checkCycles(tasks []*task.TaskSpec, batch map[string]int, batchInts map[int]bool) error {
	edges := func(i int) []int {
		d := tasks[i].DependsOn
		if d == nil {
			return nil
		}
		var out []int
		for _, id := range d.TaskIDs {
			if k, ok := batch[task.FoldID(id)]; ok {
				out = append(out, k)
			}
		}
		for _, r := range d.TaskIDRanges {
			for n := range batchInts {
				if n >= r.Start && n <= r.End {
					out = append(out, batch[strconv.Itoa(n)])
				}
			}
		}
		slices.Sort(out)
		return out
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(tasks))
	type frame struct {
		node  int
		edges []int
	}
	for start := range tasks {
		if color[start] != white {
			continue
		}
		stack := []frame{{start, edges(start)}}
		color[start] = grey
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if len(top.edges) == 0 {
				color[top.node] = black
				stack = stack[:len(stack)-1]
				continue
			}
			next := top.edges[0]
			top.edges = top.edges[1:]
			switch color[next] {
			case grey:
				return task.Errorf(task.CodeTaskDependencyCycle, fmt.Sprintf("tasks[%d].dependsOn", top.node), tasks[top.node].ID, "dependency cycle through task %q", tasks[next].ID)
			case white:
				color[next] = grey
				stack = append(stack, frame{next, edges(next)})
			}
		}
	}
	return nil
}

// linkDependencies counts c's unmet dependencies and registers c with each
// parent.
func (s *Scheduler) linkDependencies(c *Candidate) {
	d := c.spec.DependsOn
	if d == nil {
		return
	}
	j := c.job
	seen := map[*Candidate]bool{}
	link := func(p *Candidate) {
		if p == nil || p == c || seen[p] {
			return
		}
		seen[p] = true
		if p.state == task.TaskCompleted {
			if !p.depsSatisfied {
				c.blocked = true
			}
			return
		}
		c.unmet++
		if p.children == nil {
			p.children = new([]*Candidate)
		}
		*p.children = append(*p.children, c)
	}
	for _, id := range d.TaskIDs {
		link(j.tasks.get(task.FoldID(id)))
	}
	for _, r := range d.TaskIDRanges {
		if r.End-r.Start < j.tasks.numbered() {
			for n := r.Start; n <= r.End; n++ {
				link(j.tasks.num(n))
			}
			continue
		}
		ids := make([]int, 0)
		for n := range j.tasks.numbers() {
			if n >= r.Start && n <= r.End {
				ids = append(ids, n)
			}
		}
		slices.Sort(ids)
		for _, n := range ids {
			link(j.tasks.num(n))
		}
	}
}

// makeReady puts an active task whose dependencies are met into the policy's
// queue, if its job is active.
func (s *Scheduler) makeReady(c *Candidate) {
	if c.ready || c.state != task.TaskActive || c.unmet > 0 || c.blocked || c.job.state != task.JobActive || s.heldForJobManager(c) {
		return
	}
	c.ready = true
	c.job.readyN++
	s.policy.Add(c)
	s.dirty = true
}

// unready takes a task out of the ready set; policies see the epoch change.
func (s *Scheduler) unready(c *Candidate) {
	if c.ready {
		c.ready = false
		c.epoch++
		c.job.readyN--
	}
}

func (s *Scheduler) setTaskState(c *Candidate, st task.TaskState) {
	if c.state == st {
		return
	}
	j := c.job
	w := c.slots * c.instances
	bump := func(st task.TaskState, d int) {
		switch st {
		case task.TaskActive:
			j.counts.Active += d
			j.slotCounts.Active += d * w
		case task.TaskPreparing, task.TaskRunning:
			j.counts.Running += d
			j.slotCounts.Running += d * w
		case task.TaskCompleted:
			j.counts.Completed += d
			j.slotCounts.Completed += d * w
		}
	}
	bump(c.state, -1)
	bump(st, 1)
	c.prev, c.state, c.changed = c.state, st, s.now
	s.taskChanged(c)
	if j.spec.JobManagerTask != nil {
		s.jobManagerMoved(c, c.prev)
	}
}

func (s *Scheduler) task(jobID, taskID string) (*Candidate, error) {
	j, err := s.job(jobID)
	if err != nil {
		return nil, err
	}
	c := j.tasks.get(task.FoldID(taskID))
	if c == nil {
		return nil, task.Errorf(task.CodeTaskNotFound, "taskId", taskID, "job %q has no such task", jobID)
	}
	return c, nil
}

// ---- placement ----

// place tries to start c now; see Cluster.Place.
func (s *Scheduler) place(c *Candidate) Reason {
	if !c.ready {
		return ReasonNotActive
	}
	j := c.job
	if j.state != task.JobActive {
		return ReasonJobNotActive
	}
	if max := j.spec.EffectiveMaxParallelTasks(); max > 0 && j.running >= max {
		return ReasonMaxParallelTasks
	}
	if s.nodes.count == 0 {
		return ReasonNoNodes
	}
	var prefer *nodeRec
	if a := c.spec.AffinityInfo; a != nil {
		prefer = s.nodeByID[a.AffinityID]
	}
	var skip func(*nodeRec) bool
	if j.spec.JobPreparationTask != nil && len(j.prep) > 0 && prepWaits(j.spec.JobPreparationTask) {
		skip = func(n *nodeRec) bool {
			p := j.prep[n]
			return p != nil && p.state == prepFailed
		}
	}
	skip = jobManagerSkip(c, skip)
	picked := s.nodes.pick(c.slots, c.instances, s.fill, prefer, skip, s.pick)
	s.pick = picked[:0]
	if picked == nil {
		if c.instances > 1 {
			return ReasonNotEnoughNodes
		}
		if r := s.jobManagerNotPlaced(c); r != ReasonNone {
			return r
		}
		if skip != nil && s.nodes.nodesWithFree(c.slots) > 0 {
			return ReasonPrepFailed
		}
		return ReasonNoFreeSlots
	}
	s.startTask(c, picked)
	return ReasonNone
}

func prepWaits(p *task.JobPreparationTask) bool { return p.WaitForSuccess == nil || *p.WaitForSuccess }

// startTask assigns c to nodes and starts its attempt (or its nodes' job
// preparation tasks first).
func (s *Scheduler) startTask(c *Candidate, nodes []*nodeRec) {
	j := c.job
	s.unready(c)
	s.attemptID++
	a := s.newAttempt()
	*a = attemptRec{
		a: Attempt{
			ID:    s.attemptID,
			Kind:  AttemptTask,
			JobID: j.spec.ID, TaskID: c.spec.ID,
			Slots:  c.slots,
			Retry:  c.retryCount(),
			Start:  s.now,
			Queued: c.changed,
			Job:    &j.spec, Task: c.spec,
			Dedicated: nodes[0].rec.IsDedicated,
		},
		task: c,
		job:  j,
	}
	a.nodes = append(a.node1[:0:1], nodes...)
	a.a.Nodes = a.name1[:0:1]
	for _, n := range nodes {
		a.a.Nodes = append(a.a.Nodes, n.rec.ID)
		s.holdSlots(n, a)
	}
	s.attempts.put(a)
	c.attempt = a
	j.running++
	j.attempts++
	primary := nodes[0]
	c.placed(primary.rec.ID)
	if pt := j.spec.JobPreparationTask; pt != nil {
		for _, n := range nodes {
			p := j.prep[n]
			if p == nil {
				p = &prepRec{}
				if j.prep == nil {
					j.prep = make(map[*nodeRec]*prepRec)
				}
				j.prep[n] = p
				s.startPrep(j, n, p)
			}
			if p.state == prepRunning && prepWaits(pt) {
				p.waiting = append(p.waiting, a)
				a.prepWait++
			}
		}
	}
	if a.prepWait > 0 {
		s.indexRunning(a)
		s.setTaskState(c, task.TaskPreparing)
		return
	}
	s.launch(a)
}

// launch starts the task's command: the task enters running.
func (s *Scheduler) launch(a *attemptRec) {
	c := a.task
	a.started = true
	a.a.Start = s.now
	s.indexRunning(a)
	if lim := c.spec.WallClockLimit(); lim > 0 {
		a.a.Deadline = s.now.Add(lim.D())
		s.addTimer(a.a.Deadline, timerAttempt, a.a.ID)
	}
	r := c.ensureRun()
	r.start = s.now
	c.setEnd(time.Time{})
	c.clearExit()
	c.setResult("", nil)
	s.setTaskState(c, task.TaskRunning)
	s.act(Action{Kind: ActStartAttempt, Attempt: &a.a})
}

func (s *Scheduler) holdSlots(n *nodeRec, a *attemptRec) {
	n.attempts = append(n.attempts, a)
	if a.a.Slots > 0 {
		s.nodes.setFree(n, n.free-a.a.Slots)
		n.rec.RunningTasksCount++
		n.rec.RunningTaskSlotsCount += a.a.Slots
	}
	s.refreshNode(n)
}

func (s *Scheduler) releaseSlots(n *nodeRec, a *attemptRec) {
	i := slices.Index(n.attempts, a)
	if i < 0 {
		return
	}
	n.attempts = slices.Delete(n.attempts, i, i+1)
	if a.a.Slots > 0 {
		s.nodes.setFree(n, n.free+a.a.Slots)
		n.rec.RunningTasksCount--
		n.rec.RunningTaskSlotsCount -= a.a.Slots
	}
	s.refreshNode(n)
}

// ---- job preparation and release ----

func (s *Scheduler) startPrep(j *jobRec, n *nodeRec, p *prepRec) {
	pt := j.spec.JobPreparationTask
	s.attemptID++
	id := pt.ID
	if id == "" {
		id = "jobpreparation"
	}
	a := &attemptRec{
		a:   Attempt{ID: s.attemptID, Kind: AttemptJobPreparation, JobID: j.spec.ID, TaskID: id, Nodes: []string{n.rec.ID}, Retry: p.retries, Start: s.now, Job: &j.spec, Dedicated: n.rec.IsDedicated},
		job: j, nodes: []*nodeRec{n}, started: true,
	}
	if pt.Constraints != nil && pt.Constraints.MaxWallClockTime != nil && *pt.Constraints.MaxWallClockTime < task.Unlimited {
		a.a.Deadline = s.now.Add(pt.Constraints.MaxWallClockTime.D())
		s.addTimer(a.a.Deadline, timerAttempt, a.a.ID)
	}
	p.state = prepRunning
	p.attempt = a
	s.attempts.put(a)
	n.attempts = append(n.attempts, a)
	j.attempts++
	s.act(Action{Kind: ActStartAttempt, Attempt: &a.a})
}

func (s *Scheduler) prepExited(a *attemptRec, e AttemptExited) {
	j, n := a.job, a.nodes[0]
	p := j.prep[n]
	if p == nil || p.attempt != a {
		return
	}
	p.attempt = nil
	pt := j.spec.JobPreparationTask
	ok := e.Outcome == task.OutcomeExited && e.ExitCode == 0 && a.kill == ""
	if !ok && a.kill == "" && e.Outcome == task.OutcomeExited && j.live() {
		max := 0
		if pt.Constraints != nil && pt.Constraints.MaxTaskRetryCount != nil {
			max = *pt.Constraints.MaxTaskRetryCount
		}
		if max == -1 || p.retries < max {
			p.retries++
			s.startPrep(j, n, p)
			return
		}
	}
	switch {
	case ok:
		p.state = prepSucceeded
	case a.kill == killStartTaskEnd:
		// Killed because the node was leaving: it did not fail, and if
		// the node stays after all it runs again for the next task.
		delete(j.prep, n)
	default:
		p.state = prepFailed
	}
	waiting := p.waiting
	p.waiting = nil
	for _, w := range waiting {
		if w.kill != "" || s.attempts.get(w.a.ID) != w {
			continue
		}
		if ok || !prepWaits(pt) {
			w.prepWait--
			if w.prepWait == 0 {
				s.launch(w)
			}
			continue
		}
		// The prep task failed: the task goes back to active, eligible for
		// another node; not a retry and not a requeue.
		s.endAttempt(w)
		c := w.task
		c.attempt = nil
		s.setTaskState(c, task.TaskActive)
		s.makeReady(c)
	}
	s.maybeFinishJob(j)
}

// startReleases starts the job release task on every node that ran the job's
// preparation task. It reports whether any was started.
func (s *Scheduler) startReleases(j *jobRec) bool {
	rt := j.spec.JobReleaseTask
	if rt == nil || len(j.prep) == 0 {
		return false
	}
	id := rt.ID
	if id == "" {
		id = "jobrelease"
	}
	started := false
	for _, n := range s.nodeList {
		p := j.prep[n]
		if p == nil || p.release || n.rec.State == NodeUnusable || n.rec.State == NodePreempted {
			continue
		}
		p.release = true
		s.attemptID++
		a := &attemptRec{
			a:   Attempt{ID: s.attemptID, Kind: AttemptJobRelease, JobID: j.spec.ID, TaskID: id, Nodes: []string{n.rec.ID}, Start: s.now, Job: &j.spec, Dedicated: n.rec.IsDedicated},
			job: j, nodes: []*nodeRec{n}, started: true,
		}
		// Azure's default (and largest) release task limit is 15 minutes.
		limit := defaultJobReleaseWallClockTime
		if rt.MaxWallClockTime != nil && *rt.MaxWallClockTime < task.Unlimited {
			limit = rt.MaxWallClockTime.D()
		}
		a.a.Deadline = s.now.Add(limit)
		s.addTimer(a.a.Deadline, timerAttempt, a.a.ID)
		s.attempts.put(a)
		n.attempts = append(n.attempts, a)
		j.attempts++
		s.act(Action{Kind: ActStartAttempt, Attempt: &a.a})
		started = true
	}
	return started
}

// ---- attempt exits ----

func (s *Scheduler) attemptExited(e AttemptExited) error {
	a := s.attempts.get(e.ID)
	if a == nil {
		// A late report for an attempt already written off (its node was
		// lost or released). Not an error: drivers race with the core.
		return nil
	}
	switch a.a.Kind {
	case AttemptStartTask:
		s.endAttempt(a)
		s.startTaskExited(a, e)
	case AttemptJobPreparation:
		s.endAttempt(a)
		s.prepExited(a, e)
	case AttemptJobRelease:
		s.endAttempt(a)
		s.maybeFinishJob(a.job)
	case AttemptTask:
		s.endAttempt(a)
		s.taskExited(a, e)
	}
	return nil
}

// endAttempt forgets an attempt and frees what it held on its nodes.
func (s *Scheduler) endAttempt(a *attemptRec) {
	if s.attempts.get(a.a.ID) != a {
		return
	}
	s.attempts.del(a.a.ID)
	s.unindexRunning(a)
	for _, n := range a.nodes {
		s.releaseSlots(n, a)
		if n.leaving && len(n.attempts) == 0 {
			s.releaseNode(n)
		}
	}
	if a.job != nil {
		a.job.attempts--
		if a.task != nil {
			a.job.running--
		}
	}
	if a.task != nil && a.task.attempt == a {
		a.task.attempt = nil
	}
	s.recycle(a)
}

func (s *Scheduler) taskExited(a *attemptRec, e AttemptExited) {
	c := a.task
	j := a.job
	if c.state == task.TaskCompleted {
		s.maybeFinishJob(j)
		return
	}
	c.setRootDir(e.TaskRootDirectory)
	switch a.kill {
	case killRequeue, killNodeLost:
		s.requeue(c)
		s.maybeFinishJob(j)
		return
	}
	// totalTasksRun counts tasks that ended on the node, not attempts cut
	// short and requeued. The primary is the node the task ran on (nodes
	// of a multi-instance task may have been lost meanwhile).
	var primary *nodeRec
	if len(a.nodes) > 0 && a.nodes[0].rec.ID == a.a.Nodes[0] {
		primary = a.nodes[0]
	}
	if a.started && primary != nil {
		primary.rec.TotalTasksRun++
		s.nodeChanged(primary)
	}
	code := e.ExitCode
	c.setExit(code)
	c.setEnd(s.now)
	failure := e.Failure
	kind := e.Outcome
	if kind == task.OutcomePreProcessingError || !a.started {
		// The command never ran (it could not start, or the task was
		// still preparing): there is no exit code.
		c.clearExit()
	}
	switch a.kill {
	case killTimeout:
		failure = &task.FailureInfo{Category: task.UserError, Code: task.FailureMaxWallClockTime, Message: "the task ran longer than its maxWallClockTime and was killed"}
		kind = task.OutcomeExited
		if code == 0 {
			code = -1
			c.setExit(code)
		}
	case killTerminate, killJobEnded, killJobDeleted, killDeallocTerm, killDisableTerm:
		failure = &task.FailureInfo{Category: task.UserError, Code: task.FailureTaskTerminated, Message: "the task was terminated (" + a.kill + ")"}
		s.completeTask(c, task.ResultFailure, failure, task.OutcomeExited, code, false)
		return
	}
	success := kind == task.OutcomeExited && code == 0 && failure == nil
	if success {
		if primary != nil {
			primary.rec.TotalTasksSucceeded++
		}
		s.completeTask(c, task.ResultSuccess, nil, kind, code, true)
		return
	}
	if failure == nil {
		failure = defaultFailure(kind, code)
	}
	// Retries only for a non-zero exit of the command itself.
	if kind == task.OutcomeExited && a.kill == "" && j.live() {
		max := c.spec.MaxRetries(&j.spec)
		if max == -1 || c.retryCount() < max {
			m := c.extra()
			m.retryCount++
			m.lastRetry = s.now
			c.setResult(task.ResultFailure, failure)
			s.setTaskState(c, task.TaskActive)
			s.makeReady(c)
			return
		}
	}
	s.completeTask(c, task.ResultFailure, failure, kind, code, true)
}

// defaultFailure is the failureInfo of a failed attempt whose driver
// reported none.
func defaultFailure(kind task.OutcomeKind, code int) *task.FailureInfo {
	switch kind {
	case task.OutcomePreProcessingError:
		return &task.FailureInfo{Category: task.UserError, Code: failureCommandLaunch, Message: "the task could not be started (pre-processing error)"}
	case task.OutcomeFileUploadError:
		return &task.FailureInfo{Category: task.UserError, Code: task.FailureFileUpload, Message: "the task's output files could not be uploaded"}
	}
	return &task.FailureInfo{Category: task.UserError, Code: task.FailureNonZeroExit, Message: "the task exited with code " + strconv.Itoa(code)}
}

// failureCommandLaunch is Azure's failureInfo code for a task whose command
// could not be launched; used for pre-processing errors the driver did not
// describe.
const failureCommandLaunch = "CommandLaunchFailed"

// requeue returns a task whose attempt was cut short (node lost, removed or
// job disabled with requeue) to active: requeueCount+1, not a retry.
func (s *Scheduler) requeue(c *Candidate) {
	m := c.extra()
	m.requeueCount++
	m.lastRequeue = s.now
	s.setTaskState(c, task.TaskActive)
	s.makeReady(c)
}

// completeTask finishes c and applies its exit options when applyExit.
func (s *Scheduler) completeTask(c *Candidate, result task.TaskResult, failure *task.FailureInfo, kind task.OutcomeKind, code int, applyExit bool) {
	j := c.job
	s.unready(c)
	c.setResult(result, failure)
	if c.endTime().IsZero() {
		c.setEnd(s.now)
	}
	s.setTaskState(c, task.TaskCompleted)
	j.incomplete--
	if result == task.ResultSuccess {
		j.counts.Succeeded++
		j.slotCounts.Succeeded += c.slots * c.instances
	} else {
		j.counts.Failed++
		j.slotCounts.Failed += c.slots * c.instances
	}
	opts := task.ExitOptions{JobAction: task.JobActionNone, DependencyAction: task.DependencyActionBlock}
	if result == task.ResultSuccess {
		opts.DependencyAction = task.DependencyActionSatisfy
	}
	if applyExit {
		opts = c.spec.ExitConditions.Resolve(kind, code)
	}
	c.depsSatisfied = opts.DependencyAction == task.DependencyActionSatisfy
	var children []*Candidate
	if c.children != nil {
		children = *c.children
		c.children = nil
	}
	for _, ch := range children {
		if ch.state != task.TaskActive {
			continue
		}
		if c.depsSatisfied {
			ch.unmet--
			s.makeReady(ch)
		} else {
			ch.blocked = true
		}
	}
	if applyExit && j.spec.OnTaskFailure == task.OnTaskFailurePerformExitOptionsJobAction && j.state == task.JobActive {
		switch opts.JobAction {
		case task.JobActionDisable:
			s.disableJobNow(j, DisableRequeue)
		case task.JobActionTerminate:
			s.terminateJob(j, task.TerminateReasonTaskFailed)
		}
	}
	s.jobManagerCompleted(c)
	s.maybeFinishJob(j)
}

// maybeFinishJob moves a job forward when nothing of it runs any more: a
// terminating job completes (after release tasks), a disabling job becomes
// disabled, a deleting job disappears, and an active job whose tasks all
// completed terminates if onAllTasksComplete says so.
func (s *Scheduler) maybeFinishJob(j *jobRec) {
	switch j.state {
	case task.JobActive:
		if j.incomplete == 0 && len(j.order) > 0 && j.spec.OnAllTasksComplete == task.OnAllTasksCompleteTerminateJob {
			s.terminateJob(j, task.TerminateReasonAllTasksComplete)
		}
	case task.JobDisabling:
		if j.running == 0 {
			s.setJobState(j, task.JobDisabled)
		}
	case task.JobTerminating:
		if j.attempts == 0 {
			if s.startReleases(j) {
				return
			}
			j.exec.EndTime = s.now
			j.exec.TerminationReason = j.endReason
			s.setJobState(j, task.JobCompleted)
		}
	case task.JobDeleting:
		if j.attempts == 0 {
			// Deleting a job that had not ended runs its release
			// tasks first, as terminating it would.
			if j.releaseOnDelete && s.startReleases(j) {
				return
			}
			delete(s.jobs, task.FoldID(j.spec.ID))
			delete(s.jobBySeq, j.seq)
			s.change(Change{Kind: ChangeJobDeleted, JobID: j.spec.ID})
		}
	}
}

// ---- killing ----

// killAttempt decides to kill a; the task's fate is settled when its exit
// arrives, so that a task never runs twice at once.
func (s *Scheduler) killAttempt(a *attemptRec, reason string) {
	if a.kill != "" {
		// A kill is already on its way. A requeue gives way to a kill
		// that ends the task (terminate, job ended or deleted, timeout):
		// the kill action was sent, only the task's fate changes.
		if a.kill == killRequeue && reason != killRequeue && a.started {
			a.kill = reason
		}
		return
	}
	a.kill = reason
	if !a.started {
		// Still waiting for preparation tasks: nothing runs yet.
		s.endAttempt(a)
		s.taskExited(a, AttemptExited{ID: a.a.ID, Outcome: task.OutcomeExited, ExitCode: -1})
		return
	}
	s.act(Action{Kind: ActKillAttempt, Attempt: &a.a, Reason: reason})
}

func (s *Scheduler) terminateTask(e TerminateTask) error {
	c, err := s.task(e.JobID, e.TaskID)
	if err != nil {
		return err
	}
	switch c.state {
	case task.TaskCompleted:
		return nil
	case task.TaskActive:
		failure := &task.FailureInfo{Category: task.UserError, Code: task.FailureTaskTerminated, Message: "the task was terminated before it ran"}
		s.completeTask(c, task.ResultFailure, failure, task.OutcomeExited, 0, false)
		c.clearExit()
	default:
		s.killAttempt(c.attempt, killTerminate)
	}
	return nil
}

func (s *Scheduler) terminateJobEvent(e TerminateJob) error {
	j, err := s.job(e.JobID)
	if err != nil {
		return err
	}
	if !j.live() {
		if j.state == task.JobDeleting {
			return task.Errorf(task.CodeJobBeingDeleted, "jobId", e.JobID, "the job is being deleted")
		}
		return nil
	}
	reason := e.Reason
	if reason == "" {
		reason = task.TerminateReasonUser
	}
	s.terminateJob(j, reason)
	return nil
}

// terminateJob kills the job's running tasks; active tasks stay active (as
// in Azure) and never run. The job completes when the kills are confirmed
// and release tasks have run.
func (s *Scheduler) terminateJob(j *jobRec, reason string) {
	if !j.live() {
		return
	}
	j.endReason = reason
	s.setJobState(j, task.JobTerminating)
	for _, c := range j.order {
		s.unready(c)
	}
	// Job preparation tasks are the job's tasks too: kill them, or the job
	// would wait for them to end by themselves.
	s.killJobAttempts(j, killJobEnded, true)
	s.maybeFinishJob(j)
}

// killJobAttempts kills the job's task attempts (and prep tasks if
// alsoPrep), in attempt order.
func (s *Scheduler) killJobAttempts(j *jobRec, reason string, alsoPrep bool) {
	var list []*attemptRec
	for _, a := range s.attempts.all() {
		if a.job == j && (a.task != nil || alsoPrep) {
			list = append(list, a)
		}
	}
	slices.SortFunc(list, func(x, y *attemptRec) int { return compareU64(x.a.ID, y.a.ID) })
	for _, a := range list {
		s.killAttempt(a, reason)
	}
}

func (s *Scheduler) disableJob(e DisableJob) error {
	j, err := s.job(e.JobID)
	if err != nil {
		return err
	}
	switch e.Option {
	case "", DisableRequeue, DisableTerminate, DisableWait:
	default:
		return task.Invalid("disableTasks", e.Option, "want requeue, terminate or wait")
	}
	switch j.state {
	case task.JobActive:
	case task.JobDisabling, task.JobDisabled:
		return nil // as in Azure: disabling a disabled job is accepted and changes nothing
	default:
		return task.Errorf(task.CodeJobNotActive, "jobId", e.JobID, "the job is %s; only active, disabling or disabled jobs can be disabled", j.state)
	}
	opt := e.Option
	if opt == "" {
		opt = DisableRequeue
	}
	s.disableJobNow(j, opt)
	return nil
}

func (s *Scheduler) disableJobNow(j *jobRec, opt DisableJobOption) {
	j.disableOpt = opt
	s.setJobState(j, task.JobDisabling)
	for _, c := range j.order {
		s.unready(c)
	}
	switch opt {
	case DisableRequeue:
		s.killJobAttempts(j, killRequeue, false)
	case DisableTerminate:
		s.killJobAttempts(j, killDisableTerm, false)
	}
	s.maybeFinishJob(j)
}

func (s *Scheduler) enableJob(e EnableJob) error {
	j, err := s.job(e.JobID)
	if err != nil {
		return err
	}
	switch j.state {
	case task.JobActive:
		return nil
	case task.JobDisabled, task.JobDisabling:
	default:
		return task.Errorf(task.CodeJobNotActive, "jobId", e.JobID, "the job is %s; only disabled jobs can be enabled", j.state)
	}
	s.setJobState(j, task.JobEnabling)
	s.setJobState(j, task.JobActive)
	for _, c := range j.order {
		s.makeReady(c)
	}
	// Its tasks may all have completed while it was disabled.
	s.maybeFinishJob(j)
	return nil
}

func (s *Scheduler) deleteJob(e DeleteJob) error {
	j, err := s.job(e.JobID)
	if err != nil {
		return err
	}
	if j.state == task.JobDeleting {
		return nil
	}
	j.releaseOnDelete = j.live()
	s.setJobState(j, task.JobDeleting)
	for _, c := range j.order {
		s.unready(c)
	}
	s.killJobAttempts(j, killJobDeleted, true)
	s.maybeFinishJob(j)
	return nil
}
