package task_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/task"
)

const unlimitedISO = "P10675199DT2H48M5.4775807S"

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want task.Duration
	}{
		{"PT15M", task.Duration(15 * time.Minute)},
		{"P1DT2H", task.Duration(26 * time.Hour)},
		{"PT0.5S", task.Duration(500 * time.Millisecond)},
		{"PT0,5S", task.Duration(500 * time.Millisecond)},
		{"P1W", task.Duration(7 * 24 * time.Hour)},
		{"P1W2D", task.Duration(9 * 24 * time.Hour)},
		{"PT0S", 0},
		{"P0D", 0},
		{"P2D", task.Duration(48 * time.Hour)},
		{"PT1H30M", task.Duration(90 * time.Minute)},
		{"P1DT2H3M4.5S", task.Duration(26*time.Hour + 3*time.Minute + 4500*time.Millisecond)},
		{"PT1.5M", task.Duration(90 * time.Second)},
		{"PT0.25H", task.Duration(15 * time.Minute)},
		{"P0.5D", task.Duration(12 * time.Hour)},
		{"PT36H", task.Duration(36 * time.Hour)},
		{"PT90M", task.Duration(90 * time.Minute)},
		{"PT0.000000001S", 1},
		{"PT0.0000000004S", 0}, // rounds to the nearest nanosecond
		{"PT0.0000000005S", 1},
		{"PT0.1S", task.Duration(100 * time.Millisecond)},
		{"PT007S", task.Duration(7 * time.Second)},
		// Exact arithmetic: beyond 2^53 ns (about 104 days) float64 would
		// lose the nanosecond.
		{"P200DT0.000000001S", task.Duration(200*24*time.Hour + 1)},
		{"P106751DT23H47M16.854775806S", task.Duration(math.MaxInt64 - 1)},
		// Unlimited and everything at or above it.
		{unlimitedISO, task.Unlimited},
		{"P106751DT23H47M16.854775807S", task.Unlimited},
		{"P99999999D", task.Unlimited},
		{"PT99999999999999999999S", task.Unlimited},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := task.ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %d (%v), want %d (%v)", tt.in, int64(got), got, int64(tt.want), tt.want)
			}
		})
	}
}

func TestParseDurationRejects(t *testing.T) {
	tests := []struct {
		in  string
		why string // a fragment of the message
	}{
		{"", "must start with"},
		{"P", "must start with"},
		{"15M", "must start with"},
		{"T15M", "must start with"},
		{"pt15m", "must start with"},
		{" PT15M", "must start with"},
		{"-PT1S", "must start with"},
		{"PT", `nothing after "T"`},
		{"P1DT", `nothing after "T"`},
		{"PTT1H", `"T" appears twice`},
		{"PT1HT1M", `"T" appears twice`},
		{"P1Y", "years and months"},
		{"P1M", "years and months"},
		{"P1Y2M3D", "years and months"},
		{"PT-1S", "expected a number"},
		{"PT+1S", "expected a number"},
		{"PTS", "expected a number"},
		{"PT1", "expected a number"},
		{"P1", "expected a number"},
		{"PT1.2.3S", "bad number"},
		{"PT1,2.3S", "bad number"},
		{"PT.S", "bad number"},
		{"P1H", "unknown unit"},
		{"PT1D", "unknown unit"},
		{"PT1W", "unknown unit"},
		{"PT1X", "unknown unit"},
		{"PT1e3S", "unknown unit"},
		{"P1 D", "unknown unit"},
		{"garbage", "must start with"},
		{"PT1H1H", "out of order"},
		{"PT1S1M", "out of order"},
		{"PT1M1H", "out of order"},
		{"P1D1W", "out of order"},
		{"P1D2D", "out of order"},
		{"PT" + strings.Repeat("1", 100) + "S", "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := task.ParseDuration(tt.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want an error", tt.in, got)
			}
			if !errors.Is(err, task.ErrInvalidPropertyValue) {
				t.Errorf("ParseDuration(%q) error %v: want code %s", tt.in, err, task.CodeInvalidPropertyValue)
			}
			var e *task.Error
			if !errors.As(err, &e) || e.Value != tt.in {
				t.Errorf("ParseDuration(%q) error %#v: want Value %q", tt.in, err, tt.in)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.why) {
				t.Errorf("ParseDuration(%q) error %q: want it to mention %q", tt.in, msg, tt.why)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		d    task.Duration
		want string
	}{
		{0, "PT0S"},
		{1, "PT0.000000001S"},
		{task.Duration(500 * time.Millisecond), "PT0.5S"},
		{task.Duration(1500 * time.Millisecond), "PT1.5S"},
		{task.Duration(time.Second), "PT1S"},
		{task.Duration(15 * time.Minute), "PT15M"},
		{task.Duration(90 * time.Second), "PT1M30S"},
		{task.Duration(time.Hour + time.Second), "PT1H1S"},
		{task.Duration(2*time.Hour + 3*time.Minute), "PT2H3M"},
		{task.Duration(24 * time.Hour), "P1D"},
		{task.Duration(26 * time.Hour), "P1DT2H"},
		{task.Duration(7 * 24 * time.Hour), "P7D"},
		{task.Duration(24*time.Hour + 250*time.Millisecond), "P1DT0.25S"},
		{task.Duration(math.MaxInt64 - 1), "P106751DT23H47M16.854775806S"},
		{task.Unlimited, unlimitedISO},
		{task.Duration(-time.Second), "-PT1S"},
		{task.Duration(-26 * time.Hour), "-P1DT2H"},
		// Must not recurse forever: -MinInt64 overflows int64.
		{task.Duration(math.MinInt64), "-P106751DT23H47M16.854775808S"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.d.String(); got != tt.want {
				t.Errorf("Duration(%d).String() = %q, want %q", int64(tt.d), got, tt.want)
			}
		})
	}
}

// TestDurationRoundTrip checks ParseDuration(d.String()) == d, also for
// values with nanoseconds far beyond float64's exact range.
func TestDurationRoundTrip(t *testing.T) {
	ds := []task.Duration{
		0, 1, 999, task.Duration(time.Second - 1), task.Duration(15 * time.Minute),
		task.Duration(26 * time.Hour), task.Duration(200*24*time.Hour + 1),
		task.Duration(math.MaxInt64 - 1), task.Unlimited,
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		ds = append(ds, task.Duration(r.Int64N(math.MaxInt64)))
	}
	for _, d := range ds {
		s := d.String()
		got, err := task.ParseDuration(s)
		if err != nil {
			t.Fatalf("ParseDuration(%q) (from %d): %v", s, int64(d), err)
		}
		if got != d {
			t.Errorf("ParseDuration(%q) = %d, want %d", s, int64(got), int64(d))
		}
	}
}

// TestDurationCanonical checks that canonical strings survive parse and
// format unchanged.
func TestDurationCanonical(t *testing.T) {
	for _, s := range []string{"PT15M", "P1DT2H", "PT0.5S", "PT0S", "P1D", "P7D", "PT1H1M1.001S", unlimitedISO} {
		d, err := task.ParseDuration(s)
		if err != nil {
			t.Fatalf("ParseDuration(%q): %v", s, err)
		}
		if got := d.String(); got != s {
			t.Errorf("ParseDuration(%q).String() = %q", s, got)
		}
	}
	// Non-canonical input is normalised.
	for in, want := range map[string]string{"P1W": "P7D", "PT90M": "PT1H30M", "PT0,5S": "PT0.5S", "P0D": "PT0S", "PT36H": "P1DT12H"} {
		d, err := task.ParseDuration(in)
		if err != nil {
			t.Fatalf("ParseDuration(%q): %v", in, err)
		}
		if got := d.String(); got != want {
			t.Errorf("ParseDuration(%q).String() = %q, want %q", in, got, want)
		}
	}
}

func TestDurationD(t *testing.T) {
	if got := task.Duration(15 * time.Minute).D(); got != 15*time.Minute {
		t.Errorf("D() = %v, want 15m", got)
	}
}

type durHolder struct {
	D task.Duration  `json:"d"`
	P *task.Duration `json:"p,omitempty"`
}

func TestDurationJSON(t *testing.T) {
	in := durHolder{D: task.Duration(15 * time.Minute), P: task.Ptr(task.Duration(26 * time.Hour))}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"d":"PT15M","p":"P1DT2H"}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	var out durHolder
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}

	// Unlimited survives a round trip through JSON with Azure's spelling.
	b, err = json.Marshal(durHolder{D: task.Unlimited})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"d":"` + unlimitedISO + `"}`; string(b) != want {
		t.Errorf("Marshal(Unlimited) = %s, want %s", b, want)
	}

	// null leaves a value alone and a pointer nil.
	out = durHolder{D: 7}
	if err := json.Unmarshal([]byte(`{"d":null,"p":null}`), &out); err != nil {
		t.Fatalf("Unmarshal null: %v", err)
	}
	if diff := cmp.Diff(durHolder{D: 7}, out); diff != "" {
		t.Errorf("Unmarshal null (-want +got):\n%s", diff)
	}
}

func TestDurationJSONRejects(t *testing.T) {
	for _, in := range []string{
		`{"d":900}`,
		`{"d":1.5}`,
		`{"d":true}`,
		`{"d":{}}`,
		`{"d":["PT1S"]}`,
		`{"d":"15 minutes"}`,
		`{"d":""}`,
		`{"p":"P1Y"}`,
		`{"p":"-PT1S"}`,
	} {
		t.Run(in, func(t *testing.T) {
			var out durHolder
			err := json.Unmarshal([]byte(in), &out)
			if err == nil {
				t.Fatalf("Unmarshal(%s) = %+v, want an error", in, out)
			}
			if !errors.Is(err, task.ErrInvalidPropertyValue) {
				t.Errorf("Unmarshal(%s) error %v: want code %s", in, err, task.CodeInvalidPropertyValue)
			}
		})
	}
}

// FuzzParseDuration checks that ParseDuration never panics and that whatever
// it accepts formats to a string that parses back to the same value.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT15M", "P1DT2H", "PT0.5S", "P1W", "PT0S", unlimitedISO, "PT", "P1Y", "PT0,000000001S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := task.ParseDuration(s)
		if err != nil {
			if !errors.Is(err, task.ErrInvalidPropertyValue) {
				t.Fatalf("ParseDuration(%q) error %v has the wrong code", s, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %d, negative", s, int64(d))
		}
		back, err := task.ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %d; its String %q parses to %d, %v", s, int64(d), d.String(), int64(back), err)
		}
	})
}
