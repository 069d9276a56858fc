package pool

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/embatch/embatch/task"
)

// TestRunInfoRoundTrip checks that the compact runInfo gives back every
// execution and node info it was given, including what it keeps apart
// (exit codes beyond 32 bits, unusual results and node infos).
func TestRunInfoRoundTrip(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	code := func(n int) *int { return &n }
	cases := []struct {
		exec task.ExecutionInfo
		node *task.NodeInfo
	}{
		{},
		{exec: task.ExecutionInfo{StartTime: t0, EndTime: t0.Add(time.Second), ExitCode: code(0), Result: task.ResultSuccess},
			node: &task.NodeInfo{AffinityID: "tvm-1", PoolID: "p", NodeID: "tvm-1", TaskRootDirectory: "/x"}},
		{exec: task.ExecutionInfo{StartTime: t0, ExitCode: code(3221225477), Result: task.ResultFailure, RetryCount: 2, LastRetryTime: t0,
			RequeueCount: 1, LastRequeueTime: t0, FailureInfo: &task.FailureInfo{Code: "x"}},
			node: &task.NodeInfo{AffinityID: "other", PoolID: "p", NodeID: "tvm-2"}},
		{exec: task.ExecutionInfo{ExitCode: code(-1), Result: "odd"}, node: &task.NodeInfo{PoolID: "q", NodeID: "tvm-3"}},
		{exec: task.ExecutionInfo{EndTime: t0, Result: task.ResultFailure}}, // ended before it started
		{exec: task.ExecutionInfo{StartTime: t0, EndTime: t0.In(time.FixedZone("x", 3600)).Add(time.Minute)}},
	}
	for i, tc := range cases {
		c := &Candidate{job: &jobRec{poolID: "p"}}
		c.setExecInfo(tc.exec)
		if tc.node != nil {
			c.setNodeInfo(*tc.node)
		}
		if diff := cmp.Diff(tc.exec, c.execInfo()); diff != "" {
			t.Errorf("case %d: executionInfo (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(tc.node, c.nodeInfo()); diff != "" {
			t.Errorf("case %d: nodeInfo (-want +got):\n%s", i, diff)
		}
	}
}

// TestRunInfoKnowsEveryField fails when task.ExecutionInfo or
// task.NodeInfo gains a field: runInfo stores each field explicitly, so a
// new one would silently be dropped. Store it in runinfo.go, add it to
// TestRunInfoRoundTrip's cases, then to the lists here.
func TestRunInfoKnowsEveryField(t *testing.T) {
	for _, tc := range []struct {
		typ  reflect.Type
		want []string
	}{
		{reflect.TypeFor[task.ExecutionInfo](), []string{"StartTime", "EndTime", "ExitCode", "FailureInfo", "RetryCount", "LastRetryTime", "RequeueCount", "LastRequeueTime", "Result"}},
		{reflect.TypeFor[task.NodeInfo](), []string{"AffinityID", "PoolID", "NodeID", "TaskRootDirectory"}},
	} {
		var got []string
		for f := range tc.typ.Fields() {
			got = append(got, f.Name)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("%s fields (-runInfo knows +the type has):\n%s", tc.typ, diff)
		}
	}
}
