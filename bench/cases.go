package bench

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/task"
)

// Sizes of the standard cases. They are large enough for steady rates and
// small enough for a round to take about a second on a laptop.
const (
	engineTasks  = 200_000
	durableTasks = 2_000
	// wideTasks and wideSlots size the durable-wide case: durable
	// throughput is bounded by slots / sync latency (a task starts only
	// once its running state is synced), so it is also measured with many
	// slots, where the bound is far away and the cost of durability
	// itself shows.
	wideTasks  = 20_000
	wideSlots  = 256
	localTasks = 2_000
	sshTasks   = 100
)

// Cases returns the standard benchmark cases by name, for `embatch bench`.
// dir is where cases may create scratch directories.
func Cases(dir string) map[string]Case {
	slots := max(2, runtime.NumCPU())
	rate := func(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
	noops := NoopTasks(engineTasks)
	durableNoops := NoopTasks(durableTasks)
	trues := TrueTasks(localTasks)
	wideNoops := NoopTasks(wideTasks)
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
		"durable":      durableCase(dir, "durable", durableNoops, slots),
		"durable-wide": durableCase(dir, "durable-wide", wideNoops, wideSlots),
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
		"ssh": sshCase(dir, slots),
		"sim": simCase(),
	}
}

// durableCase is no-op tasks through a durable account (Badger in a
// scratch directory under dir, group commit, sync on) vs the same through
// an in-memory account, on one node with slots slots, added in
// collections of 100.
func durableCase(dir, name string, tasks []task.TaskSpec, slots int) Case {
	rate := func(d time.Duration) float64 { return float64(len(tasks)) / d.Seconds() }
	var durable DurableResult
	return Case{
		Name: name, Unit: "tasks/s", BaselineName: "in-memory",
		Ours: func(ctx context.Context) (float64, error) {
			data, err := os.MkdirTemp(dir, "durable-bench-")
			if err != nil {
				return 0, err
			}
			defer os.RemoveAll(data)
			durable, err = EngineNoopOpts(ctx, tasks, slots, 100, engine.WithDataDir(data))
			return rate(durable.Elapsed), err
		},
		Baseline: func(ctx context.Context) (float64, error) {
			res, err := EngineNoopOpts(ctx, tasks, slots, 100)
			return rate(res.Elapsed), err
		},
		Details: func() map[string]float64 {
			per1k := func(n uint64) float64 { return float64(n) * 1000 / float64(len(tasks)) }
			return map[string]float64{"slots": float64(slots), "syncs_per_1k_tasks": per1k(durable.Store.Syncs), "records_per_1k_tasks": per1k(durable.Store.Records)}
		},
	}
}

// sshCase is `true` on one SSH node (a loopback sshd the case starts on
// its first round) vs the OpenSSH client spawned per task against the same
// sshd, with the same concurrency. It is skipped without sshd or ssh.
func sshCase(dir string, slots int) Case {
	c := Case{Name: "ssh", Unit: "tasks/s", BaselineName: "openssh-client"}
	sshd := sshdPath()
	client, err := exec.LookPath("ssh")
	switch {
	case sshd == "":
		c.Skip = "OpenSSH sshd is not installed (apt-get install openssh-server)"
		return c
	case err != nil:
		c.Skip = "the OpenSSH client is not installed (apt-get install openssh-client)"
		return c
	}
	var (
		once   sync.Once
		srv    *sshServer
		srvErr error
	)
	server := func() (*sshServer, error) {
		once.Do(func() { srv, srvErr = startSSHD(sshd, dir) })
		return srv, srvErr
	}
	trues := TrueTasks(sshTasks)
	rate := func(d time.Duration) float64 { return float64(sshTasks) / d.Seconds() }
	c.Ours = func(ctx context.Context) (float64, error) {
		s, err := server()
		if err != nil {
			return 0, err
		}
		d, err := s.SSHTrue(ctx, trues, slots)
		return rate(d), err
	}
	c.Baseline = func(ctx context.Context) (float64, error) {
		s, err := server()
		if err != nil {
			return 0, err
		}
		d, err := s.OpenSSHTrue(ctx, client, sshTasks, slots)
		return rate(d), err
	}
	c.Close = func() {
		if srv != nil {
			srv.close()
		}
	}
	return c
}

// DefaultDir is where benchmarks put scratch files unless told otherwise.
func DefaultDir() string { return os.TempDir() }
