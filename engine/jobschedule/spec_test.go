package jobschedule_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/engine/jobschedule"
	"github.com/embatch/embatch/task"
)

func validSpec() jobschedule.Spec {
	return jobschedule.Spec{
		ID:               "nightly",
		JobSpecification: jobschedule.JobSpecification{PoolInfo: task.PoolInformation{PoolID: "p"}},
	}
}

func TestValidate(t *testing.T) {
	minute := task.Duration(time.Minute)
	for _, tc := range []struct {
		name  string
		edit  func(s *jobschedule.Spec)
		code  string // "" means valid
		field string
		value string
	}{
		{name: "minimal", edit: func(s *jobschedule.Spec) {}},
		{name: "everything", edit: func(s *jobschedule.Spec) {
			s.DisplayName = "Nightly ETL"
			s.Schedule = jobschedule.Schedule{
				DoNotRunUntil: epoch, DoNotRunAfter: epoch.Add(time.Hour),
				StartWindow: &minute, RecurrenceInterval: task.Ptr(task.Duration(24 * time.Hour)),
			}
			s.Metadata = []task.MetadataItem{{Name: "owner", Value: "ops"}}
		}},
		{name: "unlimited window", edit: func(s *jobschedule.Spec) { s.Schedule.StartWindow = task.Ptr(task.Unlimited) }},
		{name: "missing id", edit: func(s *jobschedule.Spec) { s.ID = "" },
			code: task.CodeMissingRequiredProperty, field: "id"},
		{name: "bad id", edit: func(s *jobschedule.Spec) { s.ID = "a:b" },
			code: task.CodeInvalidPropertyValue, field: "id", value: "a:b"},
		{name: "long id", edit: func(s *jobschedule.Spec) { s.ID = strings.Repeat("x", 65) },
			code: task.CodeInvalidPropertyValue, field: "id", value: strings.Repeat("x", 65)},
		{name: "long display name", edit: func(s *jobschedule.Spec) { s.DisplayName = strings.Repeat("é", 1025) },
			code: task.CodeInvalidPropertyValue, field: "displayName", value: strings.Repeat("é", 32) + "..."},
		{name: "short window", edit: func(s *jobschedule.Spec) { s.Schedule.StartWindow = task.Ptr(task.Duration(59 * time.Second)) },
			code: task.CodeInvalidPropertyValue, field: "schedule.startWindow", value: "PT59S"},
		{name: "zero window", edit: func(s *jobschedule.Spec) { s.Schedule.StartWindow = task.Ptr(task.Duration(0)) },
			code: task.CodeInvalidPropertyValue, field: "schedule.startWindow", value: "PT0S"},
		{name: "short interval", edit: func(s *jobschedule.Spec) { s.Schedule.RecurrenceInterval = task.Ptr(task.Duration(30 * time.Second)) },
			code: task.CodeInvalidPropertyValue, field: "schedule.recurrenceInterval", value: "PT30S"},
		{name: "negative interval", edit: func(s *jobschedule.Spec) { s.Schedule.RecurrenceInterval = task.Ptr(task.Duration(-time.Hour)) },
			code: task.CodeInvalidPropertyValue, field: "schedule.recurrenceInterval", value: "-PT1H"},
		{name: "after before until", edit: func(s *jobschedule.Spec) {
			s.Schedule.DoNotRunUntil = epoch.Add(time.Hour)
			s.Schedule.DoNotRunAfter = epoch
		}, code: task.CodeInvalidPropertyValue, field: "schedule.doNotRunAfter", value: "2025-01-01T00:00:00Z"},
		{name: "after equals until", edit: func(s *jobschedule.Spec) {
			s.Schedule.DoNotRunUntil = epoch
			s.Schedule.DoNotRunAfter = epoch
		}, code: task.CodeInvalidPropertyValue, field: "schedule.doNotRunAfter", value: "2025-01-01T00:00:00Z"},
		{name: "job id set", edit: func(s *jobschedule.Spec) { s.JobSpecification.ID = "j" },
			code: task.CodeInvalidPropertyValue, field: "jobSpecification.id", value: "j"},
		{name: "no poolInfo", edit: func(s *jobschedule.Spec) { s.JobSpecification.PoolInfo = task.PoolInformation{} },
			code: task.CodeMissingRequiredProperty, field: "jobSpecification.poolInfo.poolId"},
		{name: "bad job priority", edit: func(s *jobschedule.Spec) { s.JobSpecification.Priority = 1001 },
			code: task.CodeInvalidPropertyValue, field: "jobSpecification.priority", value: "1001"},
		{name: "metadata without name", edit: func(s *jobschedule.Spec) { s.Metadata = []task.MetadataItem{{Value: "v"}} },
			code: task.CodeMissingRequiredProperty, field: "metadata[0].name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			tc.edit(&s)
			err := s.Validate()
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := jobschedule.New(s, epoch); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var te *task.Error
			if !errors.As(err, &te) {
				t.Fatalf("Validate = %v, want a *task.Error", err)
			}
			got := [3]string{te.Code, te.Field, te.Value}
			if want := [3]string{tc.code, tc.field, tc.value}; got != want {
				t.Errorf("Validate = %v; want code, field, value %q", err, want)
			}
			if _, err := jobschedule.New(s, epoch); !errors.Is(err, &task.Error{Code: tc.code}) {
				t.Errorf("New = %v, want %s", err, tc.code)
			}
		})
	}
}

// TestJSON: the Azure names, the job specification written without an id,
// and a round trip of the record.
func TestJSON(t *testing.T) {
	in := `{"id":"nightly","displayName":"Nightly","schedule":{"doNotRunUntil":"2025-01-01T02:00:00Z",` +
		`"doNotRunAfter":"2025-02-01T00:00:00Z","startWindow":"PT1H","recurrenceInterval":"P1D"},` +
		`"jobSpecification":{"priority":10,"poolInfo":{"poolId":"p"},"onAllTasksComplete":"terminatejob"},` +
		`"metadata":[{"name":"owner","value":"ops"}]}`
	dec := json.NewDecoder(strings.NewReader(in))
	dec.DisallowUnknownFields()
	var spec jobschedule.Spec
	if err := dec.Decode(&spec); err != nil {
		t.Fatal(err)
	}
	want := jobschedule.Spec{
		ID: "nightly", DisplayName: "Nightly",
		Schedule: jobschedule.Schedule{
			DoNotRunUntil: epoch.Add(2 * time.Hour), DoNotRunAfter: epoch.AddDate(0, 1, 0),
			StartWindow: task.Ptr(task.Duration(time.Hour)), RecurrenceInterval: task.Ptr(task.Duration(24 * time.Hour)),
		},
		JobSpecification: jobschedule.JobSpecification{Priority: 10, PoolInfo: task.PoolInformation{PoolID: "p"},
			OnAllTasksComplete: task.OnAllTasksCompleteTerminateJob},
		Metadata: []task.MetadataItem{{Name: "owner", Value: "ops"}},
	}
	if diff := cmp.Diff(want, spec); diff != "" {
		t.Fatalf("decoded spec (-want +got):\n%s", diff)
	}
	out, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("marshal:\n got %s\nwant %s", out, in)
	}

	m, err := jobschedule.New(spec, epoch)
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Step(epoch.Add(2*time.Hour), jobschedule.Tick{})
	if rd := m.Ready(); len(rd.Actions) != 1 || rd.Actions[0].Kind != jobschedule.ActAddJob {
		t.Fatalf("Ready at doNotRunUntil = %+v, want one add-job", rd)
	}
	if m.JobSchedule().ExecutionInfo.RecentJob != nil {
		t.Error("recentJob is set before the job is known to exist")
	}
	_ = m.Step(epoch.Add(2*time.Hour), jobschedule.JobAdded{JobID: "nightly-job-1"})
	rec := m.JobSchedule()
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"state":"active"`, `"creationTime":"2025-01-01T00:00:00Z"`,
		`"executionInfo":{"nextRunTime":"2025-01-02T02:00:00Z","recentJob":{"id":"nightly-job-1"}}`} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("record JSON lacks %s:\n%s", frag, b)
		}
	}
	if strings.Contains(string(b), "previousState") || strings.Contains(string(b), "endTime") {
		t.Errorf("record JSON has unset fields:\n%s", b)
	}
	var back jobschedule.JobSchedule
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestStateText: Azure's names both ways, and the invalid zero value.
func TestStateText(t *testing.T) {
	for _, name := range []string{"active", "disabled", "terminating", "completed", "deleting"} {
		var s jobschedule.State
		if err := s.UnmarshalText([]byte(name)); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", name, err)
		}
		if b, err := s.MarshalText(); err != nil || string(b) != name || s.String() != name {
			t.Errorf("state %q: MarshalText = %q, %v; String = %q", name, b, err, s)
		}
	}
	var s jobschedule.State
	if _, err := s.MarshalText(); err == nil {
		t.Error("MarshalText of the zero State succeeded")
	}
	if err := s.UnmarshalText([]byte("enabled")); !errors.Is(err, task.ErrInvalidPropertyValue) {
		t.Errorf("UnmarshalText(enabled) = %v, want InvalidPropertyValue", err)
	}
}

// TestStepRejectsNil: a nil or foreign event is an error naming it, and
// changes nothing.
func TestStepRejectsNil(t *testing.T) {
	m, err := jobschedule.New(validSpec(), epoch)
	if err != nil {
		t.Fatal(err)
	}
	m.Advance(m.Ready())
	if err := m.Step(epoch, nil); !errors.Is(err, task.ErrInvalidPropertyValue) {
		t.Errorf("Step(nil) = %v, want InvalidPropertyValue", err)
	}
	if rd := m.Ready(); rd.Changed || len(rd.Actions) > 0 {
		t.Errorf("Ready after a rejected event = %+v, want empty", rd)
	}
}
