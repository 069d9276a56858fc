package scenario

import (
	"fmt"
	"strings"
	"time"

	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/sim"
	"github.com/embatch/embatch/task"
)

// print runs a state command.
func (r *Runner) print(cmd string, a *args) error {
	s := r.drv.Core()
	out := &r.out
	switch cmd {
	case "deadline":
		fmt.Fprintf(out, "%s\n", fmtTime(s.NextDeadline()))
	case "reservations":
		res, ok := r.policy.(pool.Reserver)
		if !ok {
			return fmt.Errorf("policy %q makes no reservations", s.PolicyName())
		}
		n := 0
		res.Reservations(func(res pool.Reservation) bool {
			fmt.Fprintf(out, "%s/%s at %s\n", res.JobID, res.TaskID, fmtTime(res.At))
			n++
			return true
		})
		if n == 0 {
			out.WriteString("none\n")
		}
	case "pool-state":
		p := s.Pool()
		fmt.Fprintf(out, "pool %s %s %s target=%d/%d current=%d/%d free=%d",
			p.ID, p.State, p.AllocationState, p.TargetDedicatedNodes, p.TargetLowPriorityNodes,
			p.CurrentDedicatedNodes, p.CurrentLowPriorityNodes, s.FreeSlots())
		for _, e := range p.ResizeErrors {
			fmt.Fprintf(out, " error=%s", e.Code)
		}
		if s.Deleted() {
			out.WriteString(" deleted")
		}
		out.WriteByte('\n')
	case "nodes":
		p := s.Pool()
		slots := p.Slots()
		for _, n := range s.Nodes() {
			out.WriteString(fmtNode(n, slots))
			out.WriteByte('\n')
		}
	case "jobs":
		for _, j := range s.Jobs() {
			out.WriteString(JobLine(j))
			out.WriteByte('\n')
		}
	case "tasks-state":
		j, err := a.mustStr("job")
		if err != nil {
			return err
		}
		if err := s.RangeTasks(j, func(t *task.Task) bool {
			out.WriteString(fmtTask(s, j, t))
			out.WriteByte('\n')
			return true
		}); err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
		}
	case "counts":
		j, err := a.mustStr("job")
		if err != nil {
			return err
		}
		c, err := s.TaskCounts(j)
		if err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
			return nil
		}
		fmt.Fprintf(out, "tasks: %s\nslots: %s\n", fmtCounts(c.TaskCounts), fmtCounts(c.TaskSlotCounts))
	case "why":
		return r.why(a)
	case "attempts":
		for _, id := range r.Started() {
			at := r.started[id]
			fmt.Fprintf(out, "#%d %s", id, at.Kind)
			if at.JobID != "" {
				fmt.Fprintf(out, " %s/%s", at.JobID, at.TaskID)
			}
			fmt.Fprintf(out, " on %s start=%s", strings.Join(at.Nodes, ","), fmtTime(at.Start))
			if !at.Deadline.IsZero() {
				fmt.Fprintf(out, " deadline=%s", fmtTime(at.Deadline))
			}
			if reason := r.killing[id]; reason != "" {
				fmt.Fprintf(out, " killing(%s)", reason)
			}
			out.WriteByte('\n')
		}
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	return nil
}

func (r *Runner) why(a *args) error {
	s := r.drv.Core()
	j, err := a.mustStr("job")
	if err != nil {
		return err
	}
	t, ok, err := a.str("task")
	if err != nil {
		return err
	}
	var ids []string
	if ok {
		ids = []string{t}
	} else if err := s.RangeTasks(j, func(t *task.Task) bool {
		ids = append(ids, t.ID)
		return true
	}); err != nil {
		fmt.Fprintf(&r.out, "error: %v\n", err)
		return nil
	}
	for _, id := range ids {
		reason, err := s.Why(j, id)
		switch {
		case err != nil:
			fmt.Fprintf(&r.out, "%s: error: %v\n", id, err)
		case reason == pool.ReasonNone:
			fmt.Fprintf(&r.out, "%s: -\n", id)
		default:
			fmt.Fprintf(&r.out, "%s: %s\n", id, reason)
		}
	}
	return nil
}

// fmtTime prints t as the virtual time since the scenario's start (sim.Epoch).
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Sub(sim.Epoch).String()
}

// ChangeLine is how a Change is printed ("task j/t running").
func ChangeLine(c pool.Change) string {
	switch c.Kind {
	case pool.ChangePool:
		return "pool"
	case pool.ChangeNode:
		return "node " + c.NodeID + " " + c.NodeState.String()
	case pool.ChangeNodeRemoved:
		return "node " + c.NodeID + " removed"
	case pool.ChangeJob:
		return "job " + c.JobID + " " + c.JobState.String()
	case pool.ChangeJobDeleted:
		return "job " + c.JobID + " deleted"
	case pool.ChangeTask:
		return "task " + c.JobID + "/" + c.TaskID + " " + c.TaskState.String()
	}
	return fmt.Sprintf("invalid change %d", c.Kind)
}

func fmtNode(n pool.Node, slotsPerNode int) string {
	var b strings.Builder
	kind := "dedicated"
	if !n.IsDedicated {
		kind = "lowpriority"
	}
	fmt.Fprintf(&b, "%s %s %s", n.ID, kind, n.State)
	if n.SchedulingState != pool.SchedulingEnabled {
		fmt.Fprintf(&b, " scheduling=%s", n.SchedulingState)
	}
	fmt.Fprintf(&b, " tasks=%d slots=%d/%d run=%d ok=%d", n.RunningTasksCount, n.RunningTaskSlotsCount, slotsPerNode, n.TotalTasksRun, n.TotalTasksSucceeded)
	if st := n.StartTaskInfo; st != nil {
		fmt.Fprintf(&b, " starttask=%s", st.State)
		if st.Result != "" {
			fmt.Fprintf(&b, "/%s", st.Result)
		}
		if st.ExitCode != nil {
			fmt.Fprintf(&b, " exit=%d", *st.ExitCode)
		}
		fmt.Fprintf(&b, " retry=%d", st.RetryCount)
	}
	return b.String()
}

// JobLine is how the jobs command prints a job.
func JobLine(j task.Job) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s prio=%d", j.ID, j.State, j.Priority)
	if j.PreviousState != task.JobStateInvalid {
		fmt.Fprintf(&b, " prev=%s", j.PreviousState)
	}
	if r := j.ExecutionInfo.TerminationReason; r != "" {
		fmt.Fprintf(&b, " reason=%s", r)
	}
	if e := j.ExecutionInfo.EndTime; !e.IsZero() {
		fmt.Fprintf(&b, " end=%s", fmtTime(e))
	}
	return b.String()
}

func fmtTask(s *pool.Scheduler, jobID string, t *task.Task) string {
	var b strings.Builder
	x := t.ExecutionInfo
	fmt.Fprintf(&b, "%s %s", t.ID, t.State)
	if x.Result != "" && t.State == task.TaskCompleted {
		fmt.Fprintf(&b, " %s", x.Result)
	}
	if x.ExitCode != nil {
		fmt.Fprintf(&b, " exit=%d", *x.ExitCode)
	}
	if f := x.FailureInfo; f != nil {
		fmt.Fprintf(&b, " failure=%s", f.Code)
	}
	fmt.Fprintf(&b, " retry=%d requeue=%d", x.RetryCount, x.RequeueCount)
	if t.NodeInfo != nil {
		fmt.Fprintf(&b, " node=%s", t.NodeInfo.NodeID)
	}
	if !x.StartTime.IsZero() {
		fmt.Fprintf(&b, " start=%s", fmtTime(x.StartTime))
	}
	if !x.EndTime.IsZero() {
		fmt.Fprintf(&b, " end=%s", fmtTime(x.EndTime))
	}
	if t.State == task.TaskActive {
		if r, err := s.Why(jobID, t.ID); err == nil && r != pool.ReasonNone {
			fmt.Fprintf(&b, " (%s)", r)
		}
	}
	return b.String()
}

func fmtCounts(c task.TaskCounts) string {
	return fmt.Sprintf("active=%d running=%d completed=%d succeeded=%d failed=%d", c.Active, c.Running, c.Completed, c.Succeeded, c.Failed)
}
