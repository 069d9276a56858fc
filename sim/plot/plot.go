// Package plot draws the charts of `embatch sim --plot`: the wait-time CDF
// and the utilization over time of one or more simulation runs, side by
// side in one SVG or PNG file, with gonum.org/v1/plot.
package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/embatch/embatch/sim"
)

// Run is one simulation to draw, with its legend label. Its Result needs
// Records for the CDF and Series (sim.Config.Series) for utilization.
type Run struct {
	Label  string
	Result *sim.Result
}

// Size of the image.
const (
	width  = 28 * vg.Centimeter
	height = 11 * vg.Centimeter
)

// maxPoints bounds the points of a line, so that a million tasks make a
// small file.
const maxPoints = 1000

// utilBins is the number of time bins of the utilization chart.
const utilBins = 200

// WriteFile draws runs into path; the extension (.svg or .png) picks the
// format.
func WriteFile(path string, runs []Run) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".svg" && ext != ".png" {
		return fmt.Errorf("plot %s: want a .svg or .png file", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, ext[1:], runs); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return f.Close()
}

// Write draws runs to w in format "svg" or "png".
func Write(w io.Writer, format string, runs []Run) error {
	cdf, err := waitCDF(runs)
	if err != nil {
		return err
	}
	util, err := utilization(runs)
	if err != nil {
		return err
	}
	var canvas vg.CanvasWriterTo
	switch format {
	case "svg":
		canvas = vgsvg.New(width, height)
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(width, height)}
	default:
		return fmt.Errorf("format %q: want svg or png", format)
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	plots := [][]*plot.Plot{{cdf, util}}
	canvases := plot.Align(plots, tiles, dc)
	cdf.Draw(canvases[0][0])
	util.Draw(canvases[0][1])
	_, err = canvas.WriteTo(w)
	return err
}

// palette colours the runs.
var palette = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255},
	color.RGBA{214, 39, 40, 255}, color.RGBA{148, 103, 189, 255}, color.RGBA{140, 86, 75, 255},
	color.RGBA{227, 119, 194, 255}, color.RGBA{127, 127, 127, 255},
}

func addLine(p *plot.Plot, i int, label string, xys plotter.XYs) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = palette[i%len(palette)]
	l.Width = vg.Points(1.2)
	p.Add(l)
	if label != "" {
		p.Legend.Add(label, l)
	}
	return nil
}

// minWait is where the log-scale CDF starts: shorter waits are drawn there.
const minWait = 1.0

// waitCDF is the fraction of completed tasks that waited at most x
// seconds, on a log scale (waits are heavy-tailed).
func waitCDF(runs []Run) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Wait time CDF"
	p.X.Label.Text = "wait (s, log scale; under 1 s drawn at 1 s)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Label.Text = "fraction of tasks"
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top = false
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	for i, r := range runs {
		var waits []float64
		for _, rec := range r.Result.Records {
			if rec.Completed && rec.Started {
				waits = append(waits, rec.Wait().Seconds())
			}
		}
		if len(waits) == 0 {
			continue
		}
		slices.Sort(waits)
		n := len(waits)
		step := max(1, n/maxPoints)
		var xys plotter.XYs
		for k := 0; k < n; k += step {
			xys = append(xys, plotter.XY{X: math.Max(waits[k], minWait), Y: float64(k+1) / float64(n)})
		}
		xys = append(xys, plotter.XY{X: math.Max(waits[n-1], minWait), Y: 1})
		if err := addLine(p, i, legend(runs, i), xys); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// utilization is busy over available slots, averaged over time bins.
func utilization(runs []Run) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Utilization over time"
	p.X.Label.Text = "time (h)"
	p.Y.Label.Text = "busy / available slots"
	p.Y.Min, p.Y.Max = 0, 1.05
	p.Legend.Top = false
	p.Add(plotter.NewGrid())
	for i, r := range runs {
		xys := binSeries(r.Result.Series, r.Result.EndS)
		if len(xys) == 0 {
			continue
		}
		if err := addLine(p, i, legend(runs, i), xys); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func legend(runs []Run, i int) string {
	if len(runs) == 1 {
		return ""
	}
	return runs[i].Label
}

// binSeries integrates a step series of busy and available slots over
// utilBins equal bins of [0, end] and returns each bin's busy/available
// ratio at its middle, with time in hours.
func binSeries(series []sim.SeriesPoint, end float64) plotter.XYs {
	if len(series) == 0 || end <= 0 {
		return nil
	}
	width := end / utilBins
	busy := make([]float64, utilBins)
	avail := make([]float64, utilBins)
	bin := func(t float64) int { return min(max(int(t/width), 0), utilBins-1) }
	for k, pt := range series {
		from, to := pt.T, end
		if k+1 < len(series) {
			to = series[k+1].T
		}
		for b := bin(from); b <= bin(to); b++ {
			lo, hi := float64(b)*width, float64(b+1)*width
			if b == utilBins-1 {
				hi = math.Inf(1)
			}
			if d := math.Min(to, hi) - math.Max(from, lo); d > 0 {
				busy[b] += float64(pt.Busy) * d
				avail[b] += float64(pt.Avail) * d
			}
		}
	}
	var xys plotter.XYs
	for b := range utilBins {
		if avail[b] > 0 {
			xys = append(xys, plotter.XY{X: (float64(b) + 0.5) * width / 3600, Y: busy[b] / avail[b]})
		}
	}
	return xys
}
