package autoscale

import (
	"errors"
	"strings"
	"testing"
)

// TestParseCanonical checks precedence, associativity, comments and
// literals through Formula.String, which parenthesizes every operation.
func TestParseCanonical(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		{"x = 1 + 2 * 3", "x = (1 + (2 * 3));\n"},
		{"x = (1 + 2) * 3", "x = ((1 + 2) * 3);\n"},
		{"x = 1 - 2 - 3", "x = ((1 - 2) - 3);\n"},
		{"x = 8 / 4 / 2", "x = ((8 / 4) / 2);\n"},
		{"x = 8 / 4 * 2", "x = ((8 / 4) * 2);\n"},
		{"x = -2 * 3", "x = ((-2) * 3);\n"},
		{"x = --1", "x = (-(-1));\n"},
		{"x = !1 == 0", "x = ((!1) == 0);\n"},
		{"x = 1 < 2 == 3 > 4", "x = ((1 < 2) == (3 > 4));\n"},
		{"x = 1 <= 2 != 3 >= 4", "x = ((1 <= 2) != (3 >= 4));\n"},
		{"x = 1 + 2 < 4 && 1", "x = (((1 + 2) < 4) && 1);\n"},
		{"x = 1 || 0 && 0", "x = (1 || (0 && 0));\n"},
		{"x = 0 && 1 || 1", "x = ((0 && 1) || 1);\n"},
		{"x = 1 ? 2 : 3 ? 4 : 5", "x = (1 ? 2 : (3 ? 4 : 5));\n"},
		{"x = 1 ? 0 ? 1 : 2 : 3", "x = (1 ? (0 ? 1 : 2) : 3);\n"},
		{"x = 0 || 1 ? 2 + 1 : 3", "x = ((0 || 1) ? (2 + 1) : 3);\n"},
		{"x=1;y=x", "x = 1;\ny = x;\n"},
		{";;x = 1;;;", "x = 1;\n"},
		{"// comment\nx = 1; /* a\nblock */ y = x // trailing", "x = 1;\ny = x;\n"},
		{"x = 1 /* inside */ + /**/ 2", "x = (1 + 2);\n"},
		{"x = .5 + 1e3 + 2.5E-1 + 007 + 1e+2", "x = ((((0.5 + 1000) + 0.25) + 7) + 100);\n"},
		{`s = "a b"`, "s = \"a b\";\n"},
		{`t = time("")`, "t = time(\"\");\n"},
		{"t = time(); h = t.hour + time().minute", "t = time();\nh = (t.hour + time().minute);\n"},
		{"v = $CPUPercent.GetSample(TimeInterval_Minute * 5)", "v = $CPUPercent.GetSample((TimeInterval_Minute * 5));\n"},
		{"stop()", "stop();\n"},
		{"x = 1 ? stop() : 2", "x = (1 ? stop() : 2);\n"},
		{"$NodeDeallocationOption = taskcompletion", "$NodeDeallocationOption = taskcompletion;\n"},
		{"max = 1; y = max(max, 2)", "max = 1;\ny = max(max, 2);\n"},
		{"\tx\r\n=\f1", "x = 1;\n"},
	}
	for _, tt := range tests {
		f, err := Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if got := f.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.src, got, tt.want)
		}
	}
}

// TestParseErrors covers every syntax and type error with its position.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		// Lexical.
		{"x = 1; /* open", "1:8: comment not terminated: /* without */"},
		{`x = "abc`, `1:5: string not terminated: missing closing "`},
		{"x = \"ab\nc\"", `1:5: string not terminated: missing closing "`},
		{"x = 1 @ 2", "1:7: unexpected character '@'"},
		{"x = 1 & 2", "1:7: unexpected '&' (the operator is &&)"},
		{"x = 1 | 2", "1:7: unexpected '|' (the operator is ||)"},
		{"x = 'a'", "1:5: unexpected ' (strings use double quotes)"},
		{"$ = 1", "1:1: '$' must start a variable name such as $TargetDedicatedNodes"},
		{"x = 12abc", "1:5: malformed number 12a"},
		{"x = 1e999", "1:5: number 1e999 is out of range"},
		{"x = \xff", "1:5: invalid UTF-8 in formula"},
		{`x = "é"; y = @`, "1:14: unexpected character '@'"}, // columns count characters
		{"x = 1;\n  y = z", "2:7: undefined variable z: assign it before reading it"},

		// Syntax.
		{"", "formula has no statements"},
		{" ;; // only a comment", "formula has no statements"},
		{"x = 1 +", "1:8: expected an expression, found end of formula"},
		{"x = (1 + 2", "1:11: expected ')' to close '(', found end of formula"},
		{"x = 1 y = 2", "1:7: expected ';' between statements, found y"},
		{"x = 1 ? 2", "1:10: expected ':' in ?: expression, found end of formula"},
		{"x = max(1,)", "1:11: expected an expression, found ')'"},
		{"x = max(1 2)", "1:11: expected ',' or ')' in argument list, found number 2"},
		{"x = $CPUPercent.", "1:17: expected a name after '.', found end of formula"},
		{"x = = 1", "1:5: expected an expression, found '='"},
		{"x = 1; (x) = 2", "1:12: expected ';' between statements, found '='"},

		// Names.
		{"y = x + 1", "1:5: undefined variable x: assign it before reading it"},
		{"x = max", "1:5: undefined variable max: assign it before reading it"},
		{"y = $pendingtasks.GetSample(1)", "1:5: undefined variable $pendingtasks (names are case-sensitive: did you mean $PendingTasks?)"},
		{"$targetDedicatedNodes = 1", "1:1: $targetDedicatedNodes differs from the service variable $TargetDedicatedNodes only in letter case: fix the case, or rename the variable"},
		{"$CurrentDedicatedNodes = 1", "1:1: cannot assign to $CurrentDedicatedNodes: it is read-only"},
		{"$TaskSlotsPerNode = 1", "1:1: cannot assign to $TaskSlotsPerNode: it is read-only"},
		{"$PendingTasks = 1", "1:1: cannot assign to $PendingTasks: it is a read-only sampled metric"},
		{"TimeInterval_Second = 1", "1:1: cannot assign to TimeInterval_Second: it is a constant"},
		{"requeue = 1", "1:1: cannot assign to requeue: it is a constant"},
		{"x = $PendingTasks", "1:5: $PendingTasks is a sampled metric, not a value: call a method such as $PendingTasks.GetSample(TimeInterval_Minute * 5)"},
		{"x = max(0, $PendingTasks)", "1:12: $PendingTasks is a sampled metric, not a value: call a method such as $PendingTasks.GetSample(TimeInterval_Minute * 5)"},
		{"x = $PendingTasks.Foo()", "1:19: $PendingTasks has no method Foo (methods: GetSample, GetSamplePercent, GetSamplePeriod, Count, HistoryBeginTime)"},
		{"x = $PendingTasks.Count", "1:19: $PendingTasks.Count: expected '(' (metrics have methods, not members)"},
		{"x = time().Hour", "1:12: timestamp has no member Hour (members: year, month, day, weekday, hour, minute, second)"},
		{"x = 1.hour", "1:6: a double has no members; members such as .hour belong to timestamps"},
		{"x = time().GetSample(1)", "1:12: a timestamp has no methods; methods such as GetSample belong to sampled metrics like $PendingTasks"},
		{"x = stop(); y = x", "1:17: x has no value: it was assigned stop()"},

		// Functions.
		{"x = foo(1)", "1:5: unknown function foo"},
		{"x = avg(time())", "1:9: argument 1 of avg must be a double or a doubleVec, not a timestamp"},
		{"x = sum(1, \"a\")", "1:12: argument 2 of sum must be a double or a doubleVec, not a string"},
		{"x = lg(time())", "1:8: argument 1 of lg must be a double or a doubleVec, not a timestamp"},
		{"x = rand(1)", "1:5: rand takes no arguments, got 1"},
		{"stop(1)", "1:1: stop takes no arguments, got 1"},
		{"x = percentile(1, 2)", "1:16: argument v of percentile must be a doubleVec, not a double"},
		{"x = val($CPUPercent.GetSample(1))", "1:5: val takes 2 arguments (doubleVec v, double i), got 1"},
		{`x = val($CPUPercent.GetSample(1), "a")`, "1:35: argument i of val must be a double, not a string"},
		{"x = time(1)", "1:10: argument of time must be a string, not a double"},
		{`x = time("yesterday")`, `1:10: time: "yesterday" is neither an RFC 1123 nor a W3C-DTF date-time`},
		{`x = time("a", "b")`, "1:5: time takes 0 or 1 arguments, got 2"},

		// Sample methods.
		{"x = $CPUPercent.GetSample()", "1:17: GetSample takes (double count), (start [, samplePercent]) or (start, end [, samplePercent]) where start and end are timestamps or timeintervals; got ()"},
		{"x = $CPUPercent.GetSample(1, 2)", "1:17: GetSample takes (double count), (start [, samplePercent]) or (start, end [, samplePercent]) where start and end are timestamps or timeintervals; got (double, double)"},
		{`x = $CPUPercent.GetSample(TimeInterval_Minute, "a")`, "1:17: GetSample takes (double count), (start [, samplePercent]) or (start, end [, samplePercent]) where start and end are timestamps or timeintervals; got (timeinterval, string)"},
		{"x = $CPUPercent.GetSample(TimeInterval_Minute, time(), 1, 2)", "1:17: GetSample takes (double count), (start [, samplePercent]) or (start, end [, samplePercent]) where start and end are timestamps or timeintervals; got (timeinterval, timestamp, double, double)"},
		{"x = $CPUPercent.GetSamplePercent(1)", "1:17: GetSamplePercent takes (start [, end]) where start and end are timestamps or timeintervals; got (double)"},
		{"x = $CPUPercent.GetSamplePercent(time(), time(), 50)", "1:17: GetSamplePercent takes (start [, end]) where start and end are timestamps or timeintervals; got (timestamp, timestamp, double)"},
		{"x = $CPUPercent.Count(1)", "1:17: Count takes no arguments, got 1"},
		{"x = $CPUPercent.HistoryBeginTime(1)", "1:17: HistoryBeginTime takes no arguments, got 1"},
		{"x = $CPUPercent.GetSamplePeriod(1)", "1:17: GetSamplePeriod takes no arguments, got 1"},

		// Operators outside Azure's table.
		{"x = time() + 1", "1:12: operator + is not defined for timestamp and double"},
		{"x = 1 + time()", "1:7: operator + is not defined for double and timestamp"},
		{"x = 2 * $CPUPercent.GetSample(1)", "1:7: operator * is not defined for double and doubleVec"},
		{"x = 2 - $CPUPercent.GetSample(1)", "1:7: operator - is not defined for double and doubleVec"},
		{"x = time() - TimeInterval_Hour", "1:12: operator - is not defined for timestamp and timeinterval"},
		{"x = time() + time()", "1:12: operator + is not defined for timestamp and timestamp"},
		{"x = TimeInterval_Hour / TimeInterval_Minute", "1:23: operator / is not defined for timeinterval and timeinterval"},
		{"x = TimeInterval_Hour * TimeInterval_Minute", "1:23: operator * is not defined for timeinterval and timeinterval"},
		{"x = TimeInterval_Hour + 1", "1:23: operator + is not defined for timeinterval and double"},
		{"x = 1 / TimeInterval_Hour", "1:7: operator / is not defined for double and timeinterval"},
		{"x = time() * 2", "1:12: operator * is not defined for timestamp and double"},
		{"x = $CPUPercent.GetSample(1) > 1", "1:30: operator > is not defined for doubleVec and double"},
		{"x = $CPUPercent.GetSample(1) == $CPUPercent.GetSample(1)", "1:30: operator == is not defined for doubleVec and doubleVec"},
		{"x = $CPUPercent.GetSample(1) + time()", "1:30: operator + is not defined for doubleVec and timestamp"},
		{`x = "a" + "b"`, "1:9: operator + is not defined for string and string"},
		{`x = "a" < 1`, "1:9: operator < is not defined for string and double"},
		{"x = time() < TimeInterval_Hour", "1:12: operator < is not defined for timestamp and timeinterval"},
		{"x = time() && 1", "1:12: operator && is not defined for timestamp and double"},
		{`x = 1 || "a"`, "1:7: operator || is not defined for double and string"},
		{`x = -"a"`, "1:5: operator - is not defined for string"},
		{"x = -time()", "1:5: operator - is not defined for timestamp"},
		{"x = -$CPUPercent.GetSample(1)", "1:5: operator - is not defined for doubleVec"},
		{"x = !TimeInterval_Hour", "1:5: operator ! is not defined for timeinterval"},
		{"x = 1 + stop()", "1:7: operator + is not defined for double and stop() (no value)"},

		// Conditions and assignments.
		{"x = time() ? 1 : 2", "1:12: the condition before '?' must be a double, not a timestamp"},
		{"x = 1 ? 1 : time()", "1:11: the branches of ?: have different types: double and timestamp"},
		{"$TargetDedicatedNodes = $CPUPercent.GetSample(1)", "1:25: $TargetDedicatedNodes must be a double, not a doubleVec"},
		{"$TargetDedicated = time()", "1:20: $TargetDedicated must be a double, not a timestamp"},
		{`$TargetLowPriorityNodes = "x"`, "1:27: $TargetLowPriorityNodes must be a double, not a string"},
		{"$NodeDeallocationOption = 1", "1:27: $NodeDeallocationOption must be a string, not a double"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %q", tt.src, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q) error:\n got %q\nwant %q", tt.src, err.Error(), tt.want)
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeSyntaxError || !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error %#v is not a syntax *Error", tt.src, err)
		}
	}
}

// TestLimits checks Azure's 8 KB and 100-statement limits, at and just past
// the boundary.
func TestLimits(t *testing.T) {
	pad := func(n int) string { return "x = 1;" + strings.Repeat(" ", n-len("x = 1;")) }
	if _, err := Parse(pad(MaxFormulaLength)); err != nil {
		t.Errorf("formula of %d characters: %v", MaxFormulaLength, err)
	}
	// Characters, not bytes: 8192 two-byte characters fit.
	if _, err := Parse("x = 1; //" + strings.Repeat("é", MaxFormulaLength-len("x = 1; //"))); err != nil {
		t.Errorf("formula of %d non-ASCII characters: %v", MaxFormulaLength, err)
	}
	_, err := Parse(pad(MaxFormulaLength + 1))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeTooLong || !errors.Is(err, ErrTooLong) ||
		err.Error() != "formula has 8193 characters; at most 8192 are allowed" {
		t.Errorf("formula of %d characters: got %v, want AutoScalingFormulaTooLong", MaxFormulaLength+1, err)
	}

	if _, err := Parse(strings.Repeat("x=1;", MaxStatements)); err != nil {
		t.Errorf("%d statements: %v", MaxStatements, err)
	}
	_, err = Parse(strings.Repeat("x=1;", MaxStatements+1))
	if err == nil || err.Error() != "1:401: formula has more than 100 statements" || !errors.Is(err, ErrSyntax) {
		t.Errorf("%d statements: got %v", MaxStatements+1, err)
	}
	// Empty statements do not count.
	if _, err := Parse(strings.Repeat("x=1;;", MaxStatements)); err != nil {
		t.Errorf("%d statements with empty ones between: %v", MaxStatements, err)
	}
}

func TestLexTokens(t *testing.T) {
	toks, err := lex("a=$B.C(1.5,\"s\");/*c*/<<=>>===!=&&||!?:+-*/\n  x")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		s := tk.kind.String()
		if tk.kind == tIdent || tk.kind == tNumber || tk.kind == tString {
			s += "(" + tk.text + ")"
		}
		got = append(got, s)
	}
	want := "identifier(a) = identifier($B) . identifier(C) ( number(1.5) , string(s) ) ; < <= > >= == != && || ! ? : + - * / identifier(x) end of formula"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("tokens:\n got %s\nwant %s", g, want)
	}
	if last := toks[len(toks)-2]; last.pos != (pos{2, 3}) {
		t.Errorf("position of x = %v, want 2:3", last.pos)
	}
}
