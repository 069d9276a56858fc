package autoscale

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC) // a Monday

// seriesEnding returns samples every 30 s, the last at end.
func seriesEnding(end time.Time, values ...float64) Series {
	s := make(Series, len(values))
	for i, v := range values {
		s[i] = Sample{Time: end.Add(-time.Duration(len(values)-1-i) * SamplePeriod), Value: v}
	}
	return s
}

// userVars evaluates src and returns the user-variable part of the results
// string, or "error: <err>".
func userVars(t *testing.T, src string, env Env) string {
	t.Helper()
	r, err := Eval(src, env)
	if err != nil {
		return "error: " + err.Error()
	}
	var parts []string
	for _, v := range r.Variables[3:] {
		parts = append(parts, v.Name+"="+v.Value.String())
	}
	return strings.Join(parts, ";")
}

func baseEnv() Env {
	return Env{
		Now:  testNow,
		Rand: fixedRand{0.25},
		Samples: SeriesMap{
			CPUPercent: seriesEnding(testNow, 1, 2, 3),
			MemoryBytes: Series{ // out of order, and one in the future
				{testNow.Add(-30 * time.Second), 20},
				{testNow.Add(30 * time.Second), 99},
				{testNow, 30},
				{testNow.Add(-60 * time.Second), 10},
			},
			DiskReadOps: seriesEnding(testNow, 40, 15, 50, 20, 35),
		},
	}
}

func TestEvalOperators(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"arithmetic", "x = 7 + 2; y = 7 - 2; z = 7 * 2; w = 7 / 2", "w=3.5;x=9;y=5;z=14"},
		{"IEEE division", "x = 1 / 0; y = -1 / 0; z = 0 / 0", "x=Infinity;y=-Infinity;z=NaN"},
		{"vector and double", "v = $CPUPercent.GetSample(3); a = v + 1; b = v - 1; c = v * 2; d = v / 2",
			"a=[2,3,4];b=[0,1,2];c=[2,4,6];d=[0.5,1,1.5];v=[1,2,3]"},
		{"vector and vector", "v = $CPUPercent.GetSample(3); e = v + v; f = v - v; g = v * v; h = v / v",
			"e=[2,4,6];f=[0,0,0];g=[1,4,9];h=[1,1,1];v=[1,2,3]"},
		{"vector length mismatch", "v = $CPUPercent.GetSample(3) + $CPUPercent.GetSample(2)",
			"error: 1:30: operator + needs doubleVecs of the same length, got 3 and 2"},
		{"double comparisons", "a = 1 < 2; b = 2 <= 2; c = 3 > 4; d = 3 >= 4; e = 1 == 1; f = 1 != 1", "a=1;b=1;c=0;d=0;e=1;f=0"},
		{"NaN comparisons", "n = 0/0; a = n == n; b = n != n; c = n < 1; d = n ? 1 : 2", "a=0;b=1;c=0;d=1;n=NaN"},
		{"string comparisons", `a = "abc" < "abd"; b = "b" > "a"; c = "x" == "x"; d = "x" != "X"; e = "a" >= "b"; f = "a" <= "a"`,
			"a=1;b=1;c=1;d=1;e=0;f=1"},
		{"timestamp comparisons", `a = time() > time("2024-01-01"); b = time() == time("2024-01-15T12:00:00Z"); c = time() < time("2024-01-01")`,
			"a=1;b=1;c=0"},
		{"interval comparisons", "a = TimeInterval_Minute < TimeInterval_Hour; b = 60 * TimeInterval_Second == TimeInterval_Minute; c = TimeInterval_Day <= TimeInterval_Hour; d = -TimeInterval_Second != TimeInterval_Second",
			"a=1;b=1;c=0;d=1"},
		{"logic", "a = 1 && 2; b = 1 && 0; c = 0 || 0; d = 0 || 3; e = !0; f = !5; g = -(3); h = !(0/0)",
			"a=1;b=0;c=0;d=1;e=1;f=0;g=-3;h=0"},
		{"&& short-circuits", "a = 0 && avg($DiskBytes.GetSample(1)) > 1", "a=0"},
		{"|| short-circuits", "b = 1 || avg($DiskBytes.GetSample(1)) > 1", "b=1"},
		{"&& evaluates the right side when needed", "c = 1 && avg($DiskBytes.GetSample(1)) > 1", "error: 1:10: avg of an empty list"},
		{"?: evaluates only the chosen branch", "x = 1 ? 2 : avg($DiskBytes.GetSample(1)); y = 0 ? avg($DiskBytes.GetSample(1)) : 3", "x=2;y=3"},
		{"?: chosen branch fails", "x = 0 ? 2 : avg($DiskBytes.GetSample(1))", "error: 1:13: avg of an empty list"},
		{"intervals", "a = TimeInterval_Hour + TimeInterval_Minute; b = TimeInterval_Hour - TimeInterval_Minute; c = 2 * TimeInterval_Day; d = TimeInterval_Hour * 1.5; e = TimeInterval_Hour / 4; f = -TimeInterval_Second",
			"a=01:01:00;b=00:59:00;c=2.00:00:00;d=01:30:00;e=00:15:00;f=-00:00:01"},
		{"interval constants", "g = TimeInterval_Week; h = TimeInterval_Year; i = TimeInterval_Millisecond; j = TimeInterval_Microsecond; k = TimeInterval_100ns; l = TimeInterval_Zero; m = TimeInterval_Second",
			"g=7.00:00:00;h=365.00:00:00;i=00:00:00.0010000;j=00:00:00.0000010;k=00:00:00.0000001;l=00:00:00;m=00:00:01"},
		{"timestamp arithmetic", `t = time("2024-02-28T23:30:00Z") + TimeInterval_Hour; u = TimeInterval_Day + time("2024-02-28"); d = time("2024-03-01") - time("2024-02-28"); e = time("2024-02-28") - time("2024-03-01")`,
			"d=2.00:00:00;e=-2.00:00:00;t=2024-02-29T00:30:00.000Z;u=2024-02-29T00:00:00.000Z"},
		{"timestamp members", `t = time("2024-02-29T13:45:56Z"); y = t.year; mo = t.month; d = t.day; w = t.weekday; h = t.hour; mi = t.minute; s = t.second`,
			"d=29;h=13;mi=45;mo=2;s=56;t=2024-02-29T13:45:56.000Z;w=4;y=2024"},
		{"Sunday is weekday 7", `w = time("2024-01-14").weekday; m = time("2024-01-15").weekday`, "m=1;w=7"},
		{"timestamp overflow", `t = time("9999-12-31") + TimeInterval_Day`, "error: 1:24: timestamp out of range"},
		{"timestamp underflow", `t = time("0001-01-01") + (-1 * TimeInterval_Second)`, "error: 1:24: timestamp out of range"},
		{"interval overflow", "x = TimeInterval_Year * 1000", "error: 1:23: time interval out of range"},
		{"interval overflow from double", "x = 1e300 * TimeInterval_Second", "error: 1:11: time interval out of range"},
		{"interval times NaN", "x = (0/0) * TimeInterval_Second", "error: 1:11: time interval out of range"},
		{"interval sum overflow", "y = TimeInterval_Year * 290; x = y + y", "error: 1:36: time interval out of range"},
		{"interval divided by zero", "x = TimeInterval_Hour / 0", "error: 1:23: division of a time interval by zero"},
		{"timestamp difference overflow", `x = time("9999-01-01") - time("0001-01-01")`, "error: 1:24: time interval out of range"},
		{"variables change type", "x = 1; x = time()", "x=2024-01-15T12:00:00.000Z"},
		{"strings", `s = "hi there"; o = taskcompletion`, "o=taskcompletion;s=hi there"},
		{"$x and x are different variables", "$x = 1; x = 2; y = $x + x", "$x=1;x=2;y=3"},
		{"results sorted by name, bytewise", "a = 1; Z = 2; $b = 3; _c = 4", "$b=3;Z=2;_c=4;a=1"},
		{"function names are not reserved", "max = 1; y = max(max, 2)", "max=1;y=2"},
	}
	for _, tt := range tests {
		if got := userVars(t, tt.src, baseEnv()); got != tt.want {
			t.Errorf("%s: %s\n got %s\nwant %s", tt.name, tt.src, got, tt.want)
		}
	}
}

func TestEvalFunctions(t *testing.T) {
	const v = "v = $CPUPercent.GetSample(3); "  // [1,2,3]
	const p = "p = $DiskReadOps.GetSample(5); " // [40,15,50,20,35]
	tests := []struct {
		name, src, want string
	}{
		{"avg (the docs' doubleVecList example)", v + "a = avg(v); b = avg(1,2,3); c = avg(v, 7); d = avg(1,2,3,7)", "a=2;b=2;c=3.25;d=3.25;v=[1,2,3]"},
		{"len", v + "a = len(v, 7); b = len(); c = len(5)", "a=4;b=0;c=1;v=[1,2,3]"},
		{"max", v + "a = max(v, 7); b = max(v); c = max(-1)", "a=7;b=3;c=-1;v=[1,2,3]"},
		{"min", v + "a = min(v, 0); b = min(v)", "a=0;b=1;v=[1,2,3]"},
		{"norm", v + "a = norm(3, 4); b = norm(); c = norm(v)", "a=5;b=0;c=3.74166;v=[1,2,3]"},
		{"range", v + "a = range(v, 7); b = range(4)", "a=6;b=0;v=[1,2,3]"},
		{"std (sample)", "a = std(2,4,4,4,5,5,7,9); b = std(5)", "a=2.13809;b=0"},
		{"sum", v + "a = sum(v, 7); b = sum()", "a=13;b=0;v=[1,2,3]"},
		{"avg of nothing", "a = avg()", "error: 1:5: avg of an empty list"},
		{"max of nothing", "a = max($DiskBytes.GetSample(5))", "error: 1:5: max of an empty list"},
		{"min of nothing", "a = min()", "error: 1:5: min of an empty list"},
		{"range of nothing", "a = range()", "error: 1:5: range of an empty list"},
		{"std of nothing", "a = std()", "error: 1:5: std of an empty list"},
		{"logarithms of a double", "a = lg(8); b = ln(1); c = log(1000); d = ln(0); e = log(-1)", "a=3;b=0;c=3;d=-Infinity;e=NaN"},
		{"logarithms of a list", v + "a = lg(v); b = log(10, 100); c = ln(); d = log(v, 1000)", "a=[0,1,1.58496];b=[1,2];c=[];d=[0,0.30103,0.477121,3];v=[1,2,3]"},
		{"percentile, nearest rank", p + "a = percentile(p, 0); b = percentile(p, 5); c = percentile(p, 30); d = percentile(p, 40); e = percentile(p, 50); f = percentile(p, 100)",
			"a=15;b=15;c=20;d=20;e=35;f=50;p=[40,15,50,20,35]"},
		{"percentile out of range", p + "a = percentile(p, 101)", "error: 1:50: percentile 101 is not between 0 and 100"},
		{"percentile of NaN", p + "a = percentile(p, 0/0)", "error: 1:50: percentile NaN is not between 0 and 100"},
		{"percentile of nothing", "a = percentile($DiskBytes.GetSample(1), 50)", "error: 1:5: percentile of an empty doubleVec"},
		{"val", p + "a = val(p, 0); b = val(p, 2.7); c = val(p, 4)", "a=40;b=50;c=35;p=[40,15,50,20,35]"},
		{"val past the end", p + "a = val(p, 5)", "error: 1:43: val index 5 is out of range for a doubleVec of length 5"},
		{"val before the start", p + "a = val(p, -1)", "error: 1:43: val index -1 is out of range for a doubleVec of length 5"},
		{"val of nothing", "a = val($DiskBytes.GetSample(1), 0)", "error: 1:34: val index 0 is out of range for a doubleVec of length 0"},
		{"rand", "a = rand(); b = rand() < 1", "a=0.25;b=1"},
		{"time", "a = time(); b = time(\"\")", "a=2024-01-15T12:00:00.000Z;b=2024-01-15T12:00:00.000Z"},
		{"time formats", `a = time("Mon, 15 Jan 2024 12:00:00 GMT"); b = time("Mon, 15 Jan 2024 13:00:00 +0100"); c = time("2024"); d = time("2024-02"); e = time("2024-01-15"); f = time("2024-01-15T12:00+02:00"); g = time("2024-01-15T12:00:00.5Z"); h = time(" 2024-01-15T12:00:00 ")`,
			"a=2024-01-15T12:00:00.000Z;b=2024-01-15T12:00:00.000Z;c=2024-01-01T00:00:00.000Z;d=2024-02-01T00:00:00.000Z;e=2024-01-15T00:00:00.000Z;f=2024-01-15T10:00:00.000Z;g=2024-01-15T12:00:00.500Z;h=2024-01-15T12:00:00.000Z"},
		{"time of a string variable", `s = "2024-06-01"; t = time(s)`, "s=2024-06-01;t=2024-06-01T00:00:00.000Z"},
		{"time of a bad string variable", `s = "soon"; t = time(s)`, `error: 1:22: time: "soon" is neither an RFC 1123 nor a W3C-DTF date-time`},
	}
	for _, tt := range tests {
		if got := userVars(t, tt.src, baseEnv()); got != tt.want {
			t.Errorf("%s: %s\n got %s\nwant %s", tt.name, tt.src, got, tt.want)
		}
	}

	env := baseEnv()
	env.Rand = nil
	if got, want := userVars(t, "a = 1; b = rand()", env), "error: 1:12: rand() needs a random source (Env.Rand is nil)"; got != want {
		t.Errorf("rand without a source: got %s, want %s", got, want)
	}
}

func TestEvalSampleMethods(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"Count, HistoryBeginTime, GetSamplePeriod", "c = $CPUPercent.Count(); b = $CPUPercent.HistoryBeginTime(); p = $CPUPercent.GetSamplePeriod()",
			"b=2024-01-15T11:59:00.000Z;c=3;p=00:00:30"},
		{"GetSample(count)", "a = $CPUPercent.GetSample(1); b = $CPUPercent.GetSample(2.9); c = $CPUPercent.GetSample(9); d = $CPUPercent.GetSample(0)",
			"a=[3];b=[2,3];c=[1,2,3];d=[]"},
		{"history is sorted and future samples are not available", "a = $MemoryBytes.GetSample(9); c = $MemoryBytes.Count()", "a=[10,20,30];c=3"},
		{"timestamp start", `w = $DiskReadOps.GetSample(time("2024-01-15T11:58:30Z"))`, "w=[50,20,35]"},
		{"timestamp window", `w = $DiskReadOps.GetSample(time("2024-01-15T11:58:00Z"), time("2024-01-15T11:59:00Z"))`, "w=[15,50]"},
		{"bounds in either order, mixed types", `w = $DiskReadOps.GetSample(TimeInterval_Minute, time("2024-01-15T11:58:00Z"))`, "w=[15,50]"},
		{"percent of a window", "a = $DiskReadOps.GetSamplePercent(TimeInterval_Minute * 10); b = $DiskReadOps.GetSamplePercent(TimeInterval_Minute * 2); c = $DiskReadOps.GetSamplePercent(TimeInterval_Minute * 2, TimeInterval_Minute)",
			"a=25;b=100;c=100"},
		{"a window shorter than a period can hold one sample", "a = $DiskReadOps.GetSamplePercent(0 * TimeInterval_Second); b = $DiskReadOps.GetSamplePercent(TimeInterval_Second); c = $DiskReadOps.GetSamplePercent(TimeInterval_Minute * 3, TimeInterval_Minute * 2.5)",
			"a=0;b=100;c=0"},
		{"a 45-s window can hold one sample (not two), and percent is capped at 100",
			"a = $DiskReadOps.GetSamplePercent(TimeInterval_Second * 50, TimeInterval_Second * 5); b = $DiskReadOps.GetSamplePercent(TimeInterval_Second * 45)",
			"a=100;b=100"},
		{"enough samples", "w = $DiskReadOps.GetSample(TimeInterval_Minute * 2, 100); x = $DiskReadOps.GetSample(TimeInterval_Minute * 2, TimeInterval_Minute / 2, 75)",
			"w=[15,50,20,35];x=[15,50,20]"},
		{"half the samples of a window", "x = $DiskReadOps.GetSample(TimeInterval_Minute * 4, TimeInterval_Minute, 75)",
			"error: 1:5: insufficient data from data set: $DiskReadOps wanted 75%, received 50%"},
		{"not enough samples", "w = $DiskReadOps.GetSample(TimeInterval_Minute * 10, 30)",
			"error: 1:5: insufficient data from data set: $DiskReadOps wanted 30%, received 25%"},
		{"samplePercent out of range", "w = $DiskReadOps.GetSample(TimeInterval_Minute, 101)", "error: 1:49: samplePercent 101 is not between 0 and 100"},
		{"negative count", "w = $DiskReadOps.GetSample(-1)", "error: 1:28: GetSample count -1 is negative"},
		{"no history", "c = $DiskBytes.Count(); b = $DiskBytes.HistoryBeginTime()", "error: 1:29: $DiskBytes has no samples, so no HistoryBeginTime"},
	}
	for _, tt := range tests {
		if got := userVars(t, tt.src, baseEnv()); got != tt.want {
			t.Errorf("%s: %s\n got %s\nwant %s", tt.name, tt.src, got, tt.want)
		}
	}

	// Every metric resolves to its own series.
	for _, m := range Metrics() {
		env := Env{Now: testNow, Samples: SeriesMap{m: seriesEnding(testNow, float64(m))}}
		src := "x = " + m.String() + ".GetSample(1)"
		if got, want := userVars(t, src, env), "x=["+formatDouble(float64(m))+"]"; got != want {
			t.Errorf("%s: got %s, want %s", src, got, want)
		}
	}

	// No Samples at all, and a negative delay (treated as zero).
	if got := userVars(t, "c = $CPUPercent.Count()", Env{Now: testNow}); got != "c=0" {
		t.Errorf("nil Samples: got %s", got)
	}
	env := baseEnv()
	env.SampleDelay = -time.Hour
	if got := userVars(t, "a = $MemoryBytes.GetSample(9)", env); got != "a=[10,20,30]" {
		t.Errorf("negative delay: got %s", got)
	}
	env.SampleDelay = 30 * time.Second
	if got := userVars(t, "a = $MemoryBytes.GetSample(9); p = $MemoryBytes.GetSamplePercent(TimeInterval_Minute * 1.5)", env); got != "a=[10,20];p=66.6667" {
		t.Errorf("30 s delay: got %s", got)
	}
}

func TestEvalServiceVariables(t *testing.T) {
	env := Env{Now: testNow, CurrentDedicatedNodes: 3, CurrentLowPriorityNodes: 2, TaskSlotsPerNode: 4,
		TargetDedicatedNodes: 5, TargetLowPriorityNodes: 6, NodeDeallocationOption: Terminate}
	tests := []struct {
		name, src, want string
	}{
		{"reads", "a = $CurrentDedicatedNodes; b = $CurrentLowPriorityNodes; c = $TaskSlotsPerNode; d = $TargetDedicatedNodes; e = $TargetLowPriorityNodes; f = $NodeDeallocationOption; g = $CurrentDedicated; h = $TargetDedicated; i = $TargetLowPriority",
			"$TargetDedicatedNodes=5;$TargetLowPriorityNodes=6;$NodeDeallocationOption=terminate;a=3;b=2;c=4;d=5;e=6;f=terminate;g=3;h=5;i=6"},
		{"alias alone", "$TargetDedicated = 7; $TargetLowPriority = 8",
			"$TargetDedicatedNodes=7;$TargetLowPriorityNodes=8;$NodeDeallocationOption=terminate"},
		{"full name wins, assigned first", "$TargetDedicatedNodes = 8; $TargetDedicated = 7; $TargetLowPriorityNodes = 1; $TargetLowPriority = 2",
			"$TargetDedicatedNodes=8;$TargetLowPriorityNodes=1;$NodeDeallocationOption=terminate"},
		{"full name wins, assigned last", "$TargetDedicated = 7; $TargetDedicatedNodes = 8; $TargetLowPriority = 2; $TargetLowPriorityNodes = 1",
			"$TargetDedicatedNodes=8;$TargetLowPriorityNodes=1;$NodeDeallocationOption=terminate"},
		{"an alias is its own variable", "$TargetDedicatedNodes = 8; x = $TargetDedicated; y = $TargetDedicatedNodes",
			"$TargetDedicatedNodes=8;$TargetLowPriorityNodes=6;$NodeDeallocationOption=terminate;x=5;y=8"},
		{"options by name", "$NodeDeallocationOption = retaineddata", "$TargetDedicatedNodes=5;$TargetLowPriorityNodes=6;$NodeDeallocationOption=retaineddata"},
		{"options as strings, any case", `$NodeDeallocationOption = "TaskCompletion"`, "$TargetDedicatedNodes=5;$TargetLowPriorityNodes=6;$NodeDeallocationOption=taskcompletion"},
		{"requeue", "$NodeDeallocationOption = requeue; o = $NodeDeallocationOption", "$TargetDedicatedNodes=5;$TargetLowPriorityNodes=6;$NodeDeallocationOption=requeue;o=requeue"},
		{"bad option", `$NodeDeallocationOption = "nope"`, `error: 1:27: "nope" is not a $NodeDeallocationOption (requeue, terminate, taskcompletion or retaineddata)`},
		{"negative target", "$TargetDedicatedNodes = -1", "error: 1:1: $TargetDedicatedNodes is negative (-1); clamp it with max(0, ...)"},
		{"slightly negative target truncates to 0", "$TargetDedicatedNodes = -0.5", "$TargetDedicatedNodes=-0.5;$TargetLowPriorityNodes=6;$NodeDeallocationOption=terminate"},
		{"NaN target", "x = 1;\n$TargetLowPriorityNodes = 0/0", "error: 2:1: $TargetLowPriorityNodes is NaN, not a number of nodes"},
		{"infinite target", "$TargetLowPriority = 1/0", "error: 1:1: $TargetLowPriorityNodes is Infinity, not a number of nodes"},
		{"huge target", "$TargetDedicatedNodes = 1e10", "error: 1:1: $TargetDedicatedNodes is too large (1e+10)"},
		{"the losing alias is not checked", "$TargetDedicated = -1; $TargetDedicatedNodes = 1", "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=6;$NodeDeallocationOption=terminate"},
	}
	for _, tt := range tests {
		r, err := Eval(tt.src, env)
		got := r.String()
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: %s\n got %s\nwant %s", tt.name, tt.src, got, tt.want)
		}
	}

	r, err := Eval("$TargetDedicatedNodes = 2.9; $TargetLowPriorityNodes = -0.5", env)
	if err != nil || r.TargetDedicatedNodes != 2 || r.TargetLowPriorityNodes != 0 || r.NodeDeallocationOption != Terminate {
		t.Errorf("applied targets: %+v, %v", r, err)
	}
}

func TestStop(t *testing.T) {
	env := Env{Now: testNow, TargetDedicatedNodes: 4}
	r, err := Eval("x = 1; $TargetDedicatedNodes = 3; stop(); $TargetDedicatedNodes = 5; y = 2", env)
	if err != nil || !r.Stopped || r.TargetDedicatedNodes != 3 ||
		r.String() != "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;x=1" {
		t.Errorf("stop as a statement: %v %+v", err, r)
	}
	r, err = Eval("$TargetDedicatedNodes = $CurrentDedicatedNodes > 0 ? 1 : stop()", env)
	if err != nil || !r.Stopped || r.TargetDedicatedNodes != 4 {
		t.Errorf("stop in a branch: %v %+v", err, r)
	}
	r, err = Eval("$TargetDedicatedNodes = $CurrentDedicatedNodes == 0 ? 1 : stop()", env)
	if err != nil || r.Stopped || r.TargetDedicatedNodes != 1 {
		t.Errorf("stop in the branch not taken: %v %+v", err, r)
	}
	r, err = Eval("x = 1 + (0 ? 1 : stop())", env)
	if err != nil || !r.Stopped || len(r.Variables) != 3 {
		t.Errorf("stop inside an expression: %v %+v", err, r)
	}
}

// TestFailedEvaluation checks that a failure reports the unchanged pool and
// a matchable error with Azure's code and message layout.
func TestFailedEvaluation(t *testing.T) {
	env := Env{Now: testNow, TargetDedicatedNodes: 2, NodeDeallocationOption: TaskCompletion}
	f, err := Parse("x = 5;\n$TargetDedicatedNodes = x;\ny = $RunningTasks.GetSample(TimeInterval_Minute, 70)")
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Evaluate(env)
	if !errors.Is(err, ErrInsufficientSampleData) {
		t.Fatalf("err = %v, want ErrInsufficientSampleData", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInsufficientSampleData || e.Line != 3 || e.Col != 5 {
		t.Fatalf("err = %#v", err)
	}
	if got, want := e.Detail(), "Line 3, Col 5: insufficient data from data set: $RunningTasks wanted 70%, received 0%"; got != want {
		t.Errorf("Detail() = %q, want %q", got, want)
	}
	if got, want := r.String(), "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion"; got != want {
		t.Errorf("result = %s, want the unchanged pool %s", got, want)
	}

	_, err = Eval("x = avg()", env)
	if !errors.Is(err, ErrEvaluation) || errors.Is(err, ErrSyntax) {
		t.Errorf("avg(): err = %v, want ErrEvaluation", err)
	}
	r, err = Eval("x = ", Env{TargetLowPriorityNodes: 3, NodeDeallocationOption: "bogus"})
	if !errors.Is(err, ErrSyntax) || r.String() != "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=3;$NodeDeallocationOption=requeue" {
		t.Errorf("syntax error: %v, %s", err, r)
	}
	if (&Error{Code: "Other", Msg: "m"}).Unwrap() != nil {
		t.Error("an unknown code unwraps to a sentinel")
	}
	if got := (&Error{Code: CodeTooLong, Msg: "too long"}).Detail(); got != "too long" {
		t.Errorf("Detail without a position = %q", got)
	}
}

func TestResultVar(t *testing.T) {
	r, err := Eval("x = 2; $TargetDedicatedNodes = x", Env{})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := r.Var("x"); !ok || v.Type() != TypeDouble || v.Double() != 2 {
		t.Errorf("Var(x) = %v, %v", v, ok)
	}
	if v, ok := r.Var("$TargetDedicatedNodes"); !ok || v.Double() != 2 {
		t.Errorf("Var($TargetDedicatedNodes) = %v, %v", v, ok)
	}
	if _, ok := r.Var("y"); ok {
		t.Error("Var(y) found a variable the formula did not assign")
	}
}

// TestEvaluateIsDeterministic evaluates one formula repeatedly, including
// over many variables (map iteration order must not leak into results).
func TestEvaluateIsDeterministic(t *testing.T) {
	var b strings.Builder
	for i := range 60 {
		b.WriteString("v")
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(string(rune('a' + i/26)))
		b.WriteString(" = rand() * $CPUPercent.Count();\n")
	}
	f, err := Parse(b.String())
	if err != nil {
		t.Fatal(err)
	}
	first := ""
	for i := range 20 {
		r, err := f.Evaluate(baseEnv())
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = r.String()
		} else if r.String() != first {
			t.Fatalf("evaluation %d differs:\n%s\n%s", i, r.String(), first)
		}
	}
}
