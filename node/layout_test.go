package node

import (
	"testing"
)

func TestLayoutPaths(t *testing.T) {
	l := Layout{Root: "/mnt/batch"}
	tests := []struct {
		name, got, want string
	}{
		{"shared", l.SharedDir(), "/mnt/batch/shared"},
		{"startup", l.StartupDir(), "/mnt/batch/startup"},
		{"workitems", l.WorkItemsDir(), "/mnt/batch/workitems"},
		{"job", l.JobDir("j1"), "/mnt/batch/workitems/j1/job-1"},
		{"task", l.TaskDir("j1", "t1"), "/mnt/batch/workitems/j1/job-1/t1"},
		{"task of no job is the start task", l.TaskDir("", "start"), "/mnt/batch/startup"},
		{"prep", l.JobPreparationDir("j1"), "/mnt/batch/workitems/j1/job-1/jobpreparation"},
		{"release", l.JobReleaseDir("j1"), "/mnt/batch/workitems/j1/job-1/jobrelease"},
		{"wd", WorkingDir(l.TaskDir("j1", "t1")), "/mnt/batch/workitems/j1/job-1/t1/wd"},
		{"attempt task", l.AttemptDir(&Attempt{Kind: KindTask, JobID: "j", TaskID: "t"}), "/mnt/batch/workitems/j/job-1/t"},
		{"attempt start", l.AttemptDir(&Attempt{Kind: KindStartTask, TaskID: "start"}), "/mnt/batch/startup"},
		{"attempt prep", l.AttemptDir(&Attempt{Kind: KindJobPreparation, JobID: "j", TaskID: "myprep"}), "/mnt/batch/workitems/j/job-1/jobpreparation"},
		{"attempt release", l.AttemptDir(&Attempt{Kind: KindJobRelease, JobID: "j", TaskID: "myrel"}), "/mnt/batch/workitems/j/job-1/jobrelease"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestSafeJoin(t *testing.T) {
	const dir = "/n/workitems/j/job-1/t"
	tests := []struct {
		name    string
		want    string
		wantErr bool
	}{
		{"stdout.txt", dir + "/stdout.txt", false},
		{"wd/out/result.csv", dir + "/wd/out/result.csv", false},
		{"./wd//a/../b", dir + "/wd/b", false},
		{"wd/..", dir, false},
		{".", dir, false},
		{"", "", true},
		{"..", "", true},
		{"../x", "", true},
		{"wd/../../x", "", true},
		{"/etc/passwd", "", true},
		{"a\x00b", "", true},
	}
	for _, tt := range tests {
		got, err := SafeJoin(dir, tt.name)
		if (err != nil) != tt.wantErr {
			t.Errorf("SafeJoin(%q): err = %v, want error %v", tt.name, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("SafeJoin(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
