package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/embatch/embatch/sim/workload"
	"github.com/embatch/embatch/task"
)

// randomCase draws a configuration and a workload from seed: a few jobs of
// various priorities with single- and multi-slot tasks, multi-instance
// tasks, dependencies, failing tasks with retries, staggered submissions;
// a pool of dedicated and low-priority nodes with boot and start-task
// times; node losses, preemptions and engine restarts; any policy.
func randomCase(seed uint64) (Config, *workload.Workload) {
	r := rand.New(rand.NewPCG(seed, 0xf022))
	slots := 1 + r.IntN(4)
	cfg := Config{
		Policy:      PolicyNames[r.IntN(len(PolicyNames))],
		Nodes:       r.IntN(6),
		LowPriority: r.IntN(4),
		Slots:       slots,
		Seed:        seed,
		Check:       true,
		Fill:        []string{"spread", "pack"}[r.IntN(2)],
		// Faults are frequent relative to run times (tens of seconds),
		// so that many tasks are requeued.
		FailureRate:      float64(r.IntN(3)) * 20,
		PreemptionRate:   float64(r.IntN(3)) * 30,
		RestartRate:      float64(r.IntN(4)/3) * 10,
		RecoveryTime:     "exp:30",
		PriceDedicated:   1,
		PriceLowPriority: 0.2,
	}
	if cfg.Nodes+cfg.LowPriority == 0 {
		cfg.Nodes = 1
	}
	if r.IntN(2) == 0 {
		cfg.BootTime = "uniform:0,20"
	}
	if r.IntN(3) == 0 {
		cfg.StartTaskTime = "const:5"
	}
	nodes := cfg.Nodes + cfg.LowPriority
	var jobs []workload.JobInput
	for j := range 1 + r.IntN(3) {
		job := task.JobSpec{
			ID:                   "job" + strconv.Itoa(j),
			Priority:             r.IntN(3) * 100,
			UsesTaskDependencies: true,
			Constraints:          &task.JobConstraints{MaxTaskRetryCount: r.IntN(3)},
		}
		var tasks []task.TaskSpec
		for i := range 5 + r.IntN(40) {
			t := task.TaskSpec{ID: strconv.Itoa(i), CommandLine: "x"}
			rt := 1 + r.IntN(60)
			t.EnvironmentSettings = []task.EnvironmentSetting{{Name: workload.RuntimeEnv, Value: strconv.Itoa(rt)}}
			if r.IntN(8) == 0 {
				t.EnvironmentSettings = append(t.EnvironmentSettings, task.EnvironmentSetting{Name: workload.ExitCodeEnv, Value: "3"})
			}
			switch k := r.IntN(10); {
			case k == 0 && nodes > 1:
				t.MultiInstanceSettings = &task.MultiInstanceSettings{NumberOfInstances: 2 + r.IntN(nodes-1), CoordinationCommandLine: "c"}
			case k < 3:
				t.RequiredSlots = task.Ptr(1 + r.IntN(slots))
			}
			if r.IntN(2) == 0 {
				est := task.Duration(time.Duration(rt+r.IntN(30)) * time.Second)
				t.Constraints = &task.TaskConstraints{MaxWallClockTime: &est}
			}
			if i > 0 && r.IntN(4) == 0 {
				t.DependsOn = &task.TaskDependencies{TaskIDs: []string{strconv.Itoa(r.IntN(i))}}
			}
			tasks = append(tasks, t)
		}
		jobs = append(jobs, workload.JobInput{Spec: job, Tasks: tasks})
	}
	w, err := workload.FromJobs(fmt.Sprintf("random-%d", seed), jobs, "", nil)
	if err != nil {
		panic(err)
	}
	// Stagger submissions; a dependency's target must be submitted first,
	// so times only grow within a job.
	t := time.Duration(0)
	for i := range w.Tasks {
		if r.IntN(3) == 0 {
			t += time.Duration(r.IntN(20)) * time.Second
		}
		w.Tasks[i].Submit = t
	}
	return cfg, w
}

// checkRun runs one random case and reports everything the checkers found.
func checkRun(t *testing.T, seed uint64) *Result {
	cfg, w := randomCase(seed)
	cfg.HorizonS = 30 * 24 * 3600 // a month: a safety net, never reached
	res, err := Run(cfg, w)
	if err != nil {
		t.Fatalf("seed %d (%+v): %v", seed, cfg, err)
	}
	if len(res.Violations) > 0 {
		t.Fatalf("seed %d (%+v): invariant violations:\n%s", seed, cfg, strings.Join(res.Violations, "\n"))
	}
	checkLittle(t, res, false)
	if res.Utilization > 1+1e-9 {
		t.Fatalf("seed %d: utilization %v", seed, res.Utilization)
	}
	// Tasks never complete only behind a dependency that failed.
	if res.Stalled {
		for i, r := range res.Records {
			if !r.Completed && r.Started {
				t.Fatalf("seed %d: record %d started but never completed: %+v", seed, i, r)
			}
		}
		if res.EndS >= cfg.HorizonS {
			t.Fatalf("seed %d: hit the horizon", seed)
		}
	}
	return res
}

// TestSimSeeds runs a few hundred random cases with faults under the
// invariant checkers.
func TestSimSeeds(t *testing.T) {
	n := uint64(300)
	if testing.Short() || raceEnabled {
		n = 50
	}
	var requeues, preemptions, retries, stalled, restarted int
	for seed := range n {
		res := checkRun(t, seed)
		restarted += res.Restarts
		requeues += res.Requeues
		preemptions += res.Preemptions
		if res.Stalled {
			stalled++
		}
		for _, r := range res.Records {
			retries += r.Retries
		}
	}
	// The cases must exercise what the checkers guard.
	t.Logf("%d runs: %d requeues, %d preemptions, %d retries, %d runs left tasks behind failed dependencies, %d engine restarts", n, requeues, preemptions, retries, stalled, restarted)
	if requeues == 0 || preemptions == 0 || retries == 0 || stalled == 0 || restarted == 0 {
		t.Errorf("the random cases are too tame: %d requeues, %d preemptions, %d retries, %d stalled runs", requeues, preemptions, retries, stalled)
	}
}

// FuzzSim explores seeds beyond TestSimSeeds: go test -fuzz FuzzSim ./sim.
func FuzzSim(f *testing.F) {
	for seed := range uint64(10) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { checkRun(t, seed) })
}

// TestDeterminism: the same seed and inputs give byte-identical JSON, for a
// synthetic workload with faults and for a trace, including when runs go
// on concurrently.
func TestDeterminism(t *testing.T) {
	cfg, w := randomCase(7)
	cfg.FailureRate, cfg.PreemptionRate = 20, 30
	cfg.LowPriority = max(cfg.LowPriority, 2)
	trace := loadTrace(t, "NASA-iPSC-1993-3-prefix.swf")
	cases := []struct {
		name string
		cfg  Config
		w    *workload.Workload
	}{
		{"random with faults", cfg, w},
		// 128-node gangs partly on spot nodes, each preempted every two
		// hours on average: a gang spanning 16 of them is hit every few
		// minutes and hour-long gangs restart over and over (a livelock
		// of the model, not of the simulator). The horizon ends it.
		{"trace", Config{Policy: "easy", Nodes: 128, LowPriority: 16, PreemptionRate: 0.5, BootTime: "exp:60", Seed: 9, HorizonS: 30 * 24 * 3600}, trace},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			outs := make([][]byte, 3)
			done := make(chan int)
			for i := range outs {
				go func() {
					res, err := Run(tc.cfg, tc.w)
					if err != nil {
						t.Error(err)
					} else {
						outs[i], _ = json.Marshal(res)
					}
					done <- i
				}()
			}
			for range outs {
				<-done
			}
			if t.Failed() {
				return
			}
			for i := 1; i < len(outs); i++ {
				if !bytes.Equal(outs[0], outs[i]) {
					t.Fatalf("run %d differs:\n%s\n%s", i, outs[0], outs[i])
				}
			}
			var m Metrics
			if err := json.Unmarshal(outs[0], &m); err != nil || m.Events == 0 {
				t.Fatalf("no events in %s", outs[0])
			}
			// A different seed must change something, or the seed is not
			// used.
			other := tc.cfg
			other.Seed++
			res, err := Run(other, tc.w)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := json.Marshal(res.Metrics); bytes.Equal(b, mustMetricsJSON(t, outs[0])) {
				t.Errorf("seed %d and %d give the same metrics", tc.cfg.Seed, other.Seed)
			}
		})
	}
}

func mustMetricsJSON(t *testing.T, full []byte) []byte {
	t.Helper()
	var r Result
	if err := json.Unmarshal(full, &r); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r.Metrics)
	return b
}

// TestJSONKeys pins the keys of a run's JSON object: exactly the issue's
// list, then config.
func TestJSONKeys(t *testing.T) {
	w, err := workload.Synthetic{Arrival: "const:1", Runtime: "const:2", Tasks: 10}.Generate(Rand(1, StreamWorkload))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(Config{Nodes: 2, Clock: time.Now}, w)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var keys []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	want := "tasks completed makespan_s utilization wait_mean_s wait_p50_s wait_p95_s wait_p99_s bsld_mean node_hours_dedicated node_hours_low_priority cost preemptions requeues events wall_s events_per_s config"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("keys:\n got %s\nwant %s", got, want)
	}
	if res.WallS <= 0 || res.EventsPerS <= 0 {
		t.Errorf("wall_s %v events_per_s %v with a clock", res.WallS, res.EventsPerS)
	}
}
