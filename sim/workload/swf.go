package workload

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/embatch/embatch/task"
)

// SWF field numbers (1-based, as the Parallel Workloads Archive numbers
// them) and names, for error messages.
var swfFields = [18]string{
	"job number", "submit time", "wait time", "run time", "allocated processors",
	"average CPU time", "used memory", "requested processors", "requested time",
	"requested memory", "status", "user id", "group id", "executable",
	"queue", "partition", "preceding job", "think time",
}

// SWF status values (field 11).
const (
	swfStatusCancelled = 5
)

// SWFJobID is the id of the one job that holds a trace's tasks. All of a
// trace's tasks are in one job so that Azure's ordering (jobs by priority,
// then arrival; tasks by arrival within a job) is first-come first-served
// over the trace.
const SWFJobID = "swf"

// Reasons a trace record is dropped, as counted in Workload.Dropped.
const (
	DropNoRunTime = "run time unknown or 0 (-1 or 0)"
	DropCancelled = "cancelled (status 5)"
	DropNoProcs   = "processor count unknown (-1 or 0)"
)

// ParseSWF reads a Standard Workload Format trace (Parallel Workloads
// Archive, format version 2.2). name is used in errors and as the
// workload's name.
//
// Each record becomes one task of job SWFJobID, with id the record's job
// number, submitted at its submit time minus the earliest kept record's. A
// record needing P processors (requested processors, field 8, or when that
// is -1 the allocated processors, field 5) is a multi-instance task of P
// instances, one single-slot node per processor, as Batsim and the
// published studies count; P = 1 is an ordinary task. Its run time (field
// 4) is the task's Runtime. Its requested time (field 9) is its
// maxWallClockTime, the estimate backfilling policies use; when the
// request is -1 the run time is used (exact estimates), and either way the
// estimate is at least the run time plus EstimateMargin, so that the core
// never kills a run the trace recorded as completed.
//
// Cleaning, following the archive's conventions for simulation: records
// whose run time is -1 or 0 (never ran, or unknown: the archive writes -1
// for jobs cancelled before they started), whose status is 5 (cancelled),
// or whose processor count is unknown are dropped and counted in
// Workload.Dropped. Other statuses (1 completed, 0 failed, -1 unknown,
// 2-4 partial) are kept: they used the machine for their run time.
//
// Lines starting with ';' are header comments; "MaxProcs" (or "MaxNodes")
// sets Workload.MaxProcs. Blank lines are skipped. Any other line must have
// exactly 18 numeric fields; a malformed line is an error naming the file,
// the line and the field.
func ParseSWF(name string, r io.Reader) (*Workload, error) {
	w := &Workload{
		Name: name,
		Jobs: []task.JobSpec{newJob(SWFJobID)},
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var maxNodes int
	seen := map[int64]int{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if strings.HasPrefix(text, ";") {
			parseSWFHeader(text, &w.MaxProcs, &maxNodes)
			continue
		}
		var f [18]float64
		words := strings.Fields(text)
		if len(words) != 18 {
			return nil, fmt.Errorf("%s:%d: want 18 fields, got %d", name, line, len(words))
		}
		for i, word := range words {
			v, err := strconv.ParseFloat(word, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%s:%d: field %d (%s): %q is not a number", name, line, i+1, swfFields[i], word)
			}
			f[i] = v
		}
		id := f[0]
		if id != math.Trunc(id) || id < 0 || id > 1e15 {
			return nil, fmt.Errorf("%s:%d: field 1 (job number): %q is not a job number", name, line, words[0])
		}
		if prev, dup := seen[int64(id)]; dup {
			return nil, fmt.Errorf("%s:%d: field 1 (job number): job %s was already defined on line %d", name, line, words[0], prev)
		}
		seen[int64(id)] = line
		submit, runtime, requested, status := f[1], f[3], f[8], f[10]
		if submit < 0 || submit > maxSWFSeconds {
			return nil, fmt.Errorf("%s:%d: field 2 (submit time): %q is out of range", name, line, words[1])
		}
		if runtime > maxSWFSeconds {
			return nil, fmt.Errorf("%s:%d: field 4 (run time): %q is out of range", name, line, words[3])
		}
		if requested > maxSWFSeconds {
			return nil, fmt.Errorf("%s:%d: field 9 (requested time): %q is out of range", name, line, words[8])
		}
		procs, procField := f[7], 8
		if procs <= 0 {
			procs, procField = f[4], 5
		}
		if procs > 0 && (procs != math.Trunc(procs) || procs > maxSWFProcs) {
			return nil, fmt.Errorf("%s:%d: field %d (%s): %q is not a processor count", name, line, procField, swfFields[procField-1], words[procField-1])
		}
		switch {
		case runtime <= 0:
			w.drop(DropNoRunTime)
			continue
		case status == swfStatusCancelled:
			w.drop(DropCancelled)
			continue
		case procs <= 0:
			w.drop(DropNoProcs)
			continue
		}
		rt := seconds(runtime)
		req := time.Duration(0)
		if requested > 0 {
			req = seconds(requested)
		}
		est := task.Duration(estimateFor(req, rt))
		tid := strconv.FormatInt(int64(id), 10)
		spec := task.TaskSpec{
			ID:          tid,
			CommandLine: "swf-job " + tid,
			Constraints: &task.TaskConstraints{MaxWallClockTime: &est},
		}
		if procs > 1 {
			spec.MultiInstanceSettings = &task.MultiInstanceSettings{
				NumberOfInstances:       int(procs),
				CoordinationCommandLine: "swf-coordinate",
			}
		}
		w.Tasks = append(w.Tasks, Task{
			Submit:  seconds(submit),
			Spec:    spec,
			Runtime: rt,
			User:    int(f[11]),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", name, line+1, err)
	}
	if w.MaxProcs == 0 {
		w.MaxProcs = maxNodes
	}
	w.sortTasks()
	// Time starts at the first kept submission.
	if len(w.Tasks) > 0 {
		first := w.Tasks[0].Submit
		for i := range w.Tasks {
			w.Tasks[i].Submit -= first
		}
	}
	return w, nil
}

// Bounds that keep durations within int64 nanoseconds and counts sane.
const (
	maxSWFSeconds = 1e9 // about 31 years
	maxSWFProcs   = 1e7
)

// parseSWFHeader reads "; MaxProcs: N" and "; MaxNodes: N".
func parseSWFHeader(text string, maxProcs, maxNodes *int) {
	key, val, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(text, ";")), ":")
	if !ok {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(val))
	if err != nil || n <= 0 {
		return
	}
	switch strings.TrimSpace(key) {
	case "MaxProcs":
		*maxProcs = n
	case "MaxNodes":
		*maxNodes = n
	}
}
