package autoscale_test

import (
	"fmt"
	"time"

	"github.com/embatch/embatch/pool/autoscale"
)

// The engine or simulator samples the pool every 30 s of its own clock and
// evaluates the pool's formula on its schedule.
func Example() {
	formula, err := autoscale.Parse(`
		// Azure's "Pending tasks" sample formula.
		startingNumberOfVMs = 1;
		maxNumberofVMs = 25;
		pendingTaskSamplePercent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);
		pendingTaskSamples = pendingTaskSamplePercent < 70 ? startingNumberOfVMs : avg($PendingTasks.GetSample(180 * TimeInterval_Second));
		$TargetDedicatedNodes = min(maxNumberofVMs, pendingTaskSamples);
		$NodeDeallocationOption = taskcompletion;`)
	if err != nil {
		fmt.Println(err)
		return
	}

	sampler := autoscale.NewSampler(autoscale.DefaultHistory)
	now := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	for pending := 10; pending <= 60; pending += 10 {
		now = now.Add(autoscale.SamplePeriod)
		sampler.Record(now, map[autoscale.Metric]float64{autoscale.PendingTasks: float64(pending)})
	}
	// The last 180 s, (12:00:00, 12:03:00], hold all six samples.

	result, err := formula.Evaluate(autoscale.Env{Now: now, Samples: sampler, TargetDedicatedNodes: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(result.TargetDedicatedNodes, result.NodeDeallocationOption)
	fmt.Println(result)
	// Output:
	// 25 taskcompletion
	// $TargetDedicatedNodes=25;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;maxNumberofVMs=25;pendingTaskSamplePercent=100;pendingTaskSamples=35;startingNumberOfVMs=1
}
