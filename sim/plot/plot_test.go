package plot

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embatch/embatch/sim"
	"github.com/embatch/embatch/sim/workload"
)

func runs(t *testing.T) []Run {
	t.Helper()
	w, err := workload.Synthetic{Arrival: "poisson:1.5", Runtime: "exp:1", Tasks: 2000}.Generate(sim.Rand(1, sim.StreamWorkload))
	if err != nil {
		t.Fatal(err)
	}
	var out []Run
	for _, n := range []int{2, 3} {
		res, err := sim.Run(sim.Config{Nodes: n, Seed: 1, Series: true}, w)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Run{Label: "nodes=" + string(rune('0'+n)), Result: res})
	}
	return out
}

func TestWriteSVGAndPNG(t *testing.T) {
	rs := runs(t)
	dir := t.TempDir()
	svg := filepath.Join(dir, "out.svg")
	if err := WriteFile(svg, rs); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "Wait time CDF", "Utilization over time", "nodes=2", "nodes=3"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the SVG has no %q", want)
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, "png", rs); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() < 500 {
		t.Errorf("png width %d", img.Bounds().Dx())
	}
	if err := WriteFile(filepath.Join(dir, "out.pdf"), rs); err == nil || !strings.Contains(err.Error(), ".svg or .png") {
		t.Errorf("pdf: %v", err)
	}
}

// TestBinSeries: binned utilization averages the series correctly.
func TestBinSeries(t *testing.T) {
	// 4 slots available all along; 2 busy during the first half, 4 during
	// the second: every bin is 0.5 or 1, and the time-average is 0.75.
	s := []sim.SeriesPoint{{T: 0, Busy: 2, Avail: 4}, {T: 50, Busy: 4, Avail: 4}}
	xys := binSeries(s, 100)
	if len(xys) != utilBins {
		t.Fatalf("%d bins", len(xys))
	}
	sum := 0.0
	for _, p := range xys {
		sum += p.Y
	}
	if got := sum / float64(len(xys)); math.Abs(got-0.75) > 1e-9 {
		t.Errorf("mean utilization %v, want 0.75", got)
	}
}
