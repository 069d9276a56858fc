package node

import (
	"fmt"
	"path"
	"strings"
)

// Layout is Azure Batch's directory layout under one node root (Azure's
// AZ_BATCH_NODE_ROOT_DIR):
//
//	<root>/shared/                                  AZ_BATCH_NODE_SHARED_DIR
//	<root>/startup/{stdout.txt,stderr.txt,wd/}      the start task's directory
//	<root>/workitems/{job}/job-1/{task}/{stdout.txt,stderr.txt,wd/}
//	<root>/workitems/{job}/job-1/jobpreparation/    the job preparation task
//	<root>/workitems/{job}/job-1/jobrelease/        the job release task
//
// Layout computes paths only; it never touches a file system, so a backend
// can use it for a remote host as well as a local one. Paths use '/'
// separators (nodes are POSIX hosts) and are as absolute as Root is.
//
// Ids are joined into paths as they are: callers must pass valid Azure ids
// (task.ValidateID), which cannot contain '/' or be "..".
type Layout struct {
	// Root is the node root directory.
	Root string
}

// Names of the files and directories of the layout.
const (
	// StdoutFile and StderrFile receive a command's standard output and
	// error, in its task directory.
	StdoutFile = "stdout.txt"
	StderrFile = "stderr.txt"
	// CoordinationStdoutFile and CoordinationStderrFile receive a
	// multi-instance task's coordination command output, in the task
	// directory of each instance's node. Azure does not document where this
	// output goes; embatch keeps it apart from the main command's.
	CoordinationStdoutFile = "coordination-stdout.txt"
	CoordinationStderrFile = "coordination-stderr.txt"
	// FileUploadOutFile and FileUploadErrFile are the output-file upload
	// logs written in the task directory, as Azure's node agent does.
	FileUploadOutFile = "fileuploadout.txt"
	FileUploadErrFile = "fileuploaderr.txt"
	// WorkingDirName is the working directory inside a task directory.
	WorkingDirName = "wd"
	// JobPreparationDirName and JobReleaseDirName are the task directory
	// names of a job's preparation and release tasks, whatever their ids.
	JobPreparationDirName = "jobpreparation"
	JobReleaseDirName     = "jobrelease"
	// jobRunDirName is the "job-1" level of every Azure example path; Azure
	// does not document its meaning.
	jobRunDirName = "job-1"
)

// SharedDir is <root>/shared, readable and writable by every task on the
// node.
func (l Layout) SharedDir() string { return path.Join(l.Root, "shared") }

// StartupDir is <root>/startup, the start task's directory.
func (l Layout) StartupDir() string { return path.Join(l.Root, "startup") }

// WorkItemsDir is <root>/workitems, which holds one directory per job.
func (l Layout) WorkItemsDir() string { return path.Join(l.Root, "workitems") }

// JobDir is <root>/workitems/{job}/job-1, which holds the job's task
// directories on this node.
func (l Layout) JobDir(jobID string) string {
	return path.Join(l.WorkItemsDir(), jobID, jobRunDirName)
}

// TaskDir is the directory of task taskID of job jobID:
// <root>/workitems/{job}/job-1/{task}. An empty jobID names the start task's
// directory, <root>/startup, so that callers can address start task files
// the way they address task files.
func (l Layout) TaskDir(jobID, taskID string) string {
	if jobID == "" {
		return l.StartupDir()
	}
	return path.Join(l.JobDir(jobID), taskID)
}

// JobPreparationDir is the job preparation task's directory,
// <root>/workitems/{job}/job-1/jobpreparation.
func (l Layout) JobPreparationDir(jobID string) string {
	return path.Join(l.JobDir(jobID), JobPreparationDirName)
}

// JobReleaseDir is the job release task's directory,
// <root>/workitems/{job}/job-1/jobrelease.
func (l Layout) JobReleaseDir(jobID string) string {
	return path.Join(l.JobDir(jobID), JobReleaseDirName)
}

// AttemptDir is the task directory an attempt runs in: the startup dir for a
// start task, the jobpreparation or jobrelease dir for those kinds, and the
// task's own directory otherwise.
func (l Layout) AttemptDir(a *Attempt) string {
	switch a.Kind {
	case KindStartTask:
		return l.StartupDir()
	case KindJobPreparation:
		return l.JobPreparationDir(a.JobID)
	case KindJobRelease:
		return l.JobReleaseDir(a.JobID)
	default:
		return l.TaskDir(a.JobID, a.TaskID)
	}
}

// WorkingDir is a task directory's working directory, taskDir/wd, where the
// command runs and resource files land.
func WorkingDir(taskDir string) string { return path.Join(taskDir, WorkingDirName) }

// SafeJoin joins name, a '/'-separated path relative to dir, onto dir, and
// rejects names that would leave dir: absolute names, names with a ".."
// element that climbs above dir, empty names and names containing NUL. It
// is purely lexical; symbolic links that point out of dir must be caught by
// the caller when it opens the file (the local backend uses os.Root).
func SafeJoin(dir, name string) (string, error) {
	clean, err := CleanRelative(name)
	if err != nil {
		return "", err
	}
	if clean == "." {
		return dir, nil
	}
	return path.Join(dir, clean), nil
}

// CleanRelative cleans name, a '/'-separated path meant to stay inside some
// directory, and returns it without a leading "./"; "." means the directory
// itself. It fails for empty and absolute names, names containing NUL, and
// names whose ".." elements climb out of the directory.
func CleanRelative(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("empty file name")
	case strings.IndexByte(name, 0) >= 0:
		return "", fmt.Errorf("file name %q contains NUL", name)
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("file name %q is absolute; want a path relative to the task directory", name)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("file name %q escapes the task directory", name)
	}
	return clean, nil
}
