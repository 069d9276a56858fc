package pool

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/embatch/embatch/task"
)

// schedulable reports whether n may take new tasks.
func (n *nodeRec) schedulable() bool {
	return (n.rec.State == NodeIdle || n.rec.State == NodeRunning) &&
		n.rec.SchedulingState == SchedulingEnabled && !n.leaving
}

// setNodeState moves n to st and re-derives whether it is schedulable.
func (s *Scheduler) setNodeState(n *nodeRec, st NodeState) {
	if n.rec.State != st {
		n.rec.State = st
		n.rec.StateTransitionTime = s.now
		s.nodeChanged(n)
	}
	s.markBusy(n)
	s.refreshNode(n)
}

// markBusy keeps n.busy and s.busyNodes in step with n's state (a node that
// left the pool counts no more).
func (s *Scheduler) markBusy(n *nodeRec) {
	busy := (n.rec.State == NodeCreating || n.leaving) && s.nodeByID[n.rec.ID] == n
	if busy != n.busy {
		n.busy = busy
		if busy {
			s.busyNodes++
		} else {
			s.busyNodes--
		}
	}
}

// refreshNode derives idle/running/offline from the node's tasks and
// scheduling state, and keeps the free-slot index in step.
func (s *Scheduler) refreshNode(n *nodeRec) {
	switch n.rec.State {
	case NodeIdle, NodeRunning, NodeOffline:
		st := NodeIdle
		switch {
		case n.rec.RunningTasksCount > 0:
			st = NodeRunning
		case n.rec.SchedulingState == SchedulingDisabled:
			st = NodeOffline
		}
		if st != n.rec.State {
			n.rec.State = st
			n.rec.StateTransitionTime = s.now
			s.nodeChanged(n)
		}
	}
	if n.schedulable() {
		if !n.indexed {
			s.nodes.add(n)
			s.dirty = true
		}
	} else {
		s.nodes.drop(n)
	}
}

func (s *Scheduler) node(id string) (*nodeRec, error) {
	n := s.nodeByID[id]
	if n == nil {
		return nil, task.Errorf(task.CodeNodeNotFound, "nodeId", id, "pool %q has no such node", s.spec.ID)
	}
	return n, nil
}

// ---- resizing ----

func (s *Scheduler) resizeEvent(e Resize) error {
	if s.deleting {
		return &task.Error{Code: task.CodePoolBeingDeleted, Field: "poolId", Value: s.spec.ID, Message: "the pool is being deleted"}
	}
	if s.autoScaling() {
		return task.Errorf(task.CodeOperationInvalidForState, "enableAutoScale", true, "pool %q is sized by its autoscale formula; disable autoscaling before resizing it by hand", s.spec.ID)
	}
	if e.TargetDedicatedNodes < 0 {
		return task.Invalid("targetDedicatedNodes", e.TargetDedicatedNodes, "must be 0 or more")
	}
	if e.TargetLowPriorityNodes < 0 {
		return task.Invalid("targetLowPriorityNodes", e.TargetLowPriorityNodes, "must be 0 or more")
	}
	if e.Timeout < 0 {
		return task.Invalid("resizeTimeout", e.Timeout, "must be positive")
	}
	if err := e.DeallocationOption.validate("nodeDeallocationOption"); err != nil {
		return err
	}
	if s.alloc != AllocationSteady {
		return task.Errorf(task.CodePoolNotSteady, "allocationState", s.alloc, "a pool can be resized only when its allocation state is steady")
	}
	s.resizeErrors = nil
	s.resize(e.TargetDedicatedNodes, e.TargetLowPriorityNodes, e.Timeout, e.DeallocationOption.orDefault())
	return nil
}

// resize moves the node counts toward new targets.
func (s *Scheduler) resize(dedicated, lowPriority int, timeout time.Duration, opt DeallocationOption) {
	s.spec.TargetDedicatedNodes, s.spec.TargetLowPriorityNodes = dedicated, lowPriority
	s.adjust(true, dedicated, opt)
	s.adjust(false, lowPriority, opt)
	if timeout <= 0 {
		timeout = DefaultResizeTimeout
		if s.spec.ResizeTimeout != nil {
			timeout = s.spec.ResizeTimeout.D()
		}
	}
	s.updateAlloc(timeout)
	s.change(Change{Kind: ChangePool})
}

func (s *Scheduler) adjust(dedicated bool, target int, opt DeallocationOption) {
	var members []*nodeRec
	for _, n := range s.nodeList {
		if n.rec.IsDedicated == dedicated && !n.leaving {
			members = append(members, n)
		}
	}
	for i := len(members); i < target; i++ {
		s.allocateNode(dedicated)
	}
	if len(members) <= target {
		return
	}
	// Remove the nodes that cost least to lose: not yet up, then broken,
	// then idle, then offline, then busy (fewest busy slots first); newest
	// first among equals.
	rank := func(n *nodeRec) int {
		switch n.rec.State {
		case NodeCreating:
			return 0
		case NodeStarting, NodeUnusable, NodeStartTaskFailed, NodePreempted, NodeUnknown, NodeWaitingForStartTask:
			return 1
		case NodeIdle:
			return 2
		case NodeOffline:
			return 3
		}
		return 4
	}
	slices.SortStableFunc(members, func(a, b *nodeRec) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.rec.RunningTaskSlotsCount, b.rec.RunningTaskSlotsCount); c != 0 {
			return c
		}
		return cmp.Compare(b.idx, a.idx)
	})
	for _, n := range members[:len(members)-target] {
		s.startLeaving(n, opt)
	}
}

func (s *Scheduler) allocateNode(dedicated bool) {
	s.nodeSeq++
	n := &nodeRec{
		rec: Node{
			ID:                  "tvm-" + strconv.Itoa(s.nodeSeq),
			State:               NodeCreating,
			SchedulingState:     SchedulingEnabled,
			StateTransitionTime: s.now,
			IsDedicated:         dedicated,
			VMSize:              s.spec.VMSize,
		},
		idx:  s.nodeSeq,
		free: s.slotsPerNode,
	}
	n.rec.AffinityID = n.rec.ID
	s.nodeList = append(s.nodeList, n)
	s.nodeByID[n.rec.ID] = n
	s.markBusy(n)
	s.nodeChanged(n)
	s.act(Action{Kind: ActAllocateNode, Node: n.rec.ID, Dedicated: dedicated})
}

// updateAlloc recomputes the allocation state: resizing while any node is
// arriving or leaving.
func (s *Scheduler) updateAlloc(timeout time.Duration) {
	busy := s.busyNodes > 0
	switch {
	case busy && s.alloc == AllocationSteady:
		s.alloc, s.allocChanged = AllocationResizing, s.now
		s.resizeGen++
		if timeout <= 0 {
			timeout = DefaultResizeTimeout
		}
		s.addTimer(s.now.Add(timeout), timerResize, s.resizeGen)
		s.change(Change{Kind: ChangePool})
	case !busy && s.alloc != AllocationSteady:
		s.alloc, s.allocChanged = AllocationSteady, s.now
		s.change(Change{Kind: ChangePool})
	}
}

// resizeTimedOut ends a resize that outlived its timeout the way
// stopResize does: nodes that have not arrived are released, nodes still
// draining stay, and the pool is steady with Azure's AllocationTimedout
// error. (Leaving draining nodes to go on leaving would flip a steady pool
// back to resizing, with a new timeout, when the next of them leaves.)
func (s *Scheduler) resizeTimedOut() {
	s.resizeErrors = append(s.resizeErrors, ResizeError{Code: "AllocationTimedout", Message: "the resize did not finish within resizeTimeout; it was stopped"})
	s.endResize()
}

// endResize stops the resize in progress: nodes still being created are
// released, nodes leaving with attempts on them stay in the pool (a deleting
// pool lets them go on leaving), and the pool is steady.
func (s *Scheduler) endResize() {
	s.cancelArrivals()
	if !s.deleting {
		for _, n := range s.nodeList {
			if n.leaving && len(n.attempts) > 0 {
				n.leaving = false
				s.markBusy(n)
				s.setNodeState(n, s.upState(n))
			}
		}
	}
	s.alloc, s.allocChanged = AllocationSteady, s.now
	s.change(Change{Kind: ChangePool})
}

// cancelArrivals releases nodes still being created.
func (s *Scheduler) cancelArrivals() {
	for _, n := range slices.Clone(s.nodeList) {
		if n.rec.State == NodeCreating {
			s.releaseNode(n)
		}
	}
}

// upState is the state of a node that is up: waiting for its start task,
// failed it, or idle (refreshNode turns that into running or offline).
func (s *Scheduler) upState(n *nodeRec) NodeState {
	if st := s.spec.StartTask; st != nil && st.Waits() {
		if n.startTask != nil {
			return NodeWaitingForStartTask
		}
		if info := n.rec.StartTaskInfo; info != nil && info.Result == task.ResultFailure {
			return NodeStartTaskFailed
		}
	}
	return NodeIdle
}

func (s *Scheduler) stopResize() error {
	if s.alloc != AllocationResizing {
		return task.Errorf(task.CodePoolNotSteady, "allocationState", s.alloc, "only a resizing pool can stop resizing")
	}
	s.resizeErrors = append(s.resizeErrors, ResizeError{Code: "ResizeStopped", Message: "the user stopped the resize"})
	s.endResize()
	return nil
}

func (s *Scheduler) removeNodes(e RemoveNodes) error {
	if err := e.DeallocationOption.validate("nodeDeallocationOption"); err != nil {
		return err
	}
	if len(e.Nodes) == 0 {
		return task.Missing("nodeList")
	}
	if len(e.Nodes) > 100 {
		return task.Invalid("nodeList", len(e.Nodes), "at most 100 nodes per request")
	}
	if s.alloc != AllocationSteady {
		return task.Errorf(task.CodePoolNotSteady, "allocationState", s.alloc, "nodes can be removed only when the pool is steady")
	}
	seen := map[string]bool{}
	var list []*nodeRec
	for i, id := range e.Nodes {
		n, err := s.node(id)
		if err != nil {
			return task.WithFieldPrefix(fmt.Sprintf("nodeList[%d]", i), err)
		}
		if seen[id] {
			return task.Invalid(fmt.Sprintf("nodeList[%d]", i), id, "node listed twice")
		}
		seen[id] = true
		if n.leaving {
			return task.Errorf(task.CodeOperationInvalidForState, fmt.Sprintf("nodeList[%d]", i), id, "the node is already leaving the pool")
		}
		list = append(list, n)
	}
	opt := e.DeallocationOption.orDefault()
	for _, n := range list {
		if n.rec.IsDedicated {
			// A node kept by a stopped or timed-out resize may sit above
			// the target already; the target never goes below zero.
			s.spec.TargetDedicatedNodes = max(0, s.spec.TargetDedicatedNodes-1)
		} else {
			s.spec.TargetLowPriorityNodes = max(0, s.spec.TargetLowPriorityNodes-1)
		}
		s.startLeaving(n, opt)
	}
	timeout := DefaultResizeTimeout
	if s.spec.ResizeTimeout != nil {
		timeout = s.spec.ResizeTimeout.D()
	}
	s.updateAlloc(timeout)
	s.change(Change{Kind: ChangePool})
	return nil
}

// startLeaving takes n out of service; it is released once its attempts
// are gone.
func (s *Scheduler) startLeaving(n *nodeRec, opt DeallocationOption) {
	n.leaving, n.leaveOpt = true, opt
	s.markBusy(n)
	if n.rec.State == NodeCreating {
		s.releaseNode(n)
		return
	}
	s.setNodeState(n, NodeLeavingPool)
	for _, a := range slices.Clone(n.attempts) {
		switch {
		case a.task != nil && opt == DeallocRequeue:
			s.killAttempt(a, killRequeue)
		case a.task != nil && opt == DeallocTerminate:
			s.killAttempt(a, killDeallocTerm)
		case a.a.Kind == AttemptStartTask:
			s.killAttempt(a, killStartTaskEnd)
		case a.a.Kind == AttemptJobPreparation && (opt == DeallocRequeue || opt == DeallocTerminate):
			s.killAttempt(a, killStartTaskEnd)
		}
	}
	if len(n.attempts) == 0 {
		s.releaseNode(n)
	}
}

// releaseNode removes n from the pool and tells the driver to release it.
func (s *Scheduler) releaseNode(n *nodeRec) {
	if s.nodeByID[n.rec.ID] != n {
		return
	}
	s.nodes.drop(n)
	if n.busy {
		n.busy = false
		s.busyNodes--
	}
	delete(s.nodeByID, n.rec.ID)
	s.nodeList = slices.DeleteFunc(s.nodeList, func(x *nodeRec) bool { return x == n })
	for _, j := range s.jobs {
		delete(j.prep, n)
	}
	s.change(Change{Kind: ChangeNodeRemoved, NodeID: n.rec.ID})
	s.act(Action{Kind: ActReleaseNode, Node: n.rec.ID, Dedicated: n.rec.IsDedicated})
	s.updateAlloc(0)
}

// ---- node lifecycle ----

func (s *Scheduler) nodeReady(e NodeReady) error {
	n := s.nodeByID[e.Node]
	if n == nil {
		return nil // released before it came up
	}
	if n.leaving {
		if len(n.attempts) == 0 {
			s.releaseNode(n)
		}
		return nil
	}
	switch n.rec.State {
	case NodeCreating, NodeStarting, NodePreempted, NodeUnusable, NodeUnknown, NodeRebooting:
	default:
		return nil
	}
	if n.rec.AllocationTime.IsZero() {
		n.rec.AllocationTime = s.now
	}
	// A node that comes back has rebooted: job preparation reruns unless
	// it succeeded and rerunOnNodeRebootAfterSuccess is false.
	for _, j := range s.jobs {
		p := j.prep[n]
		if p == nil {
			continue
		}
		pt := j.spec.JobPreparationTask
		keep := p.state == prepSucceeded && pt.RerunOnNodeRebootAfterSuccess != nil && !*pt.RerunOnNodeRebootAfterSuccess
		if !keep {
			delete(j.prep, n)
		}
	}
	if st := s.spec.StartTask; st != nil {
		n.startTries = 0
		n.rec.StartTaskInfo = nil
		s.runStartTask(n)
		if st.Waits() {
			s.setNodeState(n, NodeWaitingForStartTask)
		} else {
			s.setNodeState(n, NodeIdle)
		}
	} else {
		s.setNodeState(n, NodeIdle)
	}
	s.updateAlloc(0)
	return nil
}

func (s *Scheduler) runStartTask(n *nodeRec) {
	s.attemptID++
	a := &attemptRec{
		a:     Attempt{ID: s.attemptID, Kind: AttemptStartTask, Nodes: []string{n.rec.ID}, Retry: n.startTries, Start: s.now, StartTask: s.spec.StartTask, Dedicated: n.rec.IsDedicated},
		nodes: []*nodeRec{n}, started: true,
	}
	s.attempts.put(a)
	n.attempts = append(n.attempts, a)
	n.startTask = a
	n.rec.StartTaskInfo = &StartTaskInfo{State: "running", StartTime: s.now, RetryCount: n.startTries}
	s.nodeChanged(n)
	s.act(Action{Kind: ActStartAttempt, Attempt: &a.a})
}

func (s *Scheduler) startTaskExited(a *attemptRec, e AttemptExited) {
	n := a.nodes[0]
	if n.startTask != a {
		return
	}
	n.startTask = nil
	if s.nodeByID[n.rec.ID] != n || n.leaving {
		return
	}
	if a.kill == killStartTaskEnd {
		// Killed because the node was leaving, which was then called
		// off (stopResize or a resize timeout): run it again.
		s.runStartTask(n)
		return
	}
	code := e.ExitCode
	info := n.rec.StartTaskInfo
	info.State, info.EndTime, info.ExitCode = "completed", s.now, &code
	ok := e.Outcome == task.OutcomeExited && code == 0 && a.kill == ""
	if ok {
		info.Result = task.ResultSuccess
		info.FailureInfo = nil
		s.nodeChanged(n)
		if n.rec.State == NodeWaitingForStartTask {
			s.setNodeState(n, NodeIdle)
		}
		return
	}
	info.Result = task.ResultFailure
	info.FailureInfo = e.Failure
	if info.FailureInfo == nil {
		info.FailureInfo = &task.FailureInfo{Category: task.UserError, Code: task.FailureNonZeroExit, Message: "the start task exited with code " + strconv.Itoa(code)}
	}
	st := s.spec.StartTask
	if a.kill == "" && (st.MaxTaskRetryCount == -1 || n.startTries < st.MaxTaskRetryCount) {
		n.startTries++
		s.runStartTask(n)
		return
	}
	s.nodeChanged(n)
	if st.Waits() {
		s.setNodeState(n, NodeStartTaskFailed)
	}
}

func (s *Scheduler) nodeFailed(e NodeFailed) error {
	n := s.nodeByID[e.Node]
	if n == nil {
		return nil
	}
	// Mark the node down first: writing off its attempts may end jobs,
	// and their release tasks must not start on this node.
	st := NodeUnusable
	if e.Preempted {
		st = NodePreempted
	}
	s.setNodeState(n, st)
	lost := slices.Clone(n.attempts)
	slices.SortFunc(lost, func(x, y *attemptRec) int { return compareU64(x.a.ID, y.a.ID) })
	for _, a := range lost {
		s.nodeLostAttempt(a, n)
	}
	for _, j := range s.jobs {
		if p := j.prep[n]; p != nil && p.state != prepSucceeded {
			delete(j.prep, n)
		}
	}
	if n.leaving {
		s.releaseNode(n)
		return nil
	}
	s.updateAlloc(0)
	return nil
}

// nodeLostAttempt writes off an attempt whose node n is gone: tasks are
// requeued at once (their process is gone with the node); the other
// instances of a multi-instance task are killed, and it is requeued when
// that kill is confirmed.
func (s *Scheduler) nodeLostAttempt(a *attemptRec, n *nodeRec) {
	if s.attempts.get(a.a.ID) != a {
		return
	}
	if a.task != nil && a.started && len(a.nodes) > 1 {
		// A multi-instance task lost one of its nodes. Its other
		// instances still run until killed: free the lost node now and
		// the others when the kill is confirmed (AttemptExited), so that
		// no slot is handed out twice.
		s.releaseSlots(n, a)
		a.nodes = slices.DeleteFunc(a.nodes, func(x *nodeRec) bool { return x == n })
		switch a.kill {
		case "":
			s.act(Action{Kind: ActKillAttempt, Attempt: &a.a, Reason: killNodeLost})
			a.kill = killNodeLost
		case killRequeue:
			a.kill = killNodeLost
		}
		return
	}
	prevKill := a.kill
	a.kill = killNodeLost
	s.endAttempt(a)
	switch a.a.Kind {
	case AttemptTask:
		if prevKill != "" && prevKill != killRequeue {
			a.kill = prevKill // it was being killed for good: settle that
		}
		s.taskExited(a, AttemptExited{ID: a.a.ID, Outcome: task.OutcomeExited, ExitCode: -1})
	case AttemptJobPreparation:
		p := a.job.prep[a.nodes[0]]
		if p != nil && p.attempt == a {
			p.attempt = nil
			for _, w := range p.waiting {
				if s.attempts.get(w.a.ID) == w {
					s.nodeLostAttempt(w, n)
				}
			}
			delete(a.job.prep, a.nodes[0])
		}
		s.maybeFinishJob(a.job)
	case AttemptJobRelease:
		s.maybeFinishJob(a.job)
	case AttemptStartTask:
		a.nodes[0].startTask = nil
	}
}

func (s *Scheduler) setNodeScheduling(e SetNodeScheduling) error {
	n, err := s.node(e.Node)
	if err != nil {
		return err
	}
	switch e.Option {
	case "", DeallocRequeue, DeallocTerminate, DeallocTaskCompletion:
	default:
		return task.Invalid("nodeDisableSchedulingOption", e.Option, "want requeue, terminate or taskcompletion")
	}
	want := SchedulingDisabled
	if e.Enabled {
		want = SchedulingEnabled
	}
	if n.rec.SchedulingState == want {
		if e.Enabled {
			return nil
		}
		return task.Errorf(task.CodeNodeAlreadyInTargetState, "nodeId", e.Node, "scheduling is already disabled on the node")
	}
	n.rec.SchedulingState = want
	s.nodeChanged(n)
	if !e.Enabled {
		for _, a := range slices.Clone(n.attempts) {
			if a.task == nil {
				continue
			}
			switch e.Option.orDefault() {
			case DeallocRequeue:
				s.killAttempt(a, killRequeue)
			case DeallocTerminate:
				s.killAttempt(a, killDeallocTerm)
			}
		}
	}
	s.refreshNode(n)
	return nil
}

func (s *Scheduler) deletePool() {
	if s.deleting {
		return
	}
	s.deleting = true
	s.spec.TargetDedicatedNodes, s.spec.TargetLowPriorityNodes = 0, 0
	for _, n := range slices.Clone(s.nodeList) {
		if !n.leaving {
			s.startLeaving(n, DeallocRequeue)
		}
	}
	// The pool is resizing to zero until the last node has left, whether
	// or not some node left at once.
	s.updateAlloc(0)
	s.change(Change{Kind: ChangePool})
}
