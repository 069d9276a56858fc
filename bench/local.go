package bench

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/local"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// TrueTasks returns n task specs running /bin/true.
func TrueTasks(n int) []task.TaskSpec {
	tasks := make([]task.TaskSpec, n)
	for i := range tasks {
		tasks[i] = task.TaskSpec{ID: strconv.Itoa(i), CommandLine: "/bin/true"}
	}
	return tasks
}

// LocalTrue runs tasks (from TrueTasks) through an account on one
// local-process node with slots slots, under a fresh directory in dir, and
// returns the wall time from AddTasks until all completed.
func LocalTrue(ctx context.Context, dir string, tasks []task.TaskSpec, slots int) (time.Duration, error) {
	root, err := os.MkdirTemp(dir, "local-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(root)
	res, err := runAccount(ctx, "local", func(pool.Spec) (node.Backend, error) { return local.New(root) }, tasks, slots, 0)
	return res.Elapsed, err
}

// ExecTrue runs /bin/true n times with os/exec from workers goroutines: the
// floor LocalTrue is compared with.
func ExecTrue(ctx context.Context, n, workers int) (time.Duration, error) {
	return parallel(n, workers, func() error { return exec.CommandContext(ctx, "/bin/true").Run() })
}
