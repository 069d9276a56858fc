package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/embatch/embatch/engine"
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
	acct, err := engine.New(engine.WithBackend("local", func(pool.Spec) (node.Backend, error) { return local.New(root) }))
	if err != nil {
		return 0, err
	}
	defer acct.Close()
	if err := acct.CreatePool(ctx, pool.Spec{ID: "bench", TargetDedicatedNodes: 1, TaskSlotsPerNode: task.Ptr(slots)}); err != nil {
		return 0, err
	}
	if err := acct.WaitPoolSteady(ctx, "bench"); err != nil {
		return 0, err
	}
	if err := acct.AddJob(ctx, task.JobSpec{ID: "true", PoolInfo: task.PoolInformation{PoolID: "bench"}}); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := acct.AddTasks(ctx, "true", tasks); err != nil {
		return 0, err
	}
	if _, err := acct.WaitJob(ctx, "true"); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	tc, err := acct.TaskCounts(ctx, "true")
	if err != nil {
		return 0, err
	}
	if tc.TaskCounts.Succeeded != len(tasks) {
		return 0, fmt.Errorf("bench: %d of %d /bin/true tasks succeeded", tc.TaskCounts.Succeeded, len(tasks))
	}
	return elapsed, nil
}

// ExecTrue runs /bin/true n times with os/exec from workers goroutines: the
// floor LocalTrue is compared with.
func ExecTrue(ctx context.Context, n, workers int) (time.Duration, error) {
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if err := exec.CommandContext(ctx, "/bin/true").Run(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}
