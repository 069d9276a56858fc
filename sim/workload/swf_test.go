package workload

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// swfDir holds the shared traces (read-only).
const swfDir = "../../../shared/data/swf"

func openTrace(t testing.TB, name string) *Workload {
	t.Helper()
	path := filepath.Join(swfDir, name)
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("trace not available: %v", err)
	}
	defer f.Close()
	w, err := ParseSWF(name, f)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestParseSWFSmall(t *testing.T) {
	const trace = `; Version: 2.2
; MaxProcs: 64
;
  1  100  5   50  4 -1 -1  4  120 -1 1 7 1 -1 -1 -1 -1 -1
  2  110 -1   -1  8 -1 -1  8  600 -1 5 7 1 -1 -1 -1 -1 -1
  3  120 -1   30  1 -1 -1 -1   -1 -1 1 8 1 -1 -1 -1 -1 -1
  4  130 -1  200 -1 -1 -1 -1   -1 -1 1 8 1 -1 -1 -1 -1 -1
  5  105 -1   60  2 -1 -1  2   30 -1 0 9 1 -1 -1 -1 -1 -1
  6  140 -1   10  1 -1 -1  1   -1 -1 5 9 1 -1 -1 -1 -1 -1
  7  150 -1    0  1 -1 -1  1   -1 -1 1 9 1 -1 -1 -1 -1 -1

`
	w, err := ParseSWF("small.swf", strings.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	if w.MaxProcs != 64 {
		t.Errorf("MaxProcs = %d, want 64", w.MaxProcs)
	}
	type row struct {
		ID        string
		Submit    time.Duration
		Runtime   time.Duration
		Instances int
		Estimate  time.Duration
		User      int
	}
	var got []row
	for _, tk := range w.Tasks {
		got = append(got, row{tk.Spec.ID, tk.Submit, tk.Runtime, tk.Spec.MultiInstanceSettings.Instances(), tk.Spec.WallClockLimit().D(), tk.User})
	}
	want := []row{
		// Submit times start at the first kept record (100 s).
		{"1", 0, 50 * time.Second, 4, 120 * time.Second, 7},
		// Requested 30 s but ran 60 s: the estimate is raised to 61 s.
		{"5", 5 * time.Second, 60 * time.Second, 2, 61 * time.Second, 9},
		// Requested processors -1: allocated processors; requested time
		// -1: the run time (plus the margin).
		{"3", 20 * time.Second, 30 * time.Second, 1, 31 * time.Second, 8},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	wantDrops := []Drop{{DropNoRunTime, 2}, {DropNoProcs, 1}, {DropCancelled, 1}}
	if diff := cmp.Diff(wantDrops, w.Dropped); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
	if w.Tasks[0].Spec.MultiInstanceSettings.CoordinationCommandLine == "" {
		t.Error("a multi-instance task needs a coordination command line")
	}
	if w.Tasks[2].Spec.MultiInstanceSettings != nil {
		t.Error("a one-processor job must be an ordinary task")
	}
	if err := w.Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseSWFErrors(t *testing.T) {
	good := "1 0 -1 10 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1"
	cases := []struct{ name, text, want string }{
		{"few fields", "; c\n1 0 -1 10 1", "t.swf:2: want 18 fields, got 5"},
		{"not a number", "1 0 -1 ten 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1", `t.swf:1: field 4 (run time): "ten" is not a number`},
		{"fractional procs", "1 0 -1 10 1 -1 -1 1.5 -1 -1 1 1 1 -1 -1 -1 -1 -1", `t.swf:1: field 8 (requested processors): "1.5" is not a processor count`},
		{"negative submit", "1 -5 -1 10 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1", `t.swf:1: field 2 (submit time): "-5" is out of range`},
		{"duplicate job", good + "\n\n" + good, "t.swf:3: field 1 (job number): job 1 was already defined on line 1"},
		{"bad job number", "x1 0 -1 10 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1", `t.swf:1: field 1 (job number): "x1" is not a number`},
		{"NaN", "1 NaN -1 10 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1", `t.swf:1: field 2 (submit time): "NaN" is not a number`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSWF("t.swf", strings.NewReader(tc.text))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestParseSWFArchiveTraces reads the shared traces and checks the counts
// the data README gives.
func TestParseSWFArchiveTraces(t *testing.T) {
	cases := []struct {
		file     string
		kept     int
		dropped  int
		maxProcs int
	}{
		{"lublin_256.swf", 10000, 0, 256},
		// 25 records have run time -1 (cancelled before they ran).
		{"HPC2N-2002-2.2-prefix.swf", 3145, 25, 240},
		{"NASA-iPSC-1993-3-prefix.swf", 228, 0, 128},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			w := openTrace(t, tc.file)
			if len(w.Tasks) != tc.kept || w.DroppedTotal() != tc.dropped || w.MaxProcs != tc.maxProcs {
				t.Errorf("kept %d dropped %d (%v) maxProcs %d; want %d, %d, %d", len(w.Tasks), w.DroppedTotal(), w.Dropped, w.MaxProcs, tc.kept, tc.dropped, tc.maxProcs)
			}
			if err := w.Validate(); err != nil {
				t.Error(err)
			}
			if w.Tasks[0].Submit != 0 {
				t.Errorf("first submit = %v, want 0", w.Tasks[0].Submit)
			}
		})
	}
}

func TestShake(t *testing.T) {
	w := openTrace(t, "NASA-iPSC-1993-3-prefix.swf")
	a := w.Shake(rand.New(rand.NewPCG(1, 2)), time.Minute)
	b := w.Shake(rand.New(rand.NewPCG(1, 2)), time.Minute)
	if diff := cmp.Diff(a.Tasks, b.Tasks); diff != "" {
		t.Fatalf("same seed, different shakes:\n%s", diff)
	}
	moved := 0
	for i := range a.Tasks {
		if i > 0 && a.Tasks[i].Submit < a.Tasks[i-1].Submit {
			t.Fatalf("not sorted at %d", i)
		}
		if a.Tasks[i].Submit != w.Tasks[i].Submit {
			moved++
		}
	}
	if moved == 0 {
		t.Error("shaking moved nothing")
	}
	if w.Tasks[1].Submit != 1460*time.Second {
		t.Error("Shake modified its input")
	}
}

// FuzzParseSWF checks that the parser never panics and that what it
// accepts is a valid, sorted workload starting at time 0.
func FuzzParseSWF(f *testing.F) {
	f.Add("; MaxProcs: 4\n1 0 -1 10 2 -1 -1 2 20 -1 1 1 1 -1 -1 -1 -1 -1\n2 5 -1 -1 1 -1 -1 1 -1 -1 5 1 1 -1 -1 -1 -1 -1\n")
	f.Add("1 0 -1 10 1 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1")
	f.Add("; comment only")
	f.Add("1 1e300 -1 10 1 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1")
	f.Fuzz(func(t *testing.T, text string) {
		w, err := ParseSWF("fuzz.swf", strings.NewReader(text))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.swf:") {
				t.Fatalf("error does not name the file and line: %v", err)
			}
			return
		}
		if err := w.Validate(); err != nil {
			t.Fatalf("accepted an invalid workload: %v", err)
		}
		for i, tk := range w.Tasks {
			if tk.Runtime <= 0 || tk.Spec.WallClockLimit().D() < tk.Runtime+EstimateMargin {
				t.Fatalf("task %d: runtime %v estimate %v", i, tk.Runtime, tk.Spec.WallClockLimit())
			}
			if i == 0 && tk.Submit != 0 || i > 0 && tk.Submit < w.Tasks[i-1].Submit {
				t.Fatalf("task %d: submit %v out of order", i, tk.Submit)
			}
		}
	})
}
