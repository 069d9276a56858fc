package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// jobFile is a job as `embatch run` reads it: Azure's JobAddParameter with
// the job's tasks (TaskAddParameter) and, optionally, a task factory that
// makes more.
type jobFile struct {
	task.JobSpec
	Tasks       []task.TaskSpec `json:"tasks,omitempty"`
	TaskFactory *taskFactory    `json:"taskFactory,omitempty"`
}

// accountFile is the other form of a job file: pools (Azure's
// PoolAddParameter plus "backend") and jobs.
type accountFile struct {
	Pools []pool.Spec `json:"pools,omitempty"`
	Jobs  []jobFile   `json:"jobs,omitempty"`
}

// plan is everything a run will do, checked: the pools to create and the
// jobs to add, with their tasks.
type plan struct {
	Pools []*plannedPool
	Jobs  []*plannedJob
}

// plannedPool is a pool to create.
type plannedPool struct {
	Spec pool.Spec
	// Default is true for a pool made for jobs whose poolId no file
	// defines.
	Default bool
	// src locates the pool's JSON for errors; nil for default pools.
	src *source
	// jobSrc locates the poolId of the first job on a default pool.
	jobSrc *source
}

// plannedJob is a job to add with its tasks, in the order they are added.
type plannedJob struct {
	Spec  task.JobSpec
	Tasks []task.TaskSpec
	// origins[i] is the JSON path, relative to the job, that Tasks[i] was
	// made from ("tasks[3]", "taskFactory.repeatTask", ...).
	origins []string
	src     *source
}

// source is where something was defined: a file and a JSON path in it.
type source struct {
	file *inputFile
	path string
}

// errorf returns an inputError about the value at path below the source.
func (s *source) errorf(path, format string, args ...any) *inputError {
	full := joinPath(s.path, path)
	if strings.HasPrefix(path, "[") {
		full = s.path + path
	}
	e := &inputError{Path: full, Msg: fmt.Sprintf(format, args...)}
	return s.file.locate(e)
}

// inputFile is a job file as read.
type inputFile struct {
	name string
	data []byte
	tree *jsonValue
	// dir resolves the file's relative input paths.
	dir string
}

// locate fills e's position from its Path (the deepest value of the path
// present in the file) and, when the path names a value exactly and e has
// no value yet, quotes that value.
func (f *inputFile) locate(e *inputError) *inputError {
	if f.tree != nil && e.Offset == 0 {
		v, matched := f.tree.lookup(e.Path)
		e.Offset = v.off
		if matched == e.Path && v != f.tree && (e.Value == "" || v.kind == kindNumber || v.kind == kindBool) {
			e.Value = v.shown()
		}
	}
	return e.locate(f.name, f.data)
}

// loader reads job files into a plan.
type loader struct {
	// dataDir (absolute) is where relative output container URLs point.
	dataDir string
	// stdin is read for the file name "-".
	stdin io.Reader
	// cpus is the node count of default pools and of pools that set no
	// target node counts (SSH pools get one node per host instead).
	cpus int
	// now is the dry run's clock.
	now time.Time
}

// load reads, expands and checks the files. The error, if any, is an
// *inputError.
func (l *loader) load(names []string) (*plan, error) {
	p := &plan{}
	for _, name := range names {
		f, err := l.read(name)
		if err != nil {
			return nil, err
		}
		if err := l.addFile(p, f); err != nil {
			return nil, err
		}
	}
	if len(p.Jobs) == 0 {
		return nil, &inputError{File: strings.Join(names, ", "), Msg: "no jobs to run"}
	}
	l.assignPools(p)
	if err := dryRun(p, l.now); err != nil {
		return nil, err
	}
	return p, nil
}

// read reads and parses one file; "-" is standard input.
func (l *loader) read(name string) (*inputFile, error) {
	var data []byte
	var err error
	dir := "."
	if name == "-" {
		if l.stdin == nil {
			return nil, &inputError{File: name, Msg: "no standard input"}
		}
		data, err = io.ReadAll(l.stdin)
	} else {
		data, err = os.ReadFile(name)
		dir = filepath.Dir(name)
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &inputError{File: name, Msg: "cannot read: " + err.Error()}
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, &inputError{File: name, Msg: err.Error()}
	}
	f := &inputFile{name: name, data: data, dir: dir}
	tree, err := parseJSON(data)
	if err != nil {
		return nil, err.(*inputError).locate(name, data)
	}
	f.tree = tree
	return f, nil
}

// addFile decodes a file of either form and adds its pools and jobs.
func (l *loader) addFile(p *plan, f *inputFile) error {
	if f.tree.kind != kindObject {
		e := &inputError{Offset: f.tree.off, Value: f.tree.shown(), Msg: "want a job object, or an object with \"pools\" and \"jobs\""}
		return e.locate(f.name, f.data)
	}
	if f.tree.field("jobs") == nil && f.tree.field("pools") == nil {
		var jf jobFile
		if err := decodeStrict(f.tree, &jf, ""); err != nil {
			return f.locate(err.(*inputError))
		}
		return l.addJob(p, &jf, &source{file: f})
	}
	var af accountFile
	if err := decodeStrict(f.tree, &af, ""); err != nil {
		return f.locate(err.(*inputError))
	}
	for i, ps := range af.Pools {
		src := &source{file: f, path: indexPath("pools", i)}
		if err := l.addPool(p, ps, src); err != nil {
			return err
		}
	}
	for i := range af.Jobs {
		if err := l.addJob(p, &af.Jobs[i], &source{file: f, path: indexPath("jobs", i)}); err != nil {
			return err
		}
	}
	return nil
}

// addPool adds a pool defined in a file, with embatch's defaults filled in.
func (l *loader) addPool(p *plan, ps pool.Spec, src *source) error {
	if ps.ID != "" {
		for _, q := range p.Pools {
			if task.FoldID(q.Spec.ID) == task.FoldID(ps.ID) {
				return src.errorf("id", "another pool has this id (ids are unique ignoring case): %s", q.src.describe()).withCode(task.CodePoolExists)
			}
		}
	}
	// An empty type is left for Validate to report as missing.
	if typ := ps.BackendType(); typ != "" && backends[typ] == nil {
		return src.errorf("backend.type", "unknown backend type; want one of: %s", backendTypes())
	}
	if ps.TargetDedicatedNodes == 0 && ps.TargetLowPriorityNodes == 0 {
		// A pool that sets no size gets one node per CPU on this
		// machine, or one per host for SSH hosts.
		ps.TargetDedicatedNodes = l.cpus
		if ps.BackendType() == "ssh" && len(ps.Backend.Hosts) > 0 {
			ps.TargetDedicatedNodes = len(ps.Backend.Hosts)
		}
	}
	if st := ps.StartTask; st != nil {
		resolveResourceFiles(st.ResourceFiles, src.file.dir)
	}
	if err := ps.Validate(); err != nil {
		return src.file.locate(fromTaskError(err, src.path))
	}
	p.Pools = append(p.Pools, &plannedPool{Spec: ps, src: src})
	return nil
}

// describe says where a source is, for messages.
func (s *source) describe() string {
	if s == nil {
		return "a default pool"
	}
	e := s.file.locate(&inputError{Path: s.path})
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d (%s)", e.File, e.Line, e.Col, orRoot(s.path))
	}
	return fmt.Sprintf("%s (%s)", e.File, orRoot(s.path))
}

// orRoot names a JSON path for messages; the empty path is the job.
func orRoot(path string) string {
	if path == "" {
		return "the job"
	}
	return path
}

// withCode sets the Azure error code of e.
func (e *inputError) withCode(code string) *inputError {
	e.Code = code
	return e
}

// addJob expands a job's task factory and auto pool and adds the job.
func (l *loader) addJob(p *plan, jf *jobFile, src *source) error {
	spec := jf.JobSpec
	if err := spec.Validate(); err != nil {
		return src.file.locate(fromTaskError(err, src.path))
	}
	for _, q := range p.Jobs {
		if task.FoldID(q.Spec.ID) == task.FoldID(spec.ID) {
			return src.errorf("id", "another job has this id (ids are unique ignoring case): %s", q.src.describe()).withCode(task.CodeJobExists)
		}
	}
	j := &plannedJob{src: src}
	for i, t := range jf.Tasks {
		j.Tasks = append(j.Tasks, t)
		j.origins = append(j.origins, indexPath("tasks", i))
	}
	if jf.TaskFactory != nil {
		fpath := joinPath(src.path, "taskFactory")
		fv, _ := src.file.tree.lookup(fpath)
		gen, err := expandFactory(jf.TaskFactory, fv, fpath, src.file.dir)
		if err != nil {
			return src.file.locate(err.(*inputError))
		}
		for _, g := range gen {
			j.Tasks = append(j.Tasks, g.spec)
			j.origins = append(j.origins, joinPath("taskFactory", g.origin))
			if g.origin == "mergeTask" {
				// As the Azure Batch CLI extensions do for a merge task.
				spec.UsesTaskDependencies = true
			}
		}
	}
	if ap := spec.PoolInfo.AutoPoolSpecification; ap != nil {
		ppath := joinPath(src.path, "poolInfo.autoPoolSpecification.pool")
		pv, _ := src.file.tree.lookup(ppath)
		var ps pool.Spec
		if err := decodeStrict(pv, &ps, ppath); err != nil {
			return src.file.locate(err.(*inputError))
		}
		if ps.ID != "" {
			return src.errorf("poolInfo.autoPoolSpecification.pool.id", "an auto pool's id is made from autoPoolIdPrefix and the job id; leave id out")
		}
		ps.ID = autoPoolID(ap.AutoPoolIDPrefix, spec.ID)
		if err := l.addPool(p, ps, &source{file: src.file, path: ppath}); err != nil {
			return err
		}
		spec.PoolInfo = task.PoolInformation{PoolID: ps.ID}
	}
	for i := range j.Tasks {
		t := &j.Tasks[i]
		resolveResourceFiles(t.ResourceFiles, src.file.dir)
		if m := t.MultiInstanceSettings; m != nil {
			resolveResourceFiles(m.CommonResourceFiles, src.file.dir)
		}
		for k := range t.OutputFiles {
			if c := t.OutputFiles[k].Destination.Container; c != nil {
				c.ContainerURL = resolveOutputURL(c.ContainerURL, l.dataDir)
			}
		}
	}
	if pt := spec.JobPreparationTask; pt != nil {
		resolveResourceFiles(pt.ResourceFiles, src.file.dir)
	}
	if rt := spec.JobReleaseTask; rt != nil {
		resolveResourceFiles(rt.ResourceFiles, src.file.dir)
	}
	j.Spec = spec
	p.Jobs = append(p.Jobs, j)
	return nil
}

// autoPoolID is the id of a job's auto pool, made as engine.Account.AddJob
// makes it: the prefix, "_" and the job id, cut to 64 characters.
func autoPoolID(prefix, jobID string) string {
	id := jobID
	if prefix != "" {
		id = prefix + "_" + jobID
	}
	if len(id) > task.MaxIDLength {
		id = id[:task.MaxIDLength]
	}
	return id
}

// assignPools gives every job whose pool no file defines a default pool:
// one local node per CPU, one slot each. Jobs naming the same undefined
// pool share it.
func (l *loader) assignPools(p *plan) {
	for _, j := range p.Jobs {
		id := j.Spec.PoolInfo.PoolID
		found := false
		for _, q := range p.Pools {
			if task.FoldID(q.Spec.ID) == task.FoldID(id) {
				found = true
				break
			}
		}
		if !found {
			p.Pools = append(p.Pools, &plannedPool{
				Spec:    pool.Spec{ID: id, TargetDedicatedNodes: l.cpus, Backend: &pool.BackendSpec{Type: defaultBackend}},
				Default: true,
				jobSrc:  &source{file: j.src.file, path: joinPath(j.src.path, "poolInfo.poolId")},
			})
		}
	}
}

// dryRun feeds the plan to scheduling cores of its own, which are pure (no
// node starts, nothing runs), so that every check the engine makes (job and
// task validation, task ids unique ignoring case, dependency targets and
// cycles, required slots against the pool) is made before anything starts.
func dryRun(p *plan, now time.Time) error {
	cores := map[string]*pool.Scheduler{}
	nodes := map[string]int{}
	for _, pp := range p.Pools {
		core, err := pool.NewScheduler(pp.Spec, pool.Config{Now: now})
		if err != nil {
			if pp.src != nil {
				return pp.src.file.locate(fromTaskError(err, pp.src.path))
			}
			return pp.jobSrc.file.locate(fromTaskError(err, pp.jobSrc.path))
		}
		cores[task.FoldID(pp.Spec.ID)] = core
		nodes[task.FoldID(pp.Spec.ID)] = pp.Spec.TargetDedicatedNodes + pp.Spec.TargetLowPriorityNodes
	}
	for _, j := range p.Jobs {
		core := cores[task.FoldID(j.Spec.PoolInfo.PoolID)]
		if err := core.Step(now, pool.AddJob{Spec: j.Spec}); err != nil {
			return j.src.file.locate(fromTaskError(err, j.src.path))
		}
		if err := core.Step(now, pool.AddTasks{JobID: j.Spec.ID, Tasks: j.Tasks}); err != nil {
			return j.taskError(err)
		}
		// A gang bigger than its pool would wait for nodes forever.
		n := nodes[task.FoldID(j.Spec.PoolInfo.PoolID)]
		for i := range j.Tasks {
			if k := j.Tasks[i].MultiInstanceSettings.Instances(); k > n {
				return j.taskError(task.Invalid(indexPath("tasks", i)+".multiInstanceSettings.numberOfInstances", k,
					"the task needs %d nodes at once but pool %q has %d", k, j.Spec.PoolInfo.PoolID, n))
			}
		}
	}
	return nil
}

// taskError maps an error of AddTasks, whose field starts with "tasks[i]"
// (an index into j.Tasks), to where task i came from.
func (j *plannedJob) taskError(err error) error {
	e := fromTaskError(err, "")
	i, rest, ok := parseTaskIndex(e.Path)
	if !ok || i >= len(j.origins) {
		e.Path = joinPath(j.src.path, e.Path)
		return j.src.file.locate(e)
	}
	origin := j.origins[i]
	e.Path = joinPath(j.src.path, origin) + rest
	if !strings.HasPrefix(origin, "tasks[") {
		e.Msg += fmt.Sprintf(" (in task %q made by the task factory)", j.Tasks[i].ID)
	}
	return j.src.file.locate(e)
}

// parseTaskIndex splits "tasks[12].dependsOn" into 12 and ".dependsOn".
func parseTaskIndex(field string) (int, string, bool) {
	rest, ok := strings.CutPrefix(field, "tasks[")
	if !ok {
		return 0, "", false
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return 0, "", false
	}
	i, err := strconv.Atoi(rest[:end])
	if err != nil {
		return 0, "", false
	}
	return i, rest[end+1:], true
}

// resolveResourceFiles makes relative file URLs of resource files absolute
// against dir, the job file's directory.
func resolveResourceFiles(rfs []task.ResourceFile, dir string) {
	for i := range rfs {
		rfs[i].HTTPURL = resolveFileURL(rfs[i].HTTPURL, dir)
		rfs[i].StorageContainerURL = resolveFileURL(rfs[i].StorageContainerURL, dir)
	}
}

// resolveFileURL makes a relative file URL absolute against base: "file:x",
// "file:./x", "file://./x" and "file://../x" name base/x or base/../x and
// become "file:///abs/x". Other URLs are returned unchanged.
func resolveFileURL(u, base string) string {
	rest, ok := strings.CutPrefix(u, "file:")
	if !ok {
		return u
	}
	if r, ok := strings.CutPrefix(rest, "//"); ok {
		if r != "." && r != ".." && !strings.HasPrefix(r, "./") && !strings.HasPrefix(r, "../") {
			return u // file:///abs or file://host/...
		}
		rest = r
	}
	if strings.HasPrefix(rest, "/") {
		return u
	}
	rel, err := url.PathUnescape(rest)
	if err != nil {
		return u // left for validation to reject
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(base, rel))}).String()
}

// resolveOutputURL resolves an output file container URL: relative file
// URLs as resolveFileURL does, and plain relative paths (no scheme), against
// base, the data directory.
func resolveOutputURL(u, base string) string {
	if strings.Contains(u, "://") || strings.HasPrefix(u, "file:") {
		return resolveFileURL(u, base)
	}
	if u == "" || filepath.IsAbs(u) {
		return u
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(base, u))}).String()
}
