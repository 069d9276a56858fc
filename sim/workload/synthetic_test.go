package workload

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/embatch/embatch/task"
)

func TestParseDist(t *testing.T) {
	good := []struct {
		spec string
		mean float64
	}{
		{"const:5", 5}, {"exp:30", 30}, {"uniform:1,3", 2}, {"lognormal:0,1", math.Exp(0.5)}, {" exp:2.5 ", 2.5},
	}
	for _, tc := range good {
		d, err := ParseDist(tc.spec)
		if err != nil {
			t.Errorf("ParseDist(%q): %v", tc.spec, err)
			continue
		}
		if math.Abs(d.Mean()-tc.mean) > 1e-12 {
			t.Errorf("ParseDist(%q).Mean() = %v, want %v", tc.spec, d.Mean(), tc.mean)
		}
		again, err := ParseDist(d.String())
		if err != nil || again != d {
			t.Errorf("round trip of %q via %q: %v", tc.spec, d.String(), err)
		}
	}
	bad := map[string]string{
		"exp":          "want KIND:PARAMS",
		"exp:-1":       "mean must be positive",
		"gamma:1":      `unknown kind "gamma"`,
		"uniform:3,1":  "want 0 <= A <= B",
		"uniform:1":    "takes 2 parameter(s), got 1",
		"const:x":      `parameter 1 ("x") is not a finite number`,
		"lognormal:1,": `parameter 2 ("") is not a finite number`,
	}
	for spec, want := range bad {
		if _, err := ParseDist(spec); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), spec) {
			t.Errorf("ParseDist(%q) = %v, want an error naming the spec and containing %q", spec, err, want)
		}
	}
}

func TestDistSampleMeans(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, spec := range []string{"exp:10", "uniform:2,4", "lognormal:1,0.5", "const:3"} {
		d, _ := ParseDist(spec)
		const n = 200000
		sum := 0.0
		for range n {
			v := d.Sample(r)
			if v < 0 {
				t.Fatalf("%s: negative sample %v", spec, v)
			}
			sum += v
		}
		// The sample mean's standard error is at most sd/sqrt(n) with sd
		// no larger than the mean for these distributions: 3/sqrt(n) of
		// the mean is under 0.7%.
		if got := sum / n; math.Abs(got-d.Mean()) > 0.01*d.Mean() {
			t.Errorf("%s: sample mean %v, want %v within 1%%", spec, got, d.Mean())
		}
	}
}

func TestArrivals(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	a, err := ParseArrival("burst:3,10")
	if err != nil {
		t.Fatal(err)
	}
	got := a.Times(7, r)
	want := []float64{0, 0, 0, 10, 10, 10, 20}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("burst times = %v, want %v", got, want)
		}
	}
	c, _ := ParseArrival("const:2")
	if got := c.Times(3, r); got[0] != 0 || got[1] != 2 || got[2] != 4 {
		t.Errorf("const times = %v", got)
	}
	p, _ := ParseArrival("poisson:4")
	ts := p.Times(100000, r)
	if rate := float64(len(ts)) / ts[len(ts)-1]; math.Abs(rate-4) > 0.1 {
		t.Errorf("poisson rate = %v, want 4", rate)
	}
	for _, spec := range []string{"poisson:0", "burst:1.5,3", "burst:2", "wave:1"} {
		if _, err := ParseArrival(spec); err == nil {
			t.Errorf("ParseArrival(%q) accepted", spec)
		}
	}
}

func TestSyntheticGenerate(t *testing.T) {
	s := Synthetic{Arrival: "const:1", Runtime: "const:5", Tasks: 3, Slots: 2, Estimates: true}
	w, err := s.Generate(rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	for i, tk := range w.Tasks {
		if tk.Submit != time.Duration(i)*time.Second || tk.Runtime != 5*time.Second || tk.Spec.Slots() != 2 || tk.Spec.WallClockLimit().D() != 6*time.Second {
			t.Errorf("task %d = %+v", i, tk)
		}
	}
	if _, err := (Synthetic{Arrival: "const:1", Runtime: "exp:1"}).Generate(rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Error("zero tasks accepted")
	}
}

func TestFromJobs(t *testing.T) {
	jobs := []JobInput{{
		Spec: task.JobSpec{ID: "j", CommonEnvironmentSettings: []task.EnvironmentSetting{{Name: RuntimeEnv, Value: "10"}}},
		Tasks: []task.TaskSpec{
			{ID: "a", CommandLine: "x"},
			{ID: "b", CommandLine: "x", EnvironmentSettings: []task.EnvironmentSetting{{Name: RuntimeEnv, Value: "1m30s"}, {Name: ExitCodeEnv, Value: "3"}}},
		},
	}, {
		Spec:  task.JobSpec{ID: "k"},
		Tasks: []task.TaskSpec{{ID: "c", CommandLine: "x"}},
	}}
	w, err := FromJobs("test", jobs, "const:7", rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		rt   time.Duration
		code int
		job  int
	}{{10 * time.Second, 0, 0}, {90 * time.Second, 3, 0}, {7 * time.Second, 0, 1}}
	for i, w2 := range want {
		tk := w.Tasks[i]
		if tk.Runtime != w2.rt || tk.ExitCode != w2.code || tk.Job != w2.job {
			t.Errorf("task %d = runtime %v code %d job %d, want %+v", i, tk.Runtime, tk.ExitCode, tk.Job, w2)
		}
	}
	if _, err := FromJobs("test", jobs[1:], "", nil); err == nil || !strings.Contains(err.Error(), RuntimeEnv) {
		t.Errorf("no run time: error %v", err)
	}
	bad := []JobInput{{Spec: task.JobSpec{ID: "j"}, Tasks: []task.TaskSpec{{ID: "a", CommandLine: "x", EnvironmentSettings: []task.EnvironmentSetting{{Name: RuntimeEnv, Value: "-3s"}}}}}}
	if _, err := FromJobs("test", bad, "", nil); err == nil || !strings.Contains(err.Error(), `tasks[0] ("a")`) {
		t.Errorf("negative run time: error %v", err)
	}
}
