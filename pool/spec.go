// Package pool holds the Azure Batch pool and compute-node model and the
// scheduling core: a deterministic state machine, one per pool, that decides
// which task runs where and when. It has no goroutines, clock or I/O: time
// comes in with every Step, and effects go out as Actions in Ready. The live
// engine and the simulator drive the very same core.
package pool

import (
	"fmt"
	"strings"

	"github.com/embatch/embatch/task"
)

// NodeFillType says how tasks are spread over nodes.
type NodeFillType string

// NodeFillType values. Empty means Spread, Azure's default.
const (
	// FillSpread assigns tasks evenly across nodes: each task goes to the
	// node with the most free slots.
	FillSpread NodeFillType = "spread"
	// FillPack fills one node's slots before using the next: each task goes
	// to the node with the fewest free slots that still fits it.
	FillPack NodeFillType = "pack"
)

// TaskSchedulingPolicy is Azure's pool task scheduling policy.
type TaskSchedulingPolicy struct {
	NodeFillType NodeFillType `json:"nodeFillType"`
}

// StartTask runs on every node as it joins the pool (and when it rejoins).
type StartTask struct {
	CommandLine         string                    `json:"commandLine"`
	ResourceFiles       []task.ResourceFile       `json:"resourceFiles,omitempty"`
	EnvironmentSettings []task.EnvironmentSetting `json:"environmentSettings,omitempty"`
	// MaxTaskRetryCount: 0 (default) no retries, -1 unlimited.
	MaxTaskRetryCount int `json:"maxTaskRetryCount,omitempty"`
	// WaitForSuccess: when true (the default, as in Azure since 2019), a node
	// gets no tasks until its start task exits 0, and becomes starttaskfailed
	// once retries are exhausted.
	WaitForSuccess *bool `json:"waitForSuccess,omitempty"`
}

// Waits reports the effective WaitForSuccess (default true).
func (s *StartTask) Waits() bool { return s.WaitForSuccess == nil || *s.WaitForSuccess }

// BackendSpec is an embatch extension naming the node backend of a pool:
// "inprocess" (Go handlers), "local" (local processes, the CLI's default) or
// "ssh". Backend-specific settings sit beside Type.
type BackendSpec struct {
	Type string `json:"type"`
	// Hosts are SSH hosts, "user@host:port" or "user@host:port/slots".
	Hosts []string `json:"hosts,omitempty"`
	// IdentityFile is the SSH private key file.
	IdentityFile string `json:"identityFile,omitempty"`
	// KnownHostsFile verifies host keys; required unless InsecureIgnoreHostKey.
	KnownHostsFile string `json:"knownHostsFile,omitempty"`
	// InsecureIgnoreHostKey turns host key checking off. Never in production.
	InsecureIgnoreHostKey bool `json:"insecureIgnoreHostKey,omitempty"`
	// Root is the node root directory on SSH hosts; default "/tmp/embatch".
	Root string `json:"root,omitempty"`
}

// Spec is what a user submits to create a pool (Azure's PoolAddParameter,
// the fields that mean something without a cloud).
type Spec struct {
	ID                     string                `json:"id"`
	DisplayName            string                `json:"displayName,omitempty"`
	VMSize                 string                `json:"vmSize,omitempty"`
	TargetDedicatedNodes   int                   `json:"targetDedicatedNodes,omitempty"`
	TargetLowPriorityNodes int                   `json:"targetLowPriorityNodes,omitempty"`
	TaskSlotsPerNode       *int                  `json:"taskSlotsPerNode,omitempty"`
	TaskSchedulingPolicy   *TaskSchedulingPolicy `json:"taskSchedulingPolicy,omitempty"`
	// ResizeTimeout bounds how long a resize may take; default 15 minutes.
	ResizeTimeout *task.Duration `json:"resizeTimeout,omitempty"`
	// EnableAutoScale sizes the pool with AutoScaleFormula, evaluated every
	// AutoScaleEvaluationInterval (default 15 minutes; embatch allows any
	// positive interval). The target node counts must then be unset.
	EnableAutoScale             bool                `json:"enableAutoScale,omitempty"`
	AutoScaleFormula            string              `json:"autoScaleFormula,omitempty"`
	AutoScaleEvaluationInterval *task.Duration      `json:"autoScaleEvaluationInterval,omitempty"`
	StartTask                   *StartTask          `json:"startTask,omitempty"`
	Metadata                    []task.MetadataItem `json:"metadata,omitempty"`
	Backend                     *BackendSpec        `json:"backend,omitempty"`
}

// MaxTaskSlotsPerNode is Azure's upper bound on taskSlotsPerNode.
const MaxTaskSlotsPerNode = 256

// Slots is TaskSlotsPerNode with its default, 1, filled in.
func (s *Spec) Slots() int {
	if s.TaskSlotsPerNode == nil {
		return 1
	}
	return *s.TaskSlotsPerNode
}

// FillType is the node fill type with its default, spread, filled in.
func (s *Spec) FillType() NodeFillType {
	if s.TaskSchedulingPolicy == nil || s.TaskSchedulingPolicy.NodeFillType == "" {
		return FillSpread
	}
	return s.TaskSchedulingPolicy.NodeFillType
}

// BackendType is Backend.Type, or "" when unset (the embedder's default).
func (s *Spec) BackendType() string {
	if s.Backend == nil {
		return ""
	}
	return s.Backend.Type
}

// Validate checks a pool spec. The error names the field and value at fault.
func (s *Spec) Validate() error {
	if err := task.ValidateID("id", s.ID); err != nil {
		return err
	}
	if s.TargetDedicatedNodes < 0 {
		return task.Invalid("targetDedicatedNodes", s.TargetDedicatedNodes, "must be 0 or more")
	}
	if s.TargetLowPriorityNodes < 0 {
		return task.Invalid("targetLowPriorityNodes", s.TargetLowPriorityNodes, "must be 0 or more")
	}
	if n := s.TaskSlotsPerNode; n != nil && (*n < 1 || *n > MaxTaskSlotsPerNode) {
		return task.Invalid("taskSlotsPerNode", *n, "must be between 1 and %d", MaxTaskSlotsPerNode)
	}
	if p := s.TaskSchedulingPolicy; p != nil {
		switch p.NodeFillType {
		case FillSpread, FillPack:
		default:
			return task.Invalid("taskSchedulingPolicy.nodeFillType", p.NodeFillType, "want spread or pack")
		}
	}
	if s.EnableAutoScale {
		if s.TargetDedicatedNodes != 0 || s.TargetLowPriorityNodes != 0 {
			return task.Invalid("targetDedicatedNodes", s.TargetDedicatedNodes, "target node counts must not be set when enableAutoScale is true; the formula sets them")
		}
		if s.AutoScaleFormula == "" {
			return task.Missing("autoScaleFormula")
		}
		if _, err := parseFormula("autoScaleFormula", s.AutoScaleFormula); err != nil {
			return err
		}
	} else if s.AutoScaleFormula != "" {
		return task.Invalid("autoScaleFormula", "set", "a formula needs enableAutoScale: true")
	}
	if d := s.AutoScaleEvaluationInterval; d != nil {
		if err := validateInterval("autoScaleEvaluationInterval", d.D()); err != nil {
			return err
		}
	}
	if d := s.ResizeTimeout; d != nil && *d <= 0 {
		return task.Invalid("resizeTimeout", d.String(), "must be positive")
	}
	if st := s.StartTask; st != nil {
		if strings.TrimSpace(st.CommandLine) == "" {
			return task.Missing("startTask.commandLine")
		}
		if st.MaxTaskRetryCount < -1 {
			return task.Invalid("startTask.maxTaskRetryCount", st.MaxTaskRetryCount, "must be -1 (unlimited), 0 or more")
		}
		for i, e := range st.EnvironmentSettings {
			if e.Name == "" {
				return task.Missing(fmt.Sprintf("startTask.environmentSettings[%d].name", i))
			}
		}
	}
	for i, m := range s.Metadata {
		if m.Name == "" {
			return task.Missing(fmt.Sprintf("metadata[%d].name", i))
		}
	}
	if b := s.Backend; b != nil {
		switch b.Type {
		case "inprocess", "local", "fake":
		case "ssh":
			if len(b.Hosts) == 0 {
				return task.Missing("backend.hosts")
			}
			if b.KnownHostsFile == "" && !b.InsecureIgnoreHostKey {
				return task.Missing("backend.knownHostsFile")
			}
		case "":
			return task.Missing("backend.type")
		default:
			return task.Invalid("backend.type", b.Type, "unknown backend; want inprocess, local or ssh")
		}
	}
	return nil
}
