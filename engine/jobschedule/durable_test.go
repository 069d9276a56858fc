package jobschedule_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/engine/jobschedule"
	"github.com/embatch/embatch/task"
)

// restoreThroughJSON writes m's durable form as JSON, reads it back and
// restores it at now.
func restoreThroughJSON(t *testing.T, m *jobschedule.Machine, now time.Time, exists func(string) bool) *jobschedule.Machine {
	t.Helper()
	b, err := json.Marshal(m.Durable())
	if err != nil {
		t.Fatal(err)
	}
	var d jobschedule.Durable
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	r, err := jobschedule.Restore(d, now, exists)
	if err != nil {
		t.Fatalf("Restore: %v\n%s", err, b)
	}
	return r
}

// TestRestoreContinuesLikeTheOriginal: a machine restored from its durable
// form (through JSON) between rounds behaves exactly like the original
// under the same events: same records, same actions, same deadlines.
func TestRestoreContinuesLikeTheOriginal(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		spec := jobschedule.Spec{ID: "s", JobSpecification: jobschedule.JobSpecification{PoolInfo: task.PoolInformation{PoolID: "p"}}}
		if rng.IntN(3) > 0 {
			spec.Schedule.RecurrenceInterval = task.Ptr(task.Duration(time.Duration(1+rng.IntN(10)) * time.Minute))
		}
		if rng.IntN(2) == 0 {
			spec.Schedule.StartWindow = task.Ptr(task.Duration(time.Duration(1+rng.IntN(5)) * time.Minute))
		}
		if rng.IntN(3) == 0 {
			spec.Schedule.DoNotRunAfter = epoch.Add(time.Duration(rng.IntN(120)) * time.Minute)
		}
		now := epoch
		orig, err := jobschedule.New(spec, now)
		if err != nil {
			t.Fatal(err)
		}
		var copy *jobschedule.Machine
		jobs := map[string]bool{} // existing jobs
		var trace strings.Builder
		// round handles a machine's Ready as a driver would and returns
		// what it saw.
		round := func(m *jobschedule.Machine) (string, []jobschedule.Action) {
			rd := m.Ready()
			acts := append([]jobschedule.Action(nil), rd.Actions...)
			rec, err := json.Marshal(m.JobSchedule())
			if err != nil {
				t.Fatal(err)
			}
			out := fmt.Sprintf("%v %v next=%v rec=%s", rd.Changed, acts, m.NextDeadline(), rec)
			m.Advance(rd)
			return out, acts
		}
		snapshotAt := rng.IntN(30)
		var pending []jobschedule.Event
		// answer plays the driver: it performs the actions and queues
		// their outcomes as the next events.
		answer := func(acts []jobschedule.Action) {
			for _, act := range acts {
				switch act.Kind {
				case jobschedule.ActAddJob:
					jobs[act.JobID] = true
					pending = append(pending, jobschedule.JobAdded{JobID: act.JobID})
				case jobschedule.ActTerminateJob:
					pending = append(pending, jobschedule.JobFinished{JobID: act.JobID})
				case jobschedule.ActDeleteJob:
					delete(jobs, act.JobID)
					pending = append(pending, jobschedule.JobFinished{JobID: act.JobID, Deleted: true})
				}
			}
		}
		first, acts := round(orig)
		fmt.Fprintf(&trace, "New: %s\n", first)
		answer(acts)
		for step := range 40 {
			// Restore once every action so far was answered (an
			// unanswered add is TestRestoreRepeatsAnUnansweredAdd's).
			if step >= snapshotAt && copy == nil && len(pending) == 0 {
				copy = restoreThroughJSON(t, orig, now, func(id string) bool { return jobs[id] })
				// The restored machine's first Ready repeats nothing.
				if rd := copy.Ready(); len(rd.Actions) > 0 {
					t.Fatalf("seed %d: restored between rounds asks for %v", seed, rd.Actions)
				}
				copy.Advance(copy.Ready())
			}
			var ev jobschedule.Event = jobschedule.Tick{}
			switch {
			case len(pending) > 0:
				ev, pending = pending[0], pending[1:]
			case rng.IntN(8) == 0:
				ev = []jobschedule.Event{jobschedule.Disable{}, jobschedule.Enable{}, jobschedule.Terminate{}, jobschedule.Delete{}}[rng.IntN(4)]
			case rng.IntN(3) == 0 && orig.ActiveJob() != "":
				ev = jobschedule.JobFinished{JobID: orig.ActiveJob()}
			default:
				now = now.Add(time.Duration(rng.IntN(300)) * time.Second)
			}
			errA := orig.Step(now, ev)
			a, acts := round(orig)
			fmt.Fprintf(&trace, "%d %T%+v: %v %s\n", step, ev, ev, errA, a)
			if copy != nil {
				errB := copy.Step(now, ev)
				b, _ := round(copy)
				if diff := cmp.Diff(fmt.Sprint(errA, a), fmt.Sprint(errB, b)); diff != "" {
					t.Fatalf("seed %d step %d (restored at %d): restored machine differs (-orig +restored):\n%s\ntrace:\n%s", seed, step, snapshotAt, diff, trace.String())
				}
			}
			answer(acts)
			if orig.Deleted() {
				break
			}
		}
	}
}

// TestRestoreRepeatsAnUnansweredAdd: a machine written after it asked for
// a job but before the add was answered adds the same job again when the
// job does not exist, and counts it as added when it does.
func TestRestoreRepeatsAnUnansweredAdd(t *testing.T) {
	spec := jobschedule.Spec{ID: "s", JobSpecification: jobschedule.JobSpecification{PoolInfo: task.PoolInformation{PoolID: "p"}}}
	m, err := jobschedule.New(spec, epoch)
	if err != nil {
		t.Fatal(err)
	}
	rd := m.Ready()
	if len(rd.Actions) != 1 || rd.Actions[0].Kind != jobschedule.ActAddJob {
		t.Fatalf("first Ready: %v", rd.Actions)
	}
	id := rd.Actions[0].JobID
	m.Advance(rd)
	later := epoch.Add(time.Minute)

	gone := restoreThroughJSON(t, m, later, func(string) bool { return false })
	if got := gone.Ready().Actions; len(got) != 1 || got[0].Kind != jobschedule.ActAddJob || got[0].JobID != id || got[0].Job.ID != id {
		t.Errorf("restored without the job: actions %v, want add %s again", got, id)
	}

	there := restoreThroughJSON(t, m, later, func(j string) bool { return j == id })
	if got := there.Ready().Actions; len(got) != 0 {
		t.Errorf("restored with the job: actions %v, want none", got)
	}
	if rj := there.JobSchedule().ExecutionInfo.RecentJob; rj == nil || rj.ID != id {
		t.Errorf("restored with the job: recentJob %v, want %s", rj, id)
	}
	if there.ActiveJob() != id {
		t.Errorf("restored with the job: active %q, want %s", there.ActiveJob(), id)
	}
}

// TestRestoreRejectsBadRecords: a record that is not a schedule is an
// error naming the field, not a panic.
func TestRestoreRejectsBadRecords(t *testing.T) {
	for name, d := range map[string]jobschedule.Durable{
		"no id":    {},
		"no state": {JobSchedule: jobschedule.JobSchedule{Spec: jobschedule.Spec{ID: "s", JobSpecification: jobschedule.JobSpecification{PoolInfo: task.PoolInformation{PoolID: "p"}}}}},
	} {
		if _, err := jobschedule.Restore(d, epoch, func(string) bool { return false }); err == nil {
			t.Errorf("%s: Restore accepted %+v", name, d)
		}
	}
}
