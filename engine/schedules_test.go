package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/engine/jobschedule"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/fake"
	"github.com/embatch/embatch/node/inprocess"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// The tests of job schedules run in synctest bubbles: time is virtual, so
// a schedule "every minute" runs for hours in milliseconds, and the times
// the engine records are exact.

// bubbleAccount returns an account (closed at the end of the bubble) with
// a steady pool "p" of one node on backend b. Call it inside the bubble.
func bubbleAccount(t *testing.T, b node.Backend, opts ...engine.Option) *engine.Account {
	t.Helper()
	opts = append([]engine.Option{engine.WithBackend("test", func(pool.Spec) (node.Backend, error) { return b, nil })}, opts...)
	acct, err := engine.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acct.Close() })
	ctx := bubbleCtx(t)
	if err := acct.CreatePool(ctx, pool.Spec{ID: "p", TargetDedicatedNodes: 1, TaskSlotsPerNode: task.Ptr(4)}); err != nil {
		t.Fatal(err)
	}
	if err := acct.WaitPoolSteady(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	return acct
}

// bubbleCtx bounds a test's waits in the bubble's virtual time, so that a
// broken schedule fails the test instead of hanging it (the pools' timers
// keep virtual time moving).
func bubbleCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
	t.Cleanup(cancel)
	return ctx
}

// every returns a schedule spec on pool "p" whose jobs terminate once their
// tasks are done.
func every(id string, interval time.Duration) engine.JobScheduleSpec {
	spec := engine.JobScheduleSpec{
		ID: id,
		JobSpecification: jobschedule.JobSpecification{
			PoolInfo:           task.PoolInformation{PoolID: "p"},
			OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob,
		},
	}
	if interval > 0 {
		spec.Schedule.RecurrenceInterval = task.Ptr(task.Duration(interval))
	}
	return spec
}

// jobManager plays the part of a job manager task for the schedule's jobs
// (embatch has none yet): when the schedule creates a job it adds one task
// running command(jobID). It also watches every job of the schedule and
// fails the test if two are ever active (not completed) at once. It stops
// when the account closes.
type jobManager struct {
	t       *testing.T
	acct    *engine.Account
	prefix  string
	command func(jobID string) string

	mu       sync.Mutex
	states   map[string]task.JobState
	maxAlive int
}

func manage(t *testing.T, acct *engine.Account, scheduleID string, command func(jobID string) string) *jobManager {
	jm := &jobManager{t: t, acct: acct, prefix: scheduleID + "-job-", command: command, states: map[string]task.JobState{}}
	sub := acct.Subscribe(func(e *engine.Event) bool {
		return e.Kind == engine.EventJobScheduleChanged && e.JobScheduleID == scheduleID ||
			(e.Kind == engine.EventJobChanged || e.Kind == engine.EventJobDeleted) && strings.HasPrefix(e.JobID, jm.prefix)
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		jm.run(sub)
	}()
	// Stop before the account closes (cleanups run last-in first-out).
	t.Cleanup(func() {
		sub.Close()
		<-done
	})
	return jm
}

func (jm *jobManager) run(sub *engine.Subscription) {
	ctx := context.Background()
	managed := map[string]bool{}
	for {
		e, err := sub.Next(ctx)
		if err != nil {
			return // stopped
		}
		switch e.Kind {
		case engine.EventJobScheduleChanged:
			js, err := jm.acct.GetJobSchedule(ctx, e.JobScheduleID)
			if err != nil || js.ExecutionInfo.RecentJob == nil {
				continue
			}
			id := js.ExecutionInfo.RecentJob.ID
			if managed[id] {
				continue
			}
			managed[id] = true
			if err := jm.acct.AddTask(ctx, id, task.TaskSpec{ID: "main", CommandLine: jm.command(id)}); err != nil {
				jm.t.Errorf("job manager: AddTask(%s): %v", id, err)
			}
		case engine.EventJobChanged, engine.EventJobDeleted:
			jm.mu.Lock()
			if e.Kind == engine.EventJobDeleted {
				delete(jm.states, e.JobID)
			} else {
				jm.states[e.JobID] = e.JobState
			}
			alive := 0
			for _, st := range jm.states {
				if st != task.JobCompleted && st != task.JobDeleting {
					alive++
				}
			}
			jm.maxAlive = max(jm.maxAlive, alive)
			if alive > 1 {
				jm.t.Errorf("at %s, %d jobs of the schedule are active at once: %v", e.Time.Format(time.TimeOnly), alive, jm.states)
			}
			jm.mu.Unlock()
		}
	}
}

// jobTimes returns the schedule's jobs (by id prefix) with their creation
// and end times relative to start, in creation order.
func jobTimes(t *testing.T, acct *engine.Account, prefix string, start time.Time) []string {
	t.Helper()
	jobs, err := acct.ListJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range jobs {
		if !strings.HasPrefix(j.ID, prefix) {
			continue
		}
		s := fmt.Sprintf("%s created=%s %s", j.ID, j.CreationTime.Sub(start), j.State)
		if !j.ExecutionInfo.EndTime.IsZero() {
			s += fmt.Sprintf(" end=%s", j.ExecutionInfo.EndTime.Sub(start))
		}
		out = append(out, s)
	}
	return out
}

// TestJobScheduleEveryMinute: a schedule every minute creates one job a
// minute, on the minute, and its execution info says which and when next.
func TestJobScheduleEveryMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := bubbleCtx(t)
		acct := bubbleAccount(t, fake.New(fake.WithBehavior(fake.ExitWith(func(*node.Attempt) int { return 0 }))))
		start := time.Now()
		jm := manage(t, acct, "s", func(string) string { return "work" })
		if err := acct.AddJobSchedule(ctx, every("s", time.Minute)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5*time.Minute + 30*time.Second)
		synctest.Wait()

		want := []string{
			"s-job-1 created=0s completed end=0s",
			"s-job-2 created=1m0s completed end=1m0s",
			"s-job-3 created=2m0s completed end=2m0s",
			"s-job-4 created=3m0s completed end=3m0s",
			"s-job-5 created=4m0s completed end=4m0s",
			"s-job-6 created=5m0s completed end=5m0s",
		}
		if diff := cmp.Diff(want, jobTimes(t, acct, "s-job-", start)); diff != "" {
			t.Errorf("jobs (-want +got):\n%s", diff)
		}
		js, err := acct.GetJobSchedule(ctx, "S") // ids ignore case
		if err != nil {
			t.Fatal(err)
		}
		wantInfo := jobschedule.ExecutionInfo{NextRunTime: start.Add(6 * time.Minute), RecentJob: &jobschedule.RecentJob{ID: "s-job-6"}}
		if js.State != jobschedule.StateActive || js.CreationTime != start {
			t.Errorf("schedule state %s created %s, want active created at start", js.State, js.CreationTime.Sub(start))
		}
		if diff := cmp.Diff(wantInfo, js.ExecutionInfo); diff != "" {
			t.Errorf("executionInfo (-want +got):\n%s", diff)
		}
		if jm.maxAlive != 1 {
			t.Errorf("at most %d jobs were active at once; want 1", jm.maxAlive)
		}
	})
}

// sleeper is an inprocess handler that runs for the duration its argument
// says, in the bubble's virtual time.
func sleeper(ctx context.Context, tk *inprocess.Task) error {
	d, err := time.ParseDuration(tk.Args[0])
	if err != nil {
		return err
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestJobScheduleLongJobSkipsOccurrences: every 2 minutes with a 1-minute
// start window. A job that outlives its interval holds the next occurrence
// back: created late if the job ends within the window, skipped if not.
func TestJobScheduleLongJobSkipsOccurrences(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := bubbleCtx(t)
		b := inprocess.New()
		if err := b.Register("sleep", sleeper); err != nil {
			t.Fatal(err)
		}
		acct := bubbleAccount(t, b)
		start := time.Now()
		runFor := map[string]string{
			"s-job-1": "3m30s", // outlives 2m and its window (to 3m): the 2m occurrence is skipped
			"s-job-2": "2m30s", // 4m..6m30s: the 6m occurrence waits and starts at 6m30s
			"s-job-3": "10s",
			"s-job-4": "10s",
		}
		jm := manage(t, acct, "s", func(id string) string { return "sleep " + runFor[id] })
		spec := every("s", 2*time.Minute)
		spec.Schedule.StartWindow = task.Ptr(task.Duration(time.Minute))
		if err := acct.AddJobSchedule(ctx, spec); err != nil {
			t.Fatal(err)
		}

		time.Sleep(2*time.Minute + 30*time.Second)
		synctest.Wait()
		js, err := acct.GetJobSchedule(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if got := js.ExecutionInfo.RecentJob.ID; got != "s-job-1" {
			t.Errorf("at 2m30s recentJob = %s, want s-job-1 (still running, the 2m occurrence waits)", got)
		}
		if got := js.ExecutionInfo.NextRunTime.Sub(start); got != 4*time.Minute {
			t.Errorf("at 2m30s nextRunTime = %s, want 4m", got)
		}

		time.Sleep(6*time.Minute + 30*time.Second) // to 9m
		synctest.Wait()
		want := []string{
			"s-job-1 created=0s completed end=3m30s",
			"s-job-2 created=4m0s completed end=6m30s",
			"s-job-3 created=6m30s completed end=6m40s",
			"s-job-4 created=8m0s completed end=8m10s",
		}
		if diff := cmp.Diff(want, jobTimes(t, acct, "s-job-", start)); diff != "" {
			t.Errorf("jobs (-want +got):\n%s", diff)
		}
		if jm.maxAlive != 1 {
			t.Errorf("at most %d jobs were active at once; want 1", jm.maxAlive)
		}
	})
}

// TestJobScheduleTerminate: doNotRunUntil delays the first job; terminating
// the schedule terminates its running job (reason TerminateJobSchedule) and
// the schedule completes when the job has.
func TestJobScheduleTerminate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := bubbleCtx(t)
		fb := fake.New() // holds every attempt until killed
		acct := bubbleAccount(t, fb)
		start := time.Now()
		manage(t, acct, "s", func(string) string { return "forever" })
		spec := every("s", time.Hour)
		spec.Schedule.DoNotRunUntil = start.Add(10 * time.Minute)
		if err := acct.AddJobSchedule(ctx, spec); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		js, err := acct.GetJobSchedule(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if js.ExecutionInfo.RecentJob != nil || !js.ExecutionInfo.NextRunTime.Equal(start.Add(10*time.Minute)) {
			t.Errorf("before doNotRunUntil: executionInfo = %+v, want no job and nextRunTime at 10m", js.ExecutionInfo)
		}

		time.Sleep(10 * time.Minute)
		if _, err := fb.WaitStarted(ctx, 1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if err := acct.TerminateJobSchedule(ctx, "s"); err != nil {
			t.Fatal(err)
		}
		js, err = acct.WaitJobSchedule(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if js.State != jobschedule.StateCompleted || js.PreviousState != jobschedule.StateTerminating ||
			!js.ExecutionInfo.EndTime.Equal(start.Add(11*time.Minute)) || !js.ExecutionInfo.NextRunTime.IsZero() {
			t.Errorf("after terminate: %s (previous %s) executionInfo %+v; want completed from terminating, end at 11m, no nextRunTime",
				js.State, js.PreviousState, js.ExecutionInfo)
		}
		j, err := acct.GetJob(ctx, "s-job-1")
		if err != nil {
			t.Fatal(err)
		}
		if j.State != task.JobCompleted || j.ExecutionInfo.TerminationReason != jobschedule.TerminateReason {
			t.Errorf("job: %s reason %q, want completed TerminateJobSchedule", j.State, j.ExecutionInfo.TerminationReason)
		}
		if err := acct.TerminateJobSchedule(ctx, "s"); !errors.Is(err, engine.ErrJobScheduleCompleted) {
			t.Errorf("terminate a completed schedule: %v, want JobScheduleCompleted", err)
		}
		if err := acct.DisableJobSchedule(ctx, "s"); !errors.Is(err, engine.ErrJobScheduleCompleted) {
			t.Errorf("disable a completed schedule: %v, want JobScheduleCompleted", err)
		}
	})
}

// TestJobScheduleDisableEnable: no jobs while disabled; the one running
// continues.
func TestJobScheduleDisableEnable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := bubbleCtx(t)
		b := inprocess.New()
		if err := b.Register("sleep", sleeper); err != nil {
			t.Fatal(err)
		}
		acct := bubbleAccount(t, b)
		start := time.Now()
		manage(t, acct, "s", func(string) string { return "sleep 90s" })
		if err := acct.AddJobSchedule(ctx, every("s", time.Minute)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		if err := acct.DisableJobSchedule(ctx, "s"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Minute) // to 3m30s: s-job-1 ends at 1m30s; 1m, 2m, 3m skipped
		if err := acct.EnableJobSchedule(ctx, "s"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // to 4m30s
		synctest.Wait()
		want := []string{
			"s-job-1 created=0s completed end=1m30s",
			"s-job-2 created=4m0s active",
		}
		if diff := cmp.Diff(want, jobTimes(t, acct, "s-job-", start)); diff != "" {
			t.Errorf("jobs (-want +got):\n%s", diff)
		}
	})
}

// TestJobScheduleDelete: deleting a schedule deletes all its jobs,
// completed and running, and frees its id.
func TestJobScheduleDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := bubbleCtx(t)
		fb := fake.New()
		acct := bubbleAccount(t, fb)
		manage(t, acct, "s", func(string) string { return "work" })
		sub := acct.Subscribe(func(e *engine.Event) bool { return e.Kind == engine.EventJobScheduleDeleted })
		defer sub.Close()
		if err := acct.AddJobSchedule(ctx, every("s", time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := acct.AddJob(ctx, task.JobSpec{ID: "mine", PoolInfo: task.PoolInformation{PoolID: "p"}}); err != nil {
			t.Fatal(err)
		}
		// Finish s-job-1 and s-job-2; s-job-3 keeps running.
		for n := 1; n <= 2; n++ {
			started, err := fb.WaitStarted(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := fb.Exit(started[n-1].ID, 0); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute)
		}
		if _, err := fb.WaitRunning(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if got := jobTimes(t, acct, "s-job-", time.Now()); len(got) != 3 {
			t.Fatalf("jobs before delete = %q, want 3", got)
		}
		if err := acct.DeleteJobSchedule(ctx, "s"); err != nil {
			t.Fatal(err)
		}
		if got := jobTimes(t, acct, "s-job-", time.Now()); len(got) != 0 {
			t.Errorf("jobs after delete = %q, want none", got)
		}
		if _, err := acct.GetJob(ctx, "mine"); err != nil {
			t.Errorf("a job the schedule did not create was touched: %v", err)
		}
		if _, err := acct.GetJobSchedule(ctx, "s"); !errors.Is(err, engine.ErrJobScheduleNotFound) {
			t.Errorf("GetJobSchedule after delete: %v, want JobScheduleNotFound", err)
		}
		if e, err := sub.Next(ctx); err != nil || e.JobScheduleID != "s" {
			t.Errorf("deleted event = %+v, %v", e, err)
		}
		if err := acct.AddJobSchedule(ctx, every("s", time.Hour)); err != nil {
			t.Errorf("re-adding the schedule after delete: %v", err)
		}
	})
}

// TestJobScheduleIDs: a job and a job schedule cannot share an id; an id
// the schedule would give its job that a user's job has taken is skipped;
// bad specs name the field.
func TestJobScheduleIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := bubbleCtx(t)
		acct := bubbleAccount(t, fake.New(fake.WithBehavior(fake.ExitWith(func(*node.Attempt) int { return 0 }))))
		jobIn := func(id string) task.JobSpec { return task.JobSpec{ID: id, PoolInfo: task.PoolInformation{PoolID: "p"}} }
		if err := acct.AddJob(ctx, jobIn("j")); err != nil {
			t.Fatal(err)
		}
		if err := acct.AddJob(ctx, jobIn("s-job-2")); err != nil { // taken before the schedule gets there
			t.Fatal(err)
		}
		if err := acct.TerminateJob(ctx, "s-job-2", ""); err != nil { // so that it is not an active job
			t.Fatal(err)
		}
		manage(t, acct, "s", func(string) string { return "work" })
		if err := acct.AddJobSchedule(ctx, every("s", time.Minute)); err != nil {
			t.Fatal(err)
		}

		checks := []struct {
			name               string
			err                error
			code, field, value string
		}{
			{"schedule with a job's id", acct.AddJobSchedule(ctx, every("J", time.Minute)), task.CodeJobWithSameIDExists, "id", "J"},
			{"job with a schedule's id", acct.AddJob(ctx, jobIn("S")), task.CodeJobScheduleWithSameIDExists, "id", "S"},
			{"duplicate schedule", acct.AddJobSchedule(ctx, every("S", time.Hour)), task.CodeJobScheduleExists, "id", "S"},
			{"short interval", acct.AddJobSchedule(ctx, every("t", 30*time.Second)), task.CodeInvalidPropertyValue, "schedule.recurrenceInterval", "PT30S"},
			{"unknown pool", func() error {
				spec := every("u", time.Minute)
				spec.JobSpecification.PoolInfo.PoolID = "nope"
				return acct.AddJobSchedule(ctx, spec)
			}(), task.CodePoolNotFound, "jobSpecification.poolInfo.poolId", "nope"},
			{"get unknown", func() error { _, err := acct.GetJobSchedule(ctx, "x"); return err }(), task.CodeJobScheduleNotFound, "jobScheduleId", "x"},
			{"enable unknown", acct.EnableJobSchedule(ctx, "x"), task.CodeJobScheduleNotFound, "jobScheduleId", "x"},
		}
		for _, c := range checks {
			var te *engine.Error
			if !errors.As(c.err, &te) || te.Code != c.code || te.Field != c.field || te.Value != c.value {
				t.Errorf("%s: %v; want %s on %s = %q", c.name, c.err, c.code, c.field, c.value)
			}
		}

		time.Sleep(90 * time.Second)
		synctest.Wait()
		var ids []string
		jobs, err := acct.ListJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			ids = append(ids, j.ID)
		}
		slices.Sort(ids)
		if want := []string{"j", "s-job-1", "s-job-2", "s-job-3"}; !slices.Equal(ids, want) {
			t.Errorf("jobs = %q, want %q (s-job-2 is the user's; the schedule's second job is s-job-3)", ids, want)
		}
		list, err := acct.ListJobSchedules(ctx)
		if err != nil || len(list) != 1 || list[0].ExecutionInfo.RecentJob.ID != "s-job-3" {
			t.Errorf("ListJobSchedules = %+v, %v; want s with recentJob s-job-3", list, err)
		}
	})
}

// TestJobSchedulePoolDeleted: when the pool goes, so does the active job;
// the schedule notices, and the next occurrence, finding no pool, is
// skipped with a schedulingError.
func TestJobSchedulePoolDeleted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := bubbleCtx(t)
		acct := bubbleAccount(t, fake.New())
		if err := acct.AddJobSchedule(ctx, every("s", time.Minute)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err := acct.DeletePool(ctx, "p"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(90 * time.Second)
		synctest.Wait()
		js, err := acct.GetJobSchedule(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		se := js.ExecutionInfo.SchedulingError
		if js.State != jobschedule.StateActive || se == nil || se.Code != task.CodePoolNotFound || js.ExecutionInfo.RecentJob.ID != "s-job-1" {
			t.Errorf("schedule = %s %+v; want active, schedulingError PoolNotFound, recentJob s-job-1", js.State, js.ExecutionInfo)
		}
	})
}

// TestJobScheduleAccountClock: the schedule keeps the account's clock
// (WithClock), not the machine's.
func TestJobScheduleAccountClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := bubbleCtx(t)
		const skew = 1000 * time.Hour
		clock := func() time.Time { return time.Now().Add(skew) }
		acct := bubbleAccount(t, fake.New(), engine.WithClock(clock))
		start := clock()
		spec := every("s", time.Hour)
		spec.Schedule.DoNotRunUntil = start.Add(time.Minute)
		if err := acct.AddJobSchedule(ctx, spec); err != nil {
			t.Fatal(err)
		}
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if _, err := acct.GetJob(ctx, "s-job-1"); !errors.Is(err, engine.ErrJobNotFound) {
			t.Errorf("at 59s: %v, want no job yet", err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		j, err := acct.GetJob(ctx, "s-job-1")
		if err != nil {
			t.Fatal(err)
		}
		js, err := acct.GetJobSchedule(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if !js.CreationTime.Equal(start) || !j.CreationTime.Equal(start.Add(time.Minute)) {
			t.Errorf("schedule created %s, job created %s; want the account clock's %s and a minute later", js.CreationTime, j.CreationTime, start)
		}
	})
}
