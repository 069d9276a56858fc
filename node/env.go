package node

import (
	"strconv"
	"strings"

	"github.com/embatch/embatch/task"
)

// DefaultMasterPort is the port in AZ_BATCH_MASTER_NODE ("ip:port") when
// EnvContext.MasterPort is 0. Azure reserves an unspecified port for Batch
// on the primary; 6000 is the one its examples show.
const DefaultMasterPort = 6000

// BatchVarPrefix starts the name of every variable Batch sets.
const BatchVarPrefix = "AZ_BATCH_"

// EnvContext is what BatchEnv needs besides the attempt and the layout.
type EnvContext struct {
	// NodeID is the node the command runs on. Empty means a.NodeID. For a
	// multi-instance task's coordination command on a secondary instance it
	// names that instance's node.
	NodeID string
	// HostAddress returns the address at which other instances reach a node
	// (Azure's node IP), for the multi-instance variables. Nil means the node
	// id itself.
	HostAddress func(nodeID string) string
	// MasterPort is the port in AZ_BATCH_MASTER_NODE; 0 means
	// DefaultMasterPort.
	MasterPort int
}

// MultiInstance reports whether a is a multi-instance task: a task with more
// than one instance node or a coordination command.
func (a *Attempt) MultiInstance() bool {
	return a.Kind == KindTask && (len(a.Nodes) > 1 || a.CoordinationCommandLine != "")
}

// InstanceNodes is the nodes of a's instances, primary first: a.Nodes, or
// just a.NodeID when Nodes is empty.
func (a *Attempt) InstanceNodes() []string {
	if len(a.Nodes) == 0 {
		return []string{a.NodeID}
	}
	return a.Nodes
}

// BatchVars returns the AZ_BATCH_* variables Batch sets for attempt a running
// on the node laid out by l, in a fixed order. It follows Azure's table of
// availability:
//
//   - AZ_BATCH_NODE_ID, _POOL_ID, _NODE_IS_DEDICATED, _NODE_ROOT_DIR,
//     _NODE_SHARED_DIR, _NODE_STARTUP_DIR, _TASK_DIR and _TASK_WORKING_DIR for
//     every kind;
//   - AZ_BATCH_JOB_ID and AZ_BATCH_TASK_ID for every kind but the start task;
//   - AZ_BATCH_JOB_PREP_DIR and _JOB_PREP_WORKING_DIR for tasks and job
//     release tasks of a job with a preparation task;
//   - for multi-instance tasks, AZ_BATCH_HOST_LIST (addresses joined by ','),
//     AZ_BATCH_NODE_LIST (joined by ';'), AZ_BATCH_MASTER_NODE
//     ("address:port" of the primary), AZ_BATCH_IS_CURRENT_NODE_MASTER
//     ("true"/"false") and AZ_BATCH_TASK_SHARED_DIR (the task directory,
//     where common resource files land).
func BatchVars(a *Attempt, l Layout, c EnvContext) []task.EnvironmentSetting {
	nodeID := c.NodeID
	if nodeID == "" {
		nodeID = a.NodeID
	}
	taskDir := l.AttemptDir(a)
	var vars []task.EnvironmentSetting
	set := func(name, value string) {
		vars = append(vars, task.EnvironmentSetting{Name: BatchVarPrefix + name, Value: value})
	}
	set("NODE_ID", nodeID)
	set("POOL_ID", a.PoolID)
	set("NODE_IS_DEDICATED", strconv.FormatBool(a.Dedicated))
	set("NODE_ROOT_DIR", l.Root)
	set("NODE_SHARED_DIR", l.SharedDir())
	set("NODE_STARTUP_DIR", l.StartupDir())
	if a.Kind != KindStartTask {
		set("JOB_ID", a.JobID)
		set("TASK_ID", a.TaskID)
	}
	set("TASK_DIR", taskDir)
	set("TASK_WORKING_DIR", WorkingDir(taskDir))
	if a.JobHasPreparation && (a.Kind == KindTask || a.Kind == KindJobRelease) {
		prep := l.JobPreparationDir(a.JobID)
		set("JOB_PREP_DIR", prep)
		set("JOB_PREP_WORKING_DIR", WorkingDir(prep))
	}
	if a.MultiInstance() {
		addr := c.HostAddress
		if addr == nil {
			addr = func(id string) string { return id }
		}
		port := c.MasterPort
		if port == 0 {
			port = DefaultMasterPort
		}
		nodes := a.InstanceNodes()
		hosts := make([]string, len(nodes))
		for i, n := range nodes {
			hosts[i] = addr(n)
		}
		set("HOST_LIST", strings.Join(hosts, ","))
		set("NODE_LIST", strings.Join(hosts, ";"))
		set("MASTER_NODE", hosts[0]+":"+strconv.Itoa(port))
		set("IS_CURRENT_NODE_MASTER", strconv.FormatBool(nodeID == nodes[0]))
		set("TASK_SHARED_DIR", taskDir)
	}
	return vars
}

// BatchEnv returns the environment settings of attempt a on the node laid
// out by l: a.Env (the job's common settings then the task's own; a later
// setting of a name replaces an earlier one but keeps its first position)
// followed by BatchVars. The variables Batch sets cannot be overridden: a
// user setting with the same name is dropped, so AZ_BATCH_TASK_DIR and
// friends always tell the truth. Other AZ_BATCH_ names (AZ_BATCH_ACCOUNT_NAME,
// say) are left to the user. The result has no duplicate names.
func BatchEnv(a *Attempt, l Layout, c EnvContext) []task.EnvironmentSetting {
	batch := BatchVars(a, l, c)
	reserved := make(map[string]bool, len(batch))
	for _, v := range batch {
		reserved[v.Name] = true
	}
	var out []task.EnvironmentSetting
	index := make(map[string]int, len(a.Env))
	for _, e := range a.Env {
		if reserved[e.Name] {
			continue
		}
		if i, ok := index[e.Name]; ok {
			out[i].Value = e.Value
			continue
		}
		index[e.Name] = len(out)
		out = append(out, e)
	}
	return append(out, batch...)
}

// MergeEnviron returns base, a list of "NAME=value" strings as os.Environ
// gives, with settings applied on top: a setting replaces a base entry of the
// same name in place, and new names are appended in order. Base entries
// without '=' are dropped. The result suits os/exec's Cmd.Env.
func MergeEnviron(base []string, settings []task.EnvironmentSetting) []string {
	out := make([]string, 0, len(base)+len(settings))
	index := make(map[string]int, len(base)+len(settings))
	put := func(name, value string) {
		kv := name + "=" + value
		if i, ok := index[name]; ok {
			out[i] = kv
			return
		}
		index[name] = len(out)
		out = append(out, kv)
	}
	for _, kv := range base {
		if name, value, ok := strings.Cut(kv, "="); ok && name != "" {
			put(name, value)
		}
	}
	for _, s := range settings {
		put(s.Name, s.Value)
	}
	return out
}

// LookupEnviron returns the value of name in env, a list of "NAME=value"
// strings, and whether it is set. The last entry wins, as in os/exec.
func LookupEnviron(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if n, v, ok := strings.Cut(env[i], "="); ok && n == name {
			return v, true
		}
	}
	return "", false
}
