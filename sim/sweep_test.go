package sim

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSweep(t *testing.T) {
	cases := map[string]Param{
		"nodes=2:10:4":                {"nodes", []string{"2", "6", "10"}},
		"price-dedicated=0.1:0.3:0.1": {"price-dedicated", []string{"0.1", "0.2", "0.3"}},
		"policy=fcfs,easy":            {"policy", []string{"fcfs", "easy"}},
		"boot-time=const:5":           {"boot-time", []string{"const:5"}},
		"seed=3":                      {"seed", []string{"3"}},
	}
	for spec, want := range cases {
		got, err := ParseSweep(spec)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", spec, diff)
		}
	}
	for spec, want := range map[string]string{
		"nodes":          "want KEY=",
		"nodez=1:2:1":    `unknown key "nodez"`,
		"nodes=1.5":      "want a whole number",
		"nodes=5:1:1":    "want A <= B",
		"nodes=1:5:0":    "STEP > 0",
		"failure-rate=x": "want a number",
	} {
		if _, err := ParseSweep(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", spec, err, want)
		}
	}
}

func TestExpand(t *testing.T) {
	a, _ := ParseSweep("nodes=1:2:1")
	b, _ := ParseSweep("policy=fcfs,easy")
	cfgs, err := Expand(Config{Slots: 2}, []Param{a, b})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cfgs {
		if c.Slots != 2 {
			t.Error("base lost")
		}
		got = append(got, c.Policy+"/"+string(rune('0'+c.Nodes)))
	}
	if want := []string{"fcfs/1", "easy/1", "fcfs/2", "easy/2"}; !cmp.Equal(want, got) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSummarize(t *testing.T) {
	rs := []*Result{{Metrics: Metrics{WaitMeanS: 1}}, {Metrics: Metrics{WaitMeanS: 2}}, {Metrics: Metrics{WaitMeanS: 3}}}
	s := Summarize(rs)
	k := 4 // wait_mean_s
	if MetricKeys[k] != "wait_mean_s" || s.Mean[k] != 2 {
		t.Fatalf("mean %v", s.Mean[k])
	}
	// sd = 1, n = 3: 4.303/sqrt(3).
	if want := 4.303 / math.Sqrt(3); math.Abs(s.CI95[k]-want) > 1e-9 {
		t.Errorf("ci95 = %v, want %v", s.CI95[k], want)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if len(m) != len(MetricKeys)+2 || !strings.HasPrefix(string(m["wait_mean_s"]), `{"mean":2,"ci95":2.48`) {
		t.Errorf("JSON %s", b)
	}
	if got := tQuantile975(1000); math.Abs(got-1.962) > 0.001 {
		t.Errorf("t(1000) = %v", got)
	}
}
