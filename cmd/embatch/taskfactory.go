package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/embatch/embatch/task"
)

// Task factory types, as in the Azure Batch CLI extensions' job templates.
const (
	factoryTaskCollection  = "taskCollection"
	factoryParametricSweep = "parametricSweep"
	factoryTaskPerFile     = "taskPerFile"
)

// maxFactoryTasks bounds how many tasks one task factory may generate, so
// that a typo in a parameter set does not exhaust memory.
const maxFactoryTasks = 1_000_000

// defaultMergeTaskID is the id of a task factory's merge task when it sets
// none, as in the Azure Batch CLI extensions.
const defaultMergeTaskID = "merge"

// taskFactory generates a job's tasks (the Azure Batch CLI extensions'
// "taskFactory" of a job template).
type taskFactory struct {
	// Type is taskCollection, parametricSweep or taskPerFile.
	Type string `json:"type"`
	// Tasks are the tasks of a taskCollection factory.
	Tasks []task.TaskSpec `json:"tasks,omitempty"`
	// ParameterSets are the ranges of a parametricSweep: one task per
	// combination of their values.
	ParameterSets []parameterSet `json:"parameterSets,omitempty"`
	// Source lists the files of a taskPerFile factory.
	Source *fileSource `json:"source,omitempty"`
	// RepeatTask is the template of a parametricSweep or taskPerFile task.
	// It stays raw JSON because its strings hold placeholders, substituted
	// before it is decoded as a task.TaskSpec.
	RepeatTask json.RawMessage `json:"repeatTask,omitempty"`
	// MergeTask, if set, runs after every generated task has succeeded.
	MergeTask *task.TaskSpec `json:"mergeTask,omitempty"`
}

// parameterSet is one dimension of a parametric sweep: the values start,
// start+step, ... up to end inclusive. Step defaults to 1, may be negative
// when end < start, and may not be 0.
type parameterSet struct {
	Start *int `json:"start"`
	End   *int `json:"end"`
	Step  *int `json:"step,omitempty"`
}

// fileSource says which files a taskPerFile factory makes tasks for. Azure
// names a file group or a storage container; embatch reads a local
// directory instead.
type fileSource struct {
	// Path is the directory, relative to the job file's directory unless
	// absolute.
	Path string `json:"path,omitempty"`
	// Prefix keeps the files whose path relative to Path starts with it
	// (Azure's blob prefix: a partial name or a subdirectory).
	Prefix string `json:"prefix,omitempty"`
	// Pattern keeps the files whose path relative to Path matches it:
	// '*' and '?' within a name, '**' across directories, '{a,b}'
	// alternatives. Default "**", every file.
	Pattern string `json:"pattern,omitempty"`
	// FileGroup and ContainerURL are Azure's sources; embatch rejects them
	// with a pointer to Path.
	FileGroup    string `json:"fileGroup,omitempty"`
	ContainerURL string `json:"containerUrl,omitempty"`
}

// generated is a task made by a task factory, with where it came from.
type generated struct {
	spec task.TaskSpec
	// origin is the JSON path of what it was made from, relative to the
	// factory: "repeatTask", "mergeTask" or "tasks[i]".
	origin string
}

// expandFactory returns the tasks of the task factory f, whose JSON is v at
// path. baseDir resolves a relative taskPerFile source path.
func expandFactory(f *taskFactory, v *jsonValue, path, baseDir string) ([]generated, error) {
	bad := func(field string, format string, args ...any) error {
		at, _ := v.lookup(field)
		e := &inputError{Offset: at.off, Path: joinPath(path, field), Msg: fmt.Sprintf(format, args...)}
		if at != v {
			e.Value = at.shown()
		}
		return e
	}
	present := func(fields ...string) string {
		for _, f := range fields {
			if v.field(f) != nil {
				return f
			}
		}
		return ""
	}
	var out []generated
	switch f.Type {
	case factoryTaskCollection:
		if p := present("parameterSets", "source", "repeatTask", "mergeTask"); p != "" {
			return nil, bad(p, "not used by a %s task factory", f.Type)
		}
		for i, t := range f.Tasks {
			out = append(out, generated{spec: t, origin: indexPath("tasks", i)})
		}
		return out, nil
	case factoryParametricSweep:
		if p := present("tasks", "source"); p != "" {
			return nil, bad(p, "not used by a %s task factory", f.Type)
		}
		if len(f.ParameterSets) == 0 {
			return nil, bad("parameterSets", "a parametricSweep needs at least one parameter set")
		}
		values := make([][]int, len(f.ParameterSets))
		total := 1
		for i, ps := range f.ParameterSets {
			vals, err := ps.values(maxFactoryTasks)
			if err != nil {
				return nil, bad(indexPath("parameterSets", i), "%v", err)
			}
			values[i] = vals
			total *= len(vals)
			if total > maxFactoryTasks {
				return nil, bad("parameterSets", "the sweep makes more than %d tasks", maxFactoryTasks)
			}
		}
		repeat, err := repeatTemplate(v, path)
		if err != nil {
			return nil, err
		}
		for i := range total {
			combo := sweepCombination(values, i)
			t, err := instantiate(repeat, joinPath(path, "repeatTask"), strconv.Itoa(i), func(s string) (string, error) {
				return substitute(s, func(name string) (string, error) { return sweepValue(name, combo) })
			})
			if err != nil {
				return nil, err
			}
			out = append(out, generated{spec: t, origin: "repeatTask"})
		}
	case factoryTaskPerFile:
		if p := present("tasks", "parameterSets"); p != "" {
			return nil, bad(p, "not used by a %s task factory", f.Type)
		}
		if f.Source == nil {
			return nil, bad("source", "a taskPerFile factory needs a source, such as {\"path\": \"inputs\", \"pattern\": \"*.txt\"}")
		}
		files, err := f.Source.list(baseDir)
		if err != nil {
			return nil, bad("source", "%v", err)
		}
		repeat, err := repeatTemplate(v, path)
		if err != nil {
			return nil, err
		}
		for i, file := range files {
			t, err := instantiate(repeat, joinPath(path, "repeatTask"), strconv.Itoa(i), func(s string) (string, error) {
				return substitute(s, file.value)
			})
			if err != nil {
				return nil, err
			}
			out = append(out, generated{spec: t, origin: "repeatTask"})
		}
	case "":
		return nil, bad("type", "missing; want %s, %s or %s", factoryTaskCollection, factoryParametricSweep, factoryTaskPerFile)
	default:
		return nil, bad("type", "unknown task factory type; want %s, %s or %s", factoryTaskCollection, factoryParametricSweep, factoryTaskPerFile)
	}
	if m := f.MergeTask; m != nil {
		if m.DependsOn != nil {
			return nil, bad("mergeTask.dependsOn", "the merge task depends on every generated task; leave dependsOn out")
		}
		mt := *m
		if mt.ID == "" {
			mt.ID = defaultMergeTaskID
		}
		mt.DependsOn = &task.TaskDependencies{TaskIDRanges: []task.TaskIDRange{{Start: 0, End: len(out) - 1}}}
		out = append(out, generated{spec: mt, origin: "mergeTask"})
	}
	return out, nil
}

// repeatTemplate returns the factory's repeatTask, checking what can be
// checked before substitution.
func repeatTemplate(v *jsonValue, path string) (*jsonValue, error) {
	rt := v.field("repeatTask")
	if rt == nil || rt.kind == kindNull {
		return nil, &inputError{Offset: v.off, Path: joinPath(path, "repeatTask"), Msg: "missing: the task template to repeat"}
	}
	if rt.kind != kindObject {
		return nil, &inputError{Offset: rt.off, Path: joinPath(path, "repeatTask"), Value: rt.shown(), Msg: "want an object, got " + rt.kind.String()}
	}
	for _, k := range []string{"id", "dependsOn"} {
		if f := rt.field(k); f != nil {
			return nil, &inputError{Offset: f.off, Path: joinPath(path, "repeatTask."+k), Value: f.shown(),
				Msg: "not allowed in a repeatTask: the factory sets it (ids are 0, 1, 2, ...)"}
		}
	}
	return rt, nil
}

// instantiate makes the task with the given id from the template at path,
// applying subst to every string in it.
func instantiate(tmpl *jsonValue, path, id string, subst func(string) (string, error)) (task.TaskSpec, error) {
	var t task.TaskSpec
	v, err := tmpl.mapStrings(path, func(p, s string) (string, error) {
		out, err := subst(s)
		if err != nil {
			at, _ := tmpl.lookup(strings.TrimPrefix(strings.TrimPrefix(p, path), "."))
			return "", &inputError{Offset: at.off, Path: p, Value: strconv.Quote(s), Msg: err.Error()}
		}
		return out, nil
	})
	if err != nil {
		return t, err
	}
	if err := decodeStrict(v, &t, path); err != nil {
		if ie, ok := err.(*inputError); ok {
			ie.Msg += fmt.Sprintf(" (in task %q made by the task factory)", id)
		}
		return t, err
	}
	t.ID = id
	return t, nil
}

// values returns the values of the set, or an error if it is malformed or
// has more than limit values.
func (p parameterSet) values(limit int) ([]int, error) {
	if p.Start == nil || p.End == nil {
		return nil, fmt.Errorf("start and end are required")
	}
	start, end, step := *p.Start, *p.End, 1
	if p.Step != nil {
		step = *p.Step
	}
	switch {
	case step == 0:
		return nil, fmt.Errorf("step cannot be 0")
	case start > end && step > 0:
		return nil, fmt.Errorf("step must be negative when start (%d) is greater than end (%d)", start, end)
	case start < end && step < 0:
		return nil, fmt.Errorf("step must be positive when start (%d) is less than end (%d)", start, end)
	}
	n := (end-start)/step + 1
	if n > limit {
		return nil, fmt.Errorf("the set has %d values; at most %d", n, limit)
	}
	out := make([]int, n)
	for i := range out {
		out[i] = start + i*step
	}
	return out, nil
}

// sweepCombination returns the i-th combination of values, the last set
// varying fastest (the order of Python's itertools.product, which the Azure
// Batch CLI extensions use).
func sweepCombination(values [][]int, i int) []int {
	combo := make([]int, len(values))
	for k := len(values) - 1; k >= 0; k-- {
		n := len(values[k])
		combo[k] = values[k][i%n]
		i /= n
	}
	return combo
}

// sweepValue resolves a parametric sweep placeholder: "0" is the value of
// parameter set 0, "0:4" the same zero-padded to 4 digits (1 to 9).
func sweepValue(name string, combo []int) (string, error) {
	idx, pad, padded := strings.Cut(name, ":")
	n, err := strconv.Atoi(idx)
	if err != nil || n < 0 || strconv.Itoa(n) != idx {
		return "", fmt.Errorf("unknown placeholder {%s}: want {0}, {1}, ... or {0:4} (write {{ and }} for literal braces)", name)
	}
	if n >= len(combo) {
		return "", fmt.Errorf("placeholder {%s} names parameter set %d, but there are only %d", name, n, len(combo))
	}
	v := combo[n]
	if !padded {
		return strconv.Itoa(v), nil
	}
	width, err := strconv.Atoi(pad)
	if err != nil || width < 1 || width > 9 {
		return "", fmt.Errorf("placeholder {%s}: the padding must be a number from 1 to 9", name)
	}
	if v < 0 {
		return "", fmt.Errorf("placeholder {%s}: the value %d is negative and cannot be zero-padded", name, v)
	}
	return fmt.Sprintf("%0*d", width, v), nil
}

// substitute replaces the placeholders in s as the Azure Batch CLI
// extensions' task factories do: "{name}" becomes lookup(name), "{{" and
// "}}" become literal braces, and any other brace is an error.
func substitute(s string, lookup func(name string) (string, error)) (string, error) {
	if !strings.ContainsAny(s, "{}") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '{' && strings.HasPrefix(s[i:], "{{"):
			b.WriteByte('{')
			i += 2
		case c == '}' && strings.HasPrefix(s[i:], "}}"):
			b.WriteByte('}')
			i += 2
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed '{' at byte %d (write {{ for a literal brace)", i)
			}
			val, err := lookup(s[i+1 : i+end])
			if err != nil {
				return "", err
			}
			b.WriteString(val)
			i += end + 1
		case c == '}':
			return "", fmt.Errorf("unmatched '}' at byte %d (write }} for a literal brace)", i)
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// sourceFile is one file of a taskPerFile source.
type sourceFile struct {
	// rel is the path relative to the source directory, '/'-separated.
	rel string
	// abs is the absolute path on this machine.
	abs string
}

// filePlaceholders lists the taskPerFile placeholders, for error messages.
const filePlaceholders = "{url}, {filePath}, {fileName}, {fileNameWithoutExtension}, {fullName} or {fullNameWithoutExtension}"

// value resolves a taskPerFile placeholder for the file.
func (f sourceFile) value(name string) (string, error) {
	switch name {
	case "url":
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(f.abs)}).String(), nil
	case "filePath":
		return f.rel, nil
	case "fileName":
		return path.Base(f.rel), nil
	case "fileNameWithoutExtension":
		base := path.Base(f.rel)
		return strings.TrimSuffix(base, path.Ext(base)), nil
	case "fullName":
		return f.abs, nil
	case "fullNameWithoutExtension":
		return strings.TrimSuffix(f.abs, filepath.Ext(f.abs)), nil
	}
	return "", fmt.Errorf("unknown placeholder {%s}: want %s (write {{ and }} for literal braces)", name, filePlaceholders)
}

// list returns the regular files of the source, sorted by relative path,
// leaving out hidden files and directories (names starting with '.').
// An empty list is an error: a job of no tasks is most likely a mistake.
func (s *fileSource) list(baseDir string) ([]sourceFile, error) {
	switch {
	case s.FileGroup != "" || s.ContainerURL != "":
		return nil, fmt.Errorf("fileGroup and containerUrl name Azure Storage; embatch reads a local directory: use \"path\"")
	case s.Path == "":
		return nil, fmt.Errorf("path is required: the directory whose files become tasks")
	}
	dir := s.Path
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(baseDir, dir)
	}
	pattern := s.Pattern
	if pattern == "" {
		pattern = "**"
	}
	if !doublestar.ValidatePattern(pattern) {
		return nil, fmt.Errorf("pattern %q is not a valid pattern", pattern)
	}
	var out []sourceFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // hidden: .git, .DS_Store and the like are not input
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, s.Prefix) {
			return nil
		}
		if ok, _ := doublestar.Match(pattern, rel); !ok {
			return nil
		}
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return nil // a dangling link or a special file is not input
		}
		out = append(out, sourceFile{rel: rel, abs: p})
		if len(out) > maxFactoryTasks {
			return fmt.Errorf("more than %d files", maxFactoryTasks)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no file in %s matches prefix %q and pattern %q", dir, s.Prefix, pattern)
	}
	slices.SortFunc(out, func(a, b sourceFile) int { return strings.Compare(a.rel, b.rel) })
	return out, nil
}
