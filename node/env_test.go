package node

import (
	"testing"

	"github.com/embatch/embatch/task"
	"github.com/google/go-cmp/cmp"
)

// envMap turns settings into a map, failing on duplicate names.
func envMap(t *testing.T, env []task.EnvironmentSetting) map[string]string {
	t.Helper()
	m := make(map[string]string, len(env))
	for _, e := range env {
		if _, dup := m[e.Name]; dup {
			t.Errorf("variable %s set twice", e.Name)
		}
		m[e.Name] = e.Value
	}
	return m
}

func TestBatchEnvTask(t *testing.T) {
	l := Layout{Root: "/r"}
	a := &Attempt{
		Kind: KindTask, PoolID: "p", JobID: "j", TaskID: "t", NodeID: "n1", Dedicated: true,
		JobHasPreparation: true,
		Env: []task.EnvironmentSetting{
			{Name: "A", Value: "job"},
			{Name: "B", Value: "job"},
			{Name: "AZ_BATCH_TASK_DIR", Value: "/tmp/lie"},
			{Name: "AZ_BATCH_ACCOUNT_NAME", Value: "acct"},
			{Name: "A", Value: "task"},
		},
	}
	got := BatchEnv(a, l, EnvContext{})
	want := []task.EnvironmentSetting{
		{Name: "A", Value: "task"},
		{Name: "B", Value: "job"},
		{Name: "AZ_BATCH_ACCOUNT_NAME", Value: "acct"},
		{Name: "AZ_BATCH_NODE_ID", Value: "n1"},
		{Name: "AZ_BATCH_POOL_ID", Value: "p"},
		{Name: "AZ_BATCH_NODE_IS_DEDICATED", Value: "true"},
		{Name: "AZ_BATCH_NODE_ROOT_DIR", Value: "/r"},
		{Name: "AZ_BATCH_NODE_SHARED_DIR", Value: "/r/shared"},
		{Name: "AZ_BATCH_NODE_STARTUP_DIR", Value: "/r/startup"},
		{Name: "AZ_BATCH_JOB_ID", Value: "j"},
		{Name: "AZ_BATCH_TASK_ID", Value: "t"},
		{Name: "AZ_BATCH_TASK_DIR", Value: "/r/workitems/j/job-1/t"},
		{Name: "AZ_BATCH_TASK_WORKING_DIR", Value: "/r/workitems/j/job-1/t/wd"},
		{Name: "AZ_BATCH_JOB_PREP_DIR", Value: "/r/workitems/j/job-1/jobpreparation"},
		{Name: "AZ_BATCH_JOB_PREP_WORKING_DIR", Value: "/r/workitems/j/job-1/jobpreparation/wd"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BatchEnv mismatch (-want +got):\n%s", diff)
	}
}

func TestBatchEnvKinds(t *testing.T) {
	l := Layout{Root: "/r"}
	tests := []struct {
		name    string
		a       Attempt
		present map[string]string
		absent  []string
	}{
		{
			name: "start task has no job or task id",
			a:    Attempt{Kind: KindStartTask, PoolID: "p", TaskID: "starttask", NodeID: "n"},
			present: map[string]string{
				"AZ_BATCH_TASK_DIR":          "/r/startup",
				"AZ_BATCH_TASK_WORKING_DIR":  "/r/startup/wd",
				"AZ_BATCH_NODE_IS_DEDICATED": "false",
			},
			absent: []string{"AZ_BATCH_JOB_ID", "AZ_BATCH_TASK_ID", "AZ_BATCH_JOB_PREP_DIR", "AZ_BATCH_HOST_LIST"},
		},
		{
			name: "job preparation does not see its own prep dir variables",
			a:    Attempt{Kind: KindJobPreparation, PoolID: "p", JobID: "j", TaskID: "prep", NodeID: "n", JobHasPreparation: true},
			present: map[string]string{
				"AZ_BATCH_JOB_ID":   "j",
				"AZ_BATCH_TASK_ID":  "prep",
				"AZ_BATCH_TASK_DIR": "/r/workitems/j/job-1/jobpreparation",
			},
			absent: []string{"AZ_BATCH_JOB_PREP_DIR", "AZ_BATCH_JOB_PREP_WORKING_DIR"},
		},
		{
			name: "job release sees the prep dir",
			a:    Attempt{Kind: KindJobRelease, PoolID: "p", JobID: "j", TaskID: "rel", NodeID: "n", JobHasPreparation: true},
			present: map[string]string{
				"AZ_BATCH_TASK_DIR":     "/r/workitems/j/job-1/jobrelease",
				"AZ_BATCH_JOB_PREP_DIR": "/r/workitems/j/job-1/jobpreparation",
			},
		},
		{
			name:   "task without preparation",
			a:      Attempt{Kind: KindTask, PoolID: "p", JobID: "j", TaskID: "t", NodeID: "n", Nodes: []string{"n"}},
			absent: []string{"AZ_BATCH_JOB_PREP_DIR", "AZ_BATCH_HOST_LIST", "AZ_BATCH_TASK_SHARED_DIR"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := envMap(t, BatchEnv(&tt.a, l, EnvContext{}))
			for k, v := range tt.present {
				if m[k] != v {
					t.Errorf("%s = %q, want %q", k, m[k], v)
				}
			}
			for _, k := range tt.absent {
				if v, ok := m[k]; ok {
					t.Errorf("%s = %q, want it unset", k, v)
				}
			}
		})
	}
}

func TestBatchEnvMultiInstance(t *testing.T) {
	a := &Attempt{Kind: KindTask, PoolID: "p", JobID: "j", TaskID: "mpi", NodeID: "n1", Nodes: []string{"n1", "n2", "n3"}}
	addr := map[string]string{"n1": "127.0.0.2", "n2": "127.0.0.3", "n3": "127.0.0.4"}
	c := EnvContext{NodeID: "n2", HostAddress: func(id string) string { return addr[id] }, MasterPort: 7000}
	m := envMap(t, BatchEnv(a, Layout{Root: "/nodes/n2"}, c))
	want := map[string]string{
		"AZ_BATCH_NODE_ID":                "n2",
		"AZ_BATCH_HOST_LIST":              "127.0.0.2,127.0.0.3,127.0.0.4",
		"AZ_BATCH_NODE_LIST":              "127.0.0.2;127.0.0.3;127.0.0.4",
		"AZ_BATCH_MASTER_NODE":            "127.0.0.2:7000",
		"AZ_BATCH_IS_CURRENT_NODE_MASTER": "false",
		"AZ_BATCH_TASK_SHARED_DIR":        "/nodes/n2/workitems/j/job-1/mpi",
		"AZ_BATCH_TASK_DIR":               "/nodes/n2/workitems/j/job-1/mpi",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	m = envMap(t, BatchEnv(a, Layout{Root: "/nodes/n1"}, EnvContext{}))
	if got := m["AZ_BATCH_IS_CURRENT_NODE_MASTER"]; got != "true" {
		t.Errorf("primary: AZ_BATCH_IS_CURRENT_NODE_MASTER = %q, want true", got)
	}
	if got := m["AZ_BATCH_MASTER_NODE"]; got != "n1:6000" {
		t.Errorf("default address and port: AZ_BATCH_MASTER_NODE = %q, want n1:6000", got)
	}
}

func TestMergeEnviron(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/root", "junk", "=x", "LANG=C"}
	got := MergeEnviron(base, []task.EnvironmentSetting{{Name: "HOME", Value: "/h"}, {Name: "NEW", Value: "a=b"}})
	want := []string{"PATH=/bin", "HOME=/h", "LANG=C", "NEW=a=b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MergeEnviron mismatch (-want +got):\n%s", diff)
	}
	if v, ok := LookupEnviron(got, "NEW"); !ok || v != "a=b" {
		t.Errorf("LookupEnviron(NEW) = %q, %v", v, ok)
	}
	if _, ok := LookupEnviron(got, "MISSING"); ok {
		t.Error("LookupEnviron(MISSING) found something")
	}
}
