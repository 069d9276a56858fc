package bench

import (
	"context"
	"os"
	"runtime"
	"time"
)

// Sizes of the standard cases. They are large enough for steady rates and
// small enough for a round to take about a second on a laptop.
const (
	engineTasks = 200_000
	localTasks  = 2_000
)

// Cases returns the standard benchmark cases by name, for `embatch bench`.
// dir is where cases may create scratch directories.
func Cases(dir string) map[string]Case {
	slots := max(2, runtime.NumCPU())
	rate := func(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
	noops := NoopTasks(engineTasks)
	trues := TrueTasks(localTasks)
	return map[string]Case{
		"engine": {
			Name: "engine", Unit: "tasks/s", BaselineName: "pond",
			Ours: func(ctx context.Context) (float64, error) {
				d, err := EngineNoop(ctx, noops, slots)
				return rate(len(noops), d), err
			},
			Baseline: func(ctx context.Context) (float64, error) {
				return rate(len(noops), PondNoop(len(noops), slots)), nil
			},
		},
		"local": {
			Name: "local", Unit: "tasks/s", BaselineName: "os/exec",
			Ours: func(ctx context.Context) (float64, error) {
				d, err := LocalTrue(ctx, dir, trues, slots)
				return rate(len(trues), d), err
			},
			Baseline: func(ctx context.Context) (float64, error) {
				d, err := ExecTrue(ctx, len(trues), slots)
				return rate(len(trues), d), err
			},
		},
	}
}

// DefaultDir is where benchmarks put scratch files unless told otherwise.
func DefaultDir() string { return os.TempDir() }
