// Package autoscale implements the Azure Batch autoscale formula language:
// Parse type-checks a pool's autoScaleFormula, Formula.Evaluate runs it and
// Result.String formats the outcome as Azure's AutoScaleRun results string.
// Sampler records the metric history that formulas read.
//
// The package is pure: no I/O, no clock, no goroutines, no global
// randomness. Time, the random source, the pool's current values and the
// metric samples are inputs (Env), so the engine and the simulator get the
// same answer from the same inputs.
//
// The specification is Microsoft's "Create a formula to automatically scale
// compute nodes in a Batch pool"
// (https://learn.microsoft.com/azure/batch/batch-automatic-scaling). Where
// it is silent, the choices below follow what real Azure pools report, or
// else the most conservative reading; each is marked.
//
// # Syntax
//
//	formula   = [statement] { ";" [statement] } .       at most 100 statements, 8192 characters
//	statement = name "=" expr | expr .
//	expr      = or [ "?" expr ":" expr ] .              right-associative; only the chosen branch runs
//	or        = and { "||" and } .
//	and       = equality { "&&" equality } .
//	equality  = relation { ("==" | "!=") relation } .
//	relation  = sum { ("<" | "<=" | ">" | ">=") sum } .
//	sum       = product { ("+" | "-") product } .
//	product   = unary { ("*" | "/") unary } .
//	unary     = ("-" | "!") unary | postfix .
//	postfix   = primary { "." member } .                timestamp members
//	primary   = number | string | "(" expr ")" | function "(" [args] ")"
//	          | metric "." method "(" [args] ")" | name .
//	args      = expr { "," expr } .
//	name      = ["$"] (letter | "_") { letter | digit | "_" } .
//	number    = digits ["." digits] [("e" | "E") ["+" | "-"] digits] | "." digits ... .
//	string    = `"` { any character except `"` and line break } `"` .   no escapes
//
// Whitespace and line breaks separate tokens; comments are // to the end of
// the line and /* ... */. Empty statements (;;, a trailing ;) are allowed; a
// missing ; between two statements is an error, as Azure warns. Azure does
// not document operator precedence: the levels above are C's, which every
// formula in its documentation assumes. && and || short-circuit.
//
// # Names
//
// Names are case-sensitive. Service variables start with $:
// $TargetDedicatedNodes, $TargetLowPriorityNodes and
// $NodeDeallocationOption are read-write; $TargetDedicated and
// $TargetLowPriority are aliases with their own value, and the full name
// wins when both are assigned. $CurrentDedicatedNodes (also its 2016 name
// $CurrentDedicated), $CurrentLowPriorityNodes and $TaskSlotsPerNode are
// read-only doubles. The sampled metrics (Metric: $CPUPercent,
// $ActiveTasks, $PendingTasks, ...) are objects with methods only; using
// one as a value is an error that suggests GetSample. Predefined constants
// are TimeInterval_Zero, _100ns, _Microsecond, _Millisecond, _Second,
// _Minute, _Hour, _Day, _Week and _Year (365 days), and the option values
// requeue, terminate, taskcompletion and retaineddata (strings). Any other
// name, with or without $, is a user variable; "$x" and "x" are different
// variables, and the results show each as written. A variable must be
// assigned before it is read; function names are not reserved. Assigning
// to a name that differs from a service variable or metric only in letter
// case ($targetDedicatedNodes) is an error rather than a silent new
// variable.
//
// # Types
//
// double, doubleVec, string, timestamp (UTC; members year, month, day,
// weekday with 1 = Monday and 7 = Sunday, hour, minute, second) and
// timeinterval. The operators are exactly Azure's table:
//
//	double {+ - * /} double -> double          doubleVec {+ - * /} double|doubleVec -> doubleVec
//	double * timeinterval -> timeinterval      timeinterval {* /} double -> timeinterval
//	timeinterval {+ -} timeinterval -> timeinterval
//	timeinterval + timestamp, timestamp + timeinterval -> timestamp
//	timestamp - timestamp -> timeinterval
//	- double, ! double -> double               - timeinterval -> timeinterval
//	{< <= == >= > !=} on two doubles, strings, timestamps or timeintervals -> double (1 or 0)
//	double {&& ||} double -> double
//
// Anything else (double + timestamp, double * doubleVec, timestamp -
// timeinterval, comparing vectors, ...) is a type error at Parse, with the
// operator's position. Types are checked before evaluation: a variable has
// the type of its last assignment, both branches of ?: must have the same
// type, and the condition of ?: must be a double (nonzero is true).
// Doubles follow IEEE arithmetic (x/0 is Infinity); time intervals and
// timestamps fail the evaluation when they overflow.
//
// # Functions
//
// avg, len, max, min, norm, range, std (sample standard deviation) and sum
// take a doubleVecList: any number of double and doubleVec arguments,
// flattened. On an empty list avg, max, min, range and std fail the
// evaluation; len, norm and sum return 0; std of one value is 0. lg, ln and
// log are double -> double with one double argument and component-wise
// doubleVecList -> doubleVec otherwise. percentile(doubleVec v, double p)
// is the nearest-rank element (p from 0 to 100); val(doubleVec v, double i)
// is v[i] from 0 (i truncated; out of range fails). rand() reads Env.Rand.
// time() is Env.Now and time(s) parses RFC 1123 or W3C-DTF (a literal
// argument is checked at Parse). stop() ends the evaluation successfully
// with what the statements before it set.
//
// # Samples
//
// A metric's methods read its history (Env.Samples), of which only samples
// at or before Now-Env.SampleDelay are available:
//
//	doubleVec GetSample(double count)                         the count most recent samples
//	doubleVec GetSample(start [, double samplePercent])       samples in (start, Now]
//	doubleVec GetSample(start, end [, double samplePercent])  samples between start and end
//	double    GetSamplePercent(start [, end])
//	timeinterval GetSamplePeriod()                            30 seconds
//	double    Count()                                         samples in the history
//	timestamp HistoryBeginTime()                              the oldest sample (fails if none)
//
// start and end are timestamps or timeintervals; a timeinterval is a
// look-back from Now, and the two bounds may come in either order (Azure's
// examples write GetSample(1 * TimeInterval_Minute, 6 * TimeInterval_Minute)).
// Vectors are oldest first. The sample percent is the samples present in
// the window divided by the samples it can hold at one per 30 s
// (max(1, floor(length / 30 s))), capped at 100: 29 samples in 15 minutes
// is 96.6667, as a real pool reports. GetSample with a samplePercent fails
// the whole evaluation with CodeInsufficientSampleData when fewer are
// present ("insufficient data from data set: $RunningTasks wanted 70%,
// received 50%"); without one it returns what there is, possibly nothing.
//
// # Results
//
// A Result's targets are the final values truncated toward zero (a
// computed 0.5 becomes 0, as users observe on Azure); NaN, infinite or
// negative targets fail the evaluation (Azure is silent; its examples all
// clamp with max(0, ...)). Result.String is Azure's results string:
// $TargetDedicatedNodes, $TargetLowPriorityNodes and
// $NodeDeallocationOption first, then the user variables sorted by name,
// each as name=value with doubles in six significant digits, vectors as
// [1,2,3] and timestamps as 2016-10-13T19:18:47.805Z. Time intervals are
// written as .NET's TimeSpan (01:30:00); Azure's format for them is not
// documented.
package autoscale
