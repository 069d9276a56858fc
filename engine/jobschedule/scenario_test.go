package jobschedule_test

// Scripted scenarios for the job schedule machine, in the style of the pool
// core's (github.com/cockroachdb/datadriven). Each file under
// testdata/scenarios is one scenario: directives
//
//	<command> [key=value | key=(v1, v2) | flag]...
//	----
//	<expected output>
//
// Regenerate with `go test ./engine/jobschedule -run TestScenarios -rewrite`
// and READ the diff: the golden files must say what Azure Batch would do.
//
// Time. The virtual clock starts at t=0 and only moves forward; every
// command takes t=<duration> to set it first. Times print as Go durations
// relative to t=0 ("90s", "2m", "1h30m").
//
// The driver plays the engine: it answers every ActAddJob at once with
// JobAdded (an error for ids made taken with `taken`, or for every add after
// `fail-adds code=C`). Jobs then stay active until the script reports them
// finished; terminations and deletions are answered by the script too.
//
//	new [id=s] [until=D] [after=D] [window=D] [every=D]
//	    New at the current time; until/after are doNotRunUntil and
//	    doNotRunAfter relative to t=0, window and every are startWindow and
//	    recurrenceInterval.
//	tick                 Step Tick at NextDeadline (prints "t=<time>")
//	run to=D             tick while NextDeadline <= D, then set the clock to D
//	step                 Step Tick at the current time
//	finish job=J [deleted]  JobFinished
//	disable | enable | terminate | delete
//	taken jobs=(a, b)    those ids already exist in the account
//	fail-adds [code=C]   every add fails with code C (no code: adds succeed)
//	state                print the record and the machine's jobs
//
// After every event the driver prints the actions ("add-job s-job-1"), a
// rejected event's error ("error: ..."), and a status line:
//
//	<state> next=<nextRunTime|-> recent=<recentJob|-> active=<job|->
//	    [deadline=<t>] [end=<t>] [error=<code>] [deleted]

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/embatch/embatch/engine/jobschedule"
	"github.com/embatch/embatch/task"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fmtT prints t relative to the epoch, or "-" for the zero time.
func fmtT(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmtD(t.Sub(epoch))
}

// fmtD prints a duration without trailing zero units: 2m, 1h30m, 90s.
func fmtD(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

type scenario struct {
	m        *jobschedule.Machine
	now      time.Time
	taken    map[string]bool
	failCode string
	out      strings.Builder
}

func (s *scenario) step(ev jobschedule.Event) {
	if err := s.m.Step(s.now, ev); err != nil {
		fmt.Fprintf(&s.out, "error: %v\n", err)
	}
	s.drain()
	s.status()
}

// drain prints the Ready's actions and answers the adds, until nothing is
// left.
func (s *scenario) drain() {
	for {
		rd := s.m.Ready()
		acts := append([]jobschedule.Action(nil), rd.Actions...)
		s.m.Advance(rd)
		if len(acts) == 0 {
			return
		}
		for _, a := range acts {
			fmt.Fprintln(&s.out, a)
			if a.Kind != jobschedule.ActAddJob {
				continue
			}
			if a.Job.ID != a.JobID {
				panic(fmt.Sprintf("add-job %s carries job id %q", a.JobID, a.Job.ID))
			}
			var err error
			switch {
			case s.taken[a.JobID]:
				err = task.Errorf(task.CodeJobExists, "id", a.JobID, "a job with this id already exists")
			case s.failCode != "":
				err = task.Errorf(s.failCode, "poolInfo.poolId", a.Job.PoolInfo.PoolID, "cannot add")
			}
			if err != nil {
				fmt.Fprintf(&s.out, "  add failed: %s\n", err.(*task.Error).Code)
			} else {
				s.taken[a.JobID] = true
			}
			if err := s.m.Step(s.now, jobschedule.JobAdded{JobID: a.JobID, Err: err}); err != nil {
				panic(err)
			}
		}
	}
}

func (s *scenario) status() {
	r := s.m.JobSchedule()
	ei := r.ExecutionInfo
	recent := "-"
	if ei.RecentJob != nil {
		recent = ei.RecentJob.ID
	}
	active := s.m.ActiveJob()
	if active == "" {
		active = "-"
	}
	fmt.Fprintf(&s.out, "%s next=%s recent=%s active=%s", r.State, fmtT(ei.NextRunTime), recent, active)
	if d := s.m.NextDeadline(); !d.IsZero() {
		fmt.Fprintf(&s.out, " deadline=%s", fmtT(d))
	}
	if !ei.EndTime.IsZero() {
		fmt.Fprintf(&s.out, " end=%s", fmtT(ei.EndTime))
	}
	if ei.SchedulingError != nil {
		fmt.Fprintf(&s.out, " error=%s", ei.SchedulingError.Code)
	}
	if s.m.Deleted() {
		fmt.Fprint(&s.out, " deleted")
	}
	fmt.Fprintln(&s.out)
}

func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		s := &scenario{now: epoch, taken: map[string]bool{}}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			s.out.Reset()
			args := map[string][]string{}
			for _, a := range d.CmdArgs {
				args[a.Key] = a.Vals
			}
			dur := func(key string) (time.Duration, bool) {
				v, ok := args[key]
				if !ok {
					return 0, false
				}
				delete(args, key)
				if len(v) != 1 {
					d.Fatalf(t, "%s wants one value", key)
				}
				x, err := time.ParseDuration(v[0])
				if err != nil {
					d.Fatalf(t, "%s: %v", key, err)
				}
				return x, true
			}
			str := func(key string) string {
				v := args[key]
				delete(args, key)
				return strings.Join(v, ",")
			}
			if at, ok := dur("t"); ok {
				nt := epoch.Add(at)
				if nt.Before(s.now) {
					d.Fatalf(t, "time goes backwards: t=%s < %s", fmtD(at), fmtT(s.now))
				}
				s.now = nt
			}
			if d.Cmd != "new" && d.Cmd != "taken" && d.Cmd != "fail-adds" && s.m == nil {
				d.Fatalf(t, "no machine yet; start with new")
			}
			switch d.Cmd {
			case "new":
				spec := jobschedule.Spec{ID: "s", JobSpecification: jobschedule.JobSpecification{PoolInfo: task.PoolInformation{PoolID: "p"}}}
				if id := str("id"); id != "" {
					spec.ID = id
				}
				if x, ok := dur("until"); ok {
					spec.Schedule.DoNotRunUntil = epoch.Add(x)
				}
				if x, ok := dur("after"); ok {
					spec.Schedule.DoNotRunAfter = epoch.Add(x)
				}
				if x, ok := dur("window"); ok {
					spec.Schedule.StartWindow = task.Ptr(task.Duration(x))
				}
				if x, ok := dur("every"); ok {
					spec.Schedule.RecurrenceInterval = task.Ptr(task.Duration(x))
				}
				m, err := jobschedule.New(spec, s.now)
				if err != nil {
					d.Fatalf(t, "new: %v", err)
				}
				s.m = m
				s.drain()
				s.status()
			case "tick":
				dl := s.m.NextDeadline()
				if dl.IsZero() {
					fmt.Fprintln(&s.out, "no deadline")
					break
				}
				s.now = dl
				fmt.Fprintf(&s.out, "t=%s\n", fmtT(dl))
				s.step(jobschedule.Tick{})
			case "run":
				to, ok := dur("to")
				if !ok {
					d.Fatalf(t, "run wants to=")
				}
				for {
					dl := s.m.NextDeadline()
					if dl.IsZero() || dl.After(epoch.Add(to)) {
						break
					}
					s.now = dl
					fmt.Fprintf(&s.out, "t=%s\n", fmtT(dl))
					s.step(jobschedule.Tick{})
				}
				if end := epoch.Add(to); end.After(s.now) {
					s.now = end
				}
			case "step":
				s.step(jobschedule.Tick{})
			case "finish":
				_, deleted := args["deleted"]
				delete(args, "deleted")
				s.step(jobschedule.JobFinished{JobID: str("job"), Deleted: deleted})
			case "disable":
				s.step(jobschedule.Disable{})
			case "enable":
				s.step(jobschedule.Enable{})
			case "terminate":
				s.step(jobschedule.Terminate{})
			case "delete":
				s.step(jobschedule.Delete{})
			case "taken":
				for _, id := range args["jobs"] {
					s.taken[id] = true
				}
				delete(args, "jobs")
			case "fail-adds":
				s.failCode = str("code")
			case "state":
				r := s.m.JobSchedule()
				prev := "-"
				if r.PreviousState != jobschedule.StateInvalid {
					prev = fmt.Sprintf("%s@%s", r.PreviousState, fmtT(r.PreviousStateTransitionTime))
				}
				fmt.Fprintf(&s.out, "%s since=%s prev=%s created=%s jobs=(%s)\n", r.State, fmtT(r.StateTransitionTime), prev,
					fmtT(r.CreationTime), strings.Join(s.m.Jobs(), ", "))
			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			for k := range args {
				d.Fatalf(t, "unknown argument %q for %s", k, d.Cmd)
			}
			return s.out.String()
		})
	})
}

// TestJobID: the suffix is kept when the schedule id is long.
func TestJobID(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, tc := range []struct {
		id   string
		n    int
		want string
	}{
		{"s", 1, "s-job-1"},
		{"nightly_ETL", 12, "nightly_ETL-job-12"},
		{long, 7, strings.Repeat("a", 58) + "-job-7"},
		{long, 123456, strings.Repeat("a", 53) + "-job-123456"},
		// 58+6 = 64 characters fit; 58+7 do not.
		{strings.Repeat("b", 58), 9, strings.Repeat("b", 58) + "-job-9"},
		{strings.Repeat("b", 58), 10, strings.Repeat("b", 57) + "-job-10"},
	} {
		got := jobschedule.JobID(tc.id, tc.n)
		if got != tc.want {
			t.Errorf("JobID(%q, %d) = %q, want %q", tc.id, tc.n, got, tc.want)
		}
		if err := task.ValidateID("id", got); err != nil {
			t.Errorf("JobID(%q, %d) = %q is not a valid id: %v", tc.id, tc.n, got, err)
		}
	}
}
