package engine_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/inprocess"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// Example embeds an account whose pool runs Go handlers: a fan-out of
// tasks and a fan-in task that depends on all of them.
func Example() {
	ctx := context.Background()
	acct, err := engine.New(engine.WithBackend("inprocess", func(pool.Spec) (node.Backend, error) {
		b := inprocess.New()
		err := b.Register("shout", func(ctx context.Context, t *inprocess.Task) error {
			_, err := fmt.Fprintln(t.Stdout, strings.ToUpper(strings.Join(t.Args, " ")))
			return err
		})
		return b, err
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer acct.Close()

	// A pool of 2 nodes with 4 task slots each.
	if err := acct.CreatePool(ctx, pool.Spec{ID: "workers", TargetDedicatedNodes: 2, TaskSlotsPerNode: task.Ptr(4)}); err != nil {
		log.Fatal(err)
	}
	if err := acct.AddJob(ctx, task.JobSpec{
		ID:                   "greet",
		PoolInfo:             task.PoolInformation{PoolID: "workers"},
		UsesTaskDependencies: true,
		OnAllTasksComplete:   task.OnAllTasksCompleteTerminateJob,
	}); err != nil {
		log.Fatal(err)
	}
	tasks := []task.TaskSpec{
		{ID: "1", CommandLine: "shout hello"},
		{ID: "2", CommandLine: "shout batch"},
		{ID: "3", CommandLine: "shout world"},
		{ID: "all", CommandLine: "shout done", DependsOn: &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 1, End: 3}}}},
	}
	if err := acct.AddTasks(ctx, "greet", tasks); err != nil {
		log.Fatal(err)
	}
	job, err := acct.WaitJob(ctx, "greet")
	if err != nil {
		log.Fatal(err)
	}
	counts, _ := acct.TaskCounts(ctx, "greet")
	out, _ := acct.ReadTaskFile(ctx, "greet", "all", "stdout.txt")
	fmt.Println(job.State, counts.TaskCounts.Succeeded, strings.TrimSpace(string(out)))
	// Output: completed 4 DONE
}
