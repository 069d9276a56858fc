package task

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// MaxIDLength is Azure's limit on job, task, pool and node ids.
const MaxIDLength = 64

// maxJobReleaseWallClockTime is the default and the largest allowed
// jobReleaseTask.maxWallClockTime, as in Azure.
const maxJobReleaseWallClockTime = Duration(15 * time.Minute)

// MaxDisplayNameLength is Azure's limit on display names, in characters.
const MaxDisplayNameLength = 1024

// ValidateID checks an Azure id: 1 to 64 characters, each a letter, digit,
// hyphen or underscore. field names the property in the error.
func ValidateID(field, id string) error {
	if id == "" {
		return Missing(field)
	}
	if len(id) > MaxIDLength {
		return Invalid(field, id, "ids are at most %d characters (this one has %d)", MaxIDLength, len(id))
	}
	pos := 0 // in characters, not bytes, so that the message is right for non-ASCII ids
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return Invalid(field, id, "ids may contain only letters, digits, '-' and '_' (found %q at position %d)", c, pos)
		}
		pos++
	}
	return nil
}

// FoldID returns the key under which an id is unique: ids are case-preserving
// but unique ignoring case. Ids are ASCII, so ASCII folding is exact.
func FoldID(id string) string {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(id)
		}
	}
	return id
}

func validateDisplayName(field, s string) error {
	if r := []rune(s); len(r) > MaxDisplayNameLength {
		// Cut on a character boundary so that the value stays valid UTF-8.
		return Invalid(field, string(r[:32])+"...", "display names are at most %d characters (this one has %d)", MaxDisplayNameLength, len(r))
	}
	return nil
}

func validateRetryCount(field string, n int) error {
	if n < -1 {
		return Invalid(field, n, "must be -1 (unlimited), 0 or more")
	}
	return nil
}

func validateDuration(field string, d *Duration) error {
	if d != nil && *d < 0 {
		return Invalid(field, d.String(), "must not be negative")
	}
	return nil
}

func validateEnv(field string, env []EnvironmentSetting) error {
	seen := make(map[string]bool, len(env))
	for i, e := range env {
		f := fmt.Sprintf("%s[%d].name", field, i)
		if e.Name == "" {
			return Missing(f)
		}
		if strings.ContainsAny(e.Name, "=\x00") {
			return Invalid(f, e.Name, "environment variable names may not contain '=' or NUL")
		}
		if seen[e.Name] {
			return Invalid(f, e.Name, "environment variable is set twice")
		}
		if strings.ContainsRune(e.Value, 0) {
			return Invalid(fmt.Sprintf("%s[%d].value", field, i), e.Value, "environment variable values may not contain NUL")
		}
		seen[e.Name] = true
	}
	return nil
}

func validateMetadata(field string, md []MetadataItem) error {
	for i, m := range md {
		if m.Name == "" {
			return Missing(fmt.Sprintf("%s[%d].name", field, i))
		}
	}
	return nil
}

// Validate checks a job spec against Azure's rules. The error names the field
// and value at fault.
func (j *JobSpec) Validate() error {
	if err := ValidateID("id", j.ID); err != nil {
		return err
	}
	if err := validateDisplayName("displayName", j.DisplayName); err != nil {
		return err
	}
	if j.Priority < -1000 || j.Priority > 1000 {
		return Invalid("priority", j.Priority, "must be between -1000 and 1000")
	}
	if p := j.MaxParallelTasks; p != nil && *p != -1 && *p < 1 {
		return Invalid("maxParallelTasks", *p, "must be -1 (unlimited) or at least 1")
	}
	if c := j.Constraints; c != nil {
		if err := validateDuration("constraints.maxWallClockTime", c.MaxWallClockTime); err != nil {
			return err
		}
		if err := validateRetryCount("constraints.maxTaskRetryCount", c.MaxTaskRetryCount); err != nil {
			return err
		}
	}
	pi := j.PoolInfo
	switch {
	case pi.PoolID != "" && pi.AutoPoolSpecification != nil:
		return Invalid("poolInfo", "poolId+autoPoolSpecification", "set exactly one of poolId and autoPoolSpecification")
	case pi.PoolID == "" && pi.AutoPoolSpecification == nil:
		return Missing("poolInfo.poolId")
	case pi.PoolID != "":
		if err := ValidateID("poolInfo.poolId", pi.PoolID); err != nil {
			return err
		}
	default:
		ap := pi.AutoPoolSpecification
		if len(ap.AutoPoolIDPrefix) > 20 {
			return Invalid("poolInfo.autoPoolSpecification.autoPoolIdPrefix", ap.AutoPoolIDPrefix, "at most 20 characters")
		}
		switch ap.PoolLifetimeOption {
		case "", "job", "jobschedule":
		default:
			return Invalid("poolInfo.autoPoolSpecification.poolLifetimeOption", ap.PoolLifetimeOption, "want job or jobschedule")
		}
		if len(ap.Pool) == 0 {
			return Missing("poolInfo.autoPoolSpecification.pool")
		}
	}
	switch j.OnAllTasksComplete {
	case "", OnAllTasksCompleteNoAction, OnAllTasksCompleteTerminateJob:
	default:
		return Invalid("onAllTasksComplete", j.OnAllTasksComplete, "want noaction or terminatejob")
	}
	switch j.OnTaskFailure {
	case "", OnTaskFailureNoAction, OnTaskFailurePerformExitOptionsJobAction:
	default:
		return Invalid("onTaskFailure", j.OnTaskFailure, "want noaction or performexitoptionsjobaction")
	}
	if err := validateEnv("commonEnvironmentSettings", j.CommonEnvironmentSettings); err != nil {
		return err
	}
	if err := validateMetadata("metadata", j.Metadata); err != nil {
		return err
	}
	if err := j.validateJobManager(); err != nil {
		return err
	}
	if p := j.JobPreparationTask; p != nil {
		if p.ID != "" {
			if err := ValidateID("jobPreparationTask.id", p.ID); err != nil {
				return err
			}
		}
		if strings.TrimSpace(p.CommandLine) == "" {
			return Missing("jobPreparationTask.commandLine")
		}
		if err := validateEnv("jobPreparationTask.environmentSettings", p.EnvironmentSettings); err != nil {
			return err
		}
		if err := validateResourceFiles("jobPreparationTask.resourceFiles", p.ResourceFiles); err != nil {
			return err
		}
		if c := p.Constraints; c != nil {
			if err := validateTaskConstraints("jobPreparationTask.constraints", c); err != nil {
				return err
			}
		}
	}
	if r := j.JobReleaseTask; r != nil {
		if j.JobPreparationTask == nil {
			return Invalid("jobReleaseTask", "set", "a job release task needs a job preparation task")
		}
		if r.ID != "" {
			if err := ValidateID("jobReleaseTask.id", r.ID); err != nil {
				return err
			}
		}
		if strings.TrimSpace(r.CommandLine) == "" {
			return Missing("jobReleaseTask.commandLine")
		}
		if err := validateEnv("jobReleaseTask.environmentSettings", r.EnvironmentSettings); err != nil {
			return err
		}
		if err := validateResourceFiles("jobReleaseTask.resourceFiles", r.ResourceFiles); err != nil {
			return err
		}
		if err := validateDuration("jobReleaseTask.maxWallClockTime", r.MaxWallClockTime); err != nil {
			return err
		}
		if d := r.MaxWallClockTime; d != nil && *d > maxJobReleaseWallClockTime {
			return Invalid("jobReleaseTask.maxWallClockTime", d.String(), "at most %s (15 minutes), as in Azure", maxJobReleaseWallClockTime)
		}
		if err := validateDuration("jobReleaseTask.retentionTime", r.RetentionTime); err != nil {
			return err
		}
	}
	return nil
}

func validateTaskConstraints(field string, c *TaskConstraints) error {
	// Field names are built only for an error: this runs for every task
	// added.
	if d := c.MaxWallClockTime; d != nil && *d < 0 {
		return validateDuration(field+".maxWallClockTime", d)
	}
	if d := c.RetentionTime; d != nil && *d < 0 {
		return validateDuration(field+".retentionTime", d)
	}
	if c.MaxTaskRetryCount != nil {
		if err := validateRetryCount(field+".maxTaskRetryCount", *c.MaxTaskRetryCount); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks a task spec against Azure's rules and its job's settings
// (job may be nil when the job is not known yet; then job-dependent rules are
// skipped). It does not check that dependency targets exist: that needs the
// job's other tasks, which the scheduler has.
func (t *TaskSpec) Validate(job *JobSpec) error {
	if err := ValidateID("id", t.ID); err != nil {
		return err
	}
	if err := validateDisplayName("displayName", t.DisplayName); err != nil {
		return err
	}
	if strings.TrimSpace(t.CommandLine) == "" {
		return Missing("commandLine")
	}
	if err := validateEnv("environmentSettings", t.EnvironmentSettings); err != nil {
		return err
	}
	if t.RequiredSlots != nil && *t.RequiredSlots < 1 {
		return Invalid("requiredSlots", *t.RequiredSlots, "must be at least 1")
	}
	if c := t.Constraints; c != nil {
		if err := validateTaskConstraints("constraints", c); err != nil {
			return err
		}
	}
	if a := t.AffinityInfo; a != nil && a.AffinityID == "" {
		return Missing("affinityInfo.affinityId")
	}
	if d := t.DependsOn; d != nil && (len(d.TaskIDs) > 0 || len(d.TaskIDRanges) > 0) {
		if job != nil && !job.UsesTaskDependencies {
			return Errorf(CodeTaskDependenciesNotAllowed, "dependsOn", nil, "job %q does not set usesTaskDependencies", job.ID)
		}
		total := 0
		for i, id := range d.TaskIDs {
			if err := ValidateID(fmt.Sprintf("dependsOn.taskIds[%d]", i), id); err != nil {
				return err
			}
			if FoldID(id) == FoldID(t.ID) {
				return Invalid(fmt.Sprintf("dependsOn.taskIds[%d]", i), id, "a task cannot depend on itself")
			}
			total += len(id)
		}
		if total > 64000 {
			return Errorf("TaskDependencyListTooLong", "dependsOn.taskIds", len(d.TaskIDs), "the ids add up to %d characters; at most 64000", total)
		}
		for i, r := range d.TaskIDRanges {
			f := fmt.Sprintf("dependsOn.taskIdRanges[%d]", i)
			if r.Start < 0 {
				return Invalid(f+".start", r.Start, "must be 0 or more")
			}
			if r.End < r.Start {
				return Invalid(f+".end", r.End, "must be at least start (%d)", r.Start)
			}
			if n, err := strconv.Atoi(t.ID); err == nil && n >= r.Start && n <= r.End {
				return Invalid(f, fmt.Sprintf("%d-%d", r.Start, r.End), "the range includes the task itself")
			}
		}
	}
	if ec := t.ExitConditions; ec != nil {
		if err := ec.validate("exitConditions", job); err != nil {
			return err
		}
	}
	if m := t.MultiInstanceSettings; m != nil {
		if m.NumberOfInstances < 0 {
			return Invalid("multiInstanceSettings.numberOfInstances", m.NumberOfInstances, "must be at least 1")
		}
		if m.Instances() > 1 && strings.TrimSpace(m.CoordinationCommandLine) == "" {
			return Missing("multiInstanceSettings.coordinationCommandLine")
		}
		if t.Slots() != 1 {
			return Invalid("requiredSlots", t.Slots(), "multi-instance tasks must require 1 slot")
		}
		if err := validateResourceFiles("multiInstanceSettings.commonResourceFiles", m.CommonResourceFiles); err != nil {
			return err
		}
	}
	if err := validateResourceFiles("resourceFiles", t.ResourceFiles); err != nil {
		return err
	}
	for i, o := range t.OutputFiles {
		f := fmt.Sprintf("outputFiles[%d]", i)
		if o.FilePattern == "" {
			return Missing(f + ".filePattern")
		}
		if _, err := path.Match(o.FilePattern, ""); err != nil {
			return Invalid(f+".filePattern", o.FilePattern, "bad pattern: %v", err)
		}
		if o.Destination.Container == nil || o.Destination.Container.ContainerURL == "" {
			return Missing(f + ".destination.container.containerUrl")
		}
		switch o.UploadOptions.UploadCondition {
		case "", UploadOnTaskSuccess, UploadOnTaskFailure, UploadOnTaskCompletion:
		default:
			return Invalid(f+".uploadOptions.uploadCondition", o.UploadOptions.UploadCondition, "want tasksuccess, taskfailure or taskcompletion")
		}
	}
	return nil
}

func validateResourceFiles(field string, rfs []ResourceFile) error {
	for i, rf := range rfs {
		f := fmt.Sprintf("%s[%d]", field, i)
		n := 0
		for _, s := range []string{rf.HTTPURL, rf.StorageContainerURL} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			return Invalid(f, "", "set exactly one of httpUrl and storageContainerUrl")
		}
		if rf.HTTPURL != "" {
			u, err := url.Parse(rf.HTTPURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
				return Invalid(f+".httpUrl", rf.HTTPURL, "want an http, https or file URL")
			}
			if rf.FilePath == "" {
				return Missing(f + ".filePath")
			}
			if rf.BlobPrefix != "" {
				return Invalid(f+".blobPrefix", rf.BlobPrefix, "blobPrefix applies only to storageContainerUrl")
			}
		}
		if rf.StorageContainerURL != "" {
			u, err := url.Parse(rf.StorageContainerURL)
			if err != nil || u.Scheme != "file" {
				return Invalid(f+".storageContainerUrl", rf.StorageContainerURL, "only file:// container URLs are supported by embatch")
			}
		}
		if rf.FilePath != "" {
			// Treat '\' as a separator too: Azure accepts both on Windows nodes,
			// and a path that escapes on any node must be rejected everywhere.
			p := path.Clean(strings.ReplaceAll(rf.FilePath, `\`, "/"))
			if path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") || hasVolumeName(p) {
				return Invalid(f+".filePath", rf.FilePath, "must stay inside the task working directory")
			}
			if p == "." && rf.HTTPURL != "" {
				return Invalid(f+".filePath", rf.FilePath, "must name a file inside the task working directory")
			}
		}
		if rf.FileMode != "" {
			if m, err := strconv.ParseUint(rf.FileMode, 8, 32); err != nil || m > 0o7777 {
				return Invalid(f+".fileMode", rf.FileMode, "want an octal mode such as 0755")
			}
		}
	}
	return nil
}

func (o ExitOptions) validate(field string, job *JobSpec) error {
	switch o.JobAction {
	case "", JobActionNone:
	case JobActionDisable, JobActionTerminate:
		if job != nil && job.OnTaskFailure != OnTaskFailurePerformExitOptionsJobAction {
			return Invalid(field+".jobAction", o.JobAction, "job actions need the job's onTaskFailure to be performexitoptionsjobaction")
		}
	default:
		return Invalid(field+".jobAction", o.JobAction, "want none, disable or terminate")
	}
	switch o.DependencyAction {
	case "", DependencyActionSatisfy, DependencyActionBlock:
	default:
		return Invalid(field+".dependencyAction", o.DependencyAction, "want satisfy or block")
	}
	return nil
}

func (ec *ExitConditions) validate(field string, job *JobSpec) error {
	for i, m := range ec.ExitCodes {
		if err := m.ExitOptions.validate(fmt.Sprintf("%s.exitCodes[%d].exitOptions", field, i), job); err != nil {
			return err
		}
	}
	for i, r := range ec.ExitCodeRanges {
		f := fmt.Sprintf("%s.exitCodeRanges[%d]", field, i)
		if r.End < r.Start {
			return Invalid(f+".end", r.End, "must be at least start (%d)", r.Start)
		}
		if err := r.ExitOptions.validate(f+".exitOptions", job); err != nil {
			return err
		}
	}
	named := []struct {
		name string
		o    *ExitOptions
	}{{"preProcessingError", ec.PreProcessingError}, {"fileUploadError", ec.FileUploadError}, {"default", ec.Default}}
	for _, n := range named {
		if n.o != nil {
			if err := n.o.validate(field+"."+n.name, job); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasVolumeName reports whether p starts with a Windows drive letter ("C:").
func hasVolumeName(p string) bool {
	return len(p) >= 2 && p[1] == ':' && (p[0] >= 'a' && p[0] <= 'z' || p[0] >= 'A' && p[0] <= 'Z')
}
