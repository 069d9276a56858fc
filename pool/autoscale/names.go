package autoscale

import (
	"strings"
	"time"
)

// NodeDeallocationOption is the value of $NodeDeallocationOption: what happens
// to running tasks when a shrink removes their node. The zero value is
// invalid; an evaluation that does not set it reports Requeue, Azure's
// default. The values are the strings pool.DeallocationOption uses.
type NodeDeallocationOption string

// The $NodeDeallocationOption values. A formula writes them as bare names
// ($NodeDeallocationOption = taskcompletion;) or as strings.
const (
	Requeue        NodeDeallocationOption = "requeue"
	Terminate      NodeDeallocationOption = "terminate"
	TaskCompletion NodeDeallocationOption = "taskcompletion"
	RetainedData   NodeDeallocationOption = "retaineddata"
)

// parseDeallocation accepts an option in any letter case.
func parseDeallocation(s string) (NodeDeallocationOption, bool) {
	switch o := NodeDeallocationOption(strings.ToLower(s)); o {
	case Requeue, Terminate, TaskCompletion, RetainedData:
		return o, true
	}
	return "", false
}

// svcKind says which read-write or scalar read-only service variable a name
// refers to.
type svcKind int

const (
	svcInvalid svcKind = iota
	svcTargetDedicated
	svcTargetLowPriority
	svcDeallocation
	svcCurrentDedicated
	svcCurrentLowPriority
	svcTaskSlots
)

// serviceVar describes a service-defined variable that is not sampled.
type serviceVar struct {
	kind     svcKind
	alias    bool // $TargetDedicated and $TargetLowPriority: a separate slot that loses to the full name
	writable bool
	typ      Type
}

// serviceVars are the non-sampled service variables by name (case-sensitive,
// as Azure documents them). $CurrentDedicated is the 2016 name of
// $CurrentDedicatedNodes, still found in old formulas (Azure PowerShell's
// Test-AzBatchAutoScale example uses it).
var serviceVars = map[string]serviceVar{
	"$TargetDedicatedNodes":    {kind: svcTargetDedicated, writable: true, typ: TypeDouble},
	"$TargetDedicated":         {kind: svcTargetDedicated, alias: true, writable: true, typ: TypeDouble},
	"$TargetLowPriorityNodes":  {kind: svcTargetLowPriority, writable: true, typ: TypeDouble},
	"$TargetLowPriority":       {kind: svcTargetLowPriority, alias: true, writable: true, typ: TypeDouble},
	"$NodeDeallocationOption":  {kind: svcDeallocation, writable: true, typ: TypeString},
	"$CurrentDedicatedNodes":   {kind: svcCurrentDedicated, typ: TypeDouble},
	"$CurrentDedicated":        {kind: svcCurrentDedicated, typ: TypeDouble},
	"$CurrentLowPriorityNodes": {kind: svcCurrentLowPriority, typ: TypeDouble},
	"$TaskSlotsPerNode":        {kind: svcTaskSlots, typ: TypeDouble},
}

// constants are the predefined names without $: the TimeInterval_*
// constants and the $NodeDeallocationOption values.
var constants = map[string]Value{
	"TimeInterval_Zero":        intervalValue(0),
	"TimeInterval_100ns":       intervalValue(100 * time.Nanosecond),
	"TimeInterval_Microsecond": intervalValue(time.Microsecond),
	"TimeInterval_Millisecond": intervalValue(time.Millisecond),
	"TimeInterval_Second":      intervalValue(time.Second),
	"TimeInterval_Minute":      intervalValue(time.Minute),
	"TimeInterval_Hour":        intervalValue(time.Hour),
	"TimeInterval_Day":         intervalValue(24 * time.Hour),
	"TimeInterval_Week":        intervalValue(7 * 24 * time.Hour),
	"TimeInterval_Year":        intervalValue(365 * 24 * time.Hour),
	"requeue":                  stringValue(string(Requeue)),
	"terminate":                stringValue(string(Terminate)),
	"taskcompletion":           stringValue(string(TaskCompletion)),
	"retaineddata":             stringValue(string(RetainedData)),
}

// timestampMembers are the members of a timestamp value.
var timestampMembers = map[string]func(t time.Time) float64{
	"year":  func(t time.Time) float64 { return float64(t.Year()) },
	"month": func(t time.Time) float64 { return float64(t.Month()) },
	"day":   func(t time.Time) float64 { return float64(t.Day()) },
	"weekday": func(t time.Time) float64 {
		if t.Weekday() == time.Sunday {
			return 7
		}
		return float64(t.Weekday())
	},
	"hour":   func(t time.Time) float64 { return float64(t.Hour()) },
	"minute": func(t time.Time) float64 { return float64(t.Minute()) },
	"second": func(t time.Time) float64 { return float64(t.Second()) },
}

// similarServiceName returns the service variable or metric name that
// differs from name only in letter case, for a friendlier error.
func similarServiceName(name string) string {
	for n := range serviceVars {
		if strings.EqualFold(n, name) {
			return n
		}
	}
	for _, m := range Metrics() {
		if strings.EqualFold(m.String(), name) {
			return m.String()
		}
	}
	return ""
}
