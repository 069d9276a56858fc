package sim

import (
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/sim/workload"
	"github.com/embatch/embatch/task"
)

// Config is one simulated configuration: the pool, its nodes' behaviour,
// the faults, the policy and the seed. It is reported under "config" in a
// run's JSON. The zero values of the optional fields mean "off".
type Config struct {
	// Workload names the input, for reports; the simulator does not read it.
	Workload string `json:"workload,omitempty"`
	// Policy is a scheduling policy name (see PolicyNames); "" is fcfs.
	Policy string `json:"policy"`
	// Nodes is the number of dedicated nodes.
	Nodes int `json:"nodes"`
	// LowPriority is the number of low-priority (spot) nodes.
	LowPriority int `json:"low_priority"`
	// Slots is taskSlotsPerNode; 0 means 1.
	Slots int `json:"slots"`
	// Fill is the node fill type, "spread" (default) or "pack".
	Fill string `json:"fill,omitempty"`
	// Seed seeds every random draw of the run (PCG); the workload
	// generators take theirs from it too (see Rand).
	Seed uint64 `json:"seed"`
	// PriceDedicated and PriceLowPriority are prices per node-hour, in any
	// currency; cost is node-hours times price.
	PriceDedicated   float64 `json:"price_dedicated"`
	PriceLowPriority float64 `json:"price_low_priority"`
	// BootTime is a distribution (workload.ParseDist, seconds) of the time
	// from allocation to NodeReady; "" means nodes are ready at once.
	BootTime string `json:"boot_time,omitempty"`
	// StartTaskTime, when set, gives the pool a start task that runs for a
	// time drawn from this distribution on every node as it comes up
	// (waitForSuccess: nodes take tasks only after it).
	StartTaskTime string `json:"start_task_time,omitempty"`
	// FailureRate is node losses per node-hour of uptime (exponential
	// times between losses); 0 means nodes never fail.
	FailureRate float64 `json:"failure_rate,omitempty"`
	// PreemptionRate is preemptions per low-priority node-hour of uptime;
	// 0 means no preemption.
	PreemptionRate float64 `json:"preemption_rate,omitempty"`
	// RestartRate is engine restarts per hour of virtual time; 0 means
	// none. A restart rebuilds the core from its durable records
	// (pool.Restore): running tasks are requeued, every node is lost and
	// the pool allocates new ones, as after a crash of the live engine.
	RestartRate float64 `json:"restart_rate,omitempty"`
	// RecoveryTime is a distribution of how long a lost or preempted node
	// stays down before it is ready again; "" means DefaultRecoveryTime.
	RecoveryTime string `json:"recovery_time,omitempty"`
	// ShakeS is the largest shift, in seconds, applied to each submit time
	// of a trace ("shaking"); the caller applies it (see Sweep), it is
	// recorded here for the report.
	ShakeS float64 `json:"shake_s,omitempty"`
	// HorizonS stops the run at this virtual time, in seconds; 0 means run
	// until every task has completed or nothing more can happen.
	HorizonS float64 `json:"horizon_s,omitempty"`
	// AutoScaleFormula, when set, sizes the pool with an Azure autoscale
	// formula evaluated in virtual time every AutoScaleIntervalS seconds
	// (default 15 minutes), exactly as the engine would: the pool starts
	// with the formula's targets, and Nodes + LowPriority is then only the
	// largest pool a task may need (tasks wider than that are skipped).
	AutoScaleFormula   string  `json:"autoscale_formula,omitempty"`
	AutoScaleIntervalS float64 `json:"autoscale_interval_s,omitempty"`
	// Check runs the invariant checkers during the run (slower); their
	// findings are in Result.Violations.
	Check bool `json:"check,omitempty"`

	// Tracer, if set, receives the run as OpenTelemetry spans with
	// virtual timestamps (Epoch plus virtual time) and the engine's span
	// names and attributes.
	Tracer trace.Tracer `json:"-"`
	// Series records utilization over time in Result.Series (for plots).
	Series bool `json:"-"`
	// Clock, if set, measures the run's wall time (Metrics.WallS and
	// EventsPerS); it is read only before and after the event loop. Nil
	// leaves both 0, so that output is byte-for-byte reproducible.
	Clock func() time.Time `json:"-"`
}

// DefaultRecoveryTime is how long a lost or preempted node stays down when
// Config.RecoveryTime is empty.
const DefaultRecoveryTime = "const:300"

// Epoch is the instant virtual time 0 maps to when the simulator steps the
// core. Any fixed instant would do; a fixed one keeps runs reproducible.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Validate checks c as Run would: ranges, distributions and the policy
// name. The error names the setting.
func (c Config) Validate() error {
	if _, err := c.check(); err != nil {
		return err
	}
	_, err := NewPolicy(c.Policy)
	return err
}

// dists are Config's parsed distributions.
type dists struct {
	boot, startTask, recovery workload.Dist
}

// check validates c and parses its distributions.
func (c *Config) check() (dists, error) {
	var d dists
	if c.Nodes < 0 || c.LowPriority < 0 {
		return d, fmt.Errorf("nodes = %d, low-priority nodes = %d: want 0 or more", c.Nodes, c.LowPriority)
	}
	if c.Nodes+c.LowPriority == 0 {
		return d, fmt.Errorf("the pool has no nodes: set nodes or low-priority nodes")
	}
	if c.Slots < 0 || c.Slots > pool.MaxTaskSlotsPerNode {
		return d, fmt.Errorf("slots = %d: want 1 to %d", c.Slots, pool.MaxTaskSlotsPerNode)
	}
	if c.FailureRate < 0 || c.PreemptionRate < 0 || c.RestartRate < 0 || c.HorizonS < 0 || c.ShakeS < 0 {
		return d, fmt.Errorf("failure, preemption and restart rates, horizon and shake must be 0 or more")
	}
	if c.PriceDedicated < 0 || c.PriceLowPriority < 0 {
		return d, fmt.Errorf("prices must be 0 or more")
	}
	if c.AutoScaleIntervalS < 0 {
		return d, fmt.Errorf("autoscale interval = %v s: want 0 (the default, 15 minutes) or more", c.AutoScaleIntervalS)
	}
	if c.AutoScaleFormula != "" {
		spec := c.poolSpec()
		if err := spec.Validate(); err != nil {
			return d, err
		}
	}
	parse := func(field, spec, def string) (workload.Dist, error) {
		if spec == "" {
			spec = def
		}
		if spec == "" {
			return workload.Dist{}, nil
		}
		v, err := workload.ParseDist(spec)
		if err != nil {
			return v, fmt.Errorf("%s: %w", field, err)
		}
		return v, nil
	}
	var err error
	if d.boot, err = parse("boot time", c.BootTime, ""); err != nil {
		return d, err
	}
	if d.startTask, err = parse("start task time", c.StartTaskTime, ""); err != nil {
		return d, err
	}
	if d.recovery, err = parse("recovery time", c.RecoveryTime, DefaultRecoveryTime); err != nil {
		return d, err
	}
	return d, nil
}

// slots is taskSlotsPerNode with its default.
func (c *Config) slots() int { return max(c.Slots, 1) }

// poolSpec is the simulated pool.
func (c *Config) poolSpec() pool.Spec {
	spec := pool.Spec{
		ID:                     workload.PoolID,
		TargetDedicatedNodes:   c.Nodes,
		TargetLowPriorityNodes: c.LowPriority,
		TaskSlotsPerNode:       task.Ptr(c.slots()),
		// A resize never times out in the simulator: boot times are
		// drawn, and a timeout would only cut the pool short.
		ResizeTimeout: task.Ptr(task.Duration(100 * 365 * 24 * time.Hour)),
	}
	if c.Fill != "" {
		spec.TaskSchedulingPolicy = &pool.TaskSchedulingPolicy{NodeFillType: pool.NodeFillType(c.Fill)}
	}
	if c.StartTaskTime != "" {
		spec.StartTask = &pool.StartTask{CommandLine: "sim-start-task"}
	}
	if c.AutoScaleFormula != "" {
		spec.TargetDedicatedNodes, spec.TargetLowPriorityNodes = 0, 0
		spec.EnableAutoScale = true
		spec.AutoScaleFormula = c.AutoScaleFormula
		if c.AutoScaleIntervalS > 0 {
			spec.AutoScaleEvaluationInterval = task.Ptr(task.Duration(time.Duration(c.AutoScaleIntervalS * float64(time.Second))))
		}
	}
	return spec
}
