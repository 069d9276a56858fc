package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/task"
)

// Resuming. The account lives in <data>/account (engine.WithDataDir), so
// running the same command again after a crash continues where it
// stopped: pools and jobs already there are kept, only the tasks that are
// missing are added, and completed tasks never run again. Each job added
// by embatch records, in its metadata, a hash of the job as the job file
// defined it (the job and its tasks, as canonical JSON); a job file that
// defines a job differently is an error, unless --replace says to delete
// the old job and start it over.

// accountDir is where the account's store lives under the data directory.
func accountDir(dataDir string) string { return filepath.Join(dataDir, "account") }

// jobHashKey is the metadata item holding the job file's hash.
const jobHashKey = "embatch.jobFileHash"

// jobFileHash hashes a planned job: its spec and tasks as canonical JSON
// (Go's encoding of the structs: fixed field order, no whitespace).
func jobFileHash(j *plannedJob) (string, error) {
	b, err := json.Marshal(struct {
		Job   task.JobSpec    `json:"job"`
		Tasks []task.TaskSpec `json:"tasks"`
	}{j.Spec, j.Tasks})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// storedHash is the job file hash recorded with a job ("" if none).
func storedHash(j task.Job) string {
	for _, m := range j.Metadata {
		if m.Name == jobHashKey {
			return m.Value
		}
	}
	return ""
}

// checkResume compares the plan's jobs with those already in the account,
// before anything starts: a job defined differently is an error unless
// replace is set, and then it is deleted.
func checkResume(ctx context.Context, acct *engine.Account, p *plan, replace bool) error {
	for _, j := range p.Jobs {
		have, err := acct.GetJob(ctx, j.Spec.ID)
		if errors.Is(err, engine.ErrJobNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		want, err := jobFileHash(j)
		if err != nil {
			return err
		}
		if storedHash(have) == want {
			continue
		}
		if !replace {
			return fmt.Errorf("job %s is already in the data directory, from a different job file (or a different version of it); run with --replace to delete it and start it over, or use another --data directory", j.Spec.ID)
		}
		if err := acct.DeleteJob(ctx, j.Spec.ID); err != nil {
			return fmt.Errorf("replacing job %s: %w", j.Spec.ID, err)
		}
	}
	return nil
}

// addOrResumeJob adds a job and its tasks, or, if an earlier run left the
// same job in the account, adds only the tasks it is missing. It reports
// whether the job was resumed.
func (x *execution) addOrResumeJob(ctx context.Context, j *plannedJob) (bool, error) {
	hash, err := jobFileHash(j)
	if err != nil {
		return false, err
	}
	have, err := x.acct.GetJob(ctx, j.Spec.ID)
	if errors.Is(err, engine.ErrJobNotFound) {
		spec := j.Spec
		spec.Metadata = append(slices.Clone(spec.Metadata), task.MetadataItem{Name: jobHashKey, Value: hash})
		if err := x.acct.AddJob(ctx, spec); err != nil {
			return false, err
		}
		x.added = append(x.added, j.Spec.ID)
		return false, x.acct.AddTasks(ctx, j.Spec.ID, j.Tasks)
	}
	if err != nil {
		return false, err
	}
	if storedHash(have) != hash {
		return false, fmt.Errorf("job %s changed in the data directory while starting", j.Spec.ID)
	}
	x.added = append(x.added, j.Spec.ID)
	if have.State != task.JobActive && have.State != task.JobDisabled {
		// It ended (or is ending), possibly while the account reopened and
		// ran what was left: nothing to add.
		if !x.opts.quiet {
			x.logf("job %s: resumed from %s (the job is already %s)", j.Spec.ID, x.relative(accountDir(x.opts.dataDir)), have.State)
		}
		return true, nil
	}
	there := map[string]bool{}
	for t, err := range x.acct.Tasks(ctx, j.Spec.ID, engine.TaskFilter{}) {
		if err != nil {
			return true, err
		}
		there[task.FoldID(t.ID)] = true
	}
	var missing []task.TaskSpec
	for _, t := range j.Tasks {
		if !there[task.FoldID(t.ID)] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		if err := x.acct.AddTasks(ctx, j.Spec.ID, missing); err != nil {
			return true, err
		}
	}
	if !x.opts.quiet {
		x.logf("job %s: resumed from %s (%d of %d tasks were already there)", j.Spec.ID, x.relative(accountDir(x.opts.dataDir)), len(j.Tasks)-len(missing), len(j.Tasks))
	}
	return true, nil
}
