package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"

	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

func open(t *testing.T, dir string, o Options) *Store {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testPool(id string) pool.DurablePool {
	return pool.DurablePool{Pool: pool.Pool{Spec: pool.Spec{ID: id, TargetDedicatedNodes: 2}, State: "active"}, NodeSeq: 2}
}

func testJob(id, poolID string, seq uint64) pool.DurableJob {
	return pool.DurableJob{Job: task.Job{JobSpec: task.JobSpec{ID: id, PoolInfo: task.PoolInformation{PoolID: poolID}},
		State: task.JobActive, ExecutionInfo: task.JobExecutionInfo{PoolID: poolID}}, Seq: seq}
}

func testTask(jobID, id string, seq uint64) pool.DurableTask {
	return pool.DurableTask{Task: task.Task{TaskSpec: task.TaskSpec{ID: id, CommandLine: "x"}, State: task.TaskActive}, JobID: jobID, Seq: seq}
}

// fill returns a batch with a pool, two jobs whose ids share a prefix, and
// n tasks in each.
func fill(t *testing.T, n int) *Batch {
	t.Helper()
	var b Batch
	must(t, b.PutPool(testPool("P")))
	must(t, b.PutNode("P", pool.Node{ID: "tvm-1", State: pool.NodeIdle}))
	for i, j := range []string{"a", "ab"} {
		must(t, b.PutJob(testJob(j, "P", uint64(i+1))))
		for k := range n {
			must(t, b.PutTask(testTask(j, fmt.Sprint(k), uint64(i*n+k+1))))
		}
	}
	return &b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCommitLoad(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	must(t, s.Commit(fill(t, 3)))
	// Deleting job "a" removes its tasks (also one put in the same batch)
	// and leaves those of "ab".
	var b Batch
	must(t, b.PutTask(testTask("a", "late", 99)))
	b.DeleteJob("A")
	must(t, s.Commit(&b))
	must(t, s.Close())

	s = open(t, dir, Options{})
	st, err := s.Load()
	must(t, err)
	if len(st.Pools) != 1 {
		t.Fatalf("pools %d", len(st.Pools))
	}
	ps := st.Pools[0]
	if ps.Pool.ID != "P" || ps.Pool.NodeSeq != 2 || len(ps.Nodes) != 1 || len(ps.Jobs) != 1 || ps.Jobs[0].ID != "ab" || len(ps.Tasks) != 3 {
		t.Fatalf("loaded %+v", ps)
	}
	for _, tk := range ps.Tasks {
		if tk.JobID != "ab" {
			t.Errorf("task %v survived its job's deletion", tk)
		}
	}
	if got := s.Stats(); got.Commits != 0 || got.Syncs != 0 {
		t.Errorf("stats of a fresh open after a load with no orphans: %+v", got)
	}
}

func TestLoadDeletesOrphans(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	var b Batch
	must(t, b.PutPool(testPool("p")))
	must(t, b.PutJob(testJob("j", "p", 1)))
	must(t, b.PutTask(testTask("j", "ok", 1)))
	must(t, b.PutTask(testTask("nojob", "x", 2)))
	must(t, b.PutJob(testJob("nopool", "gone", 2)))
	must(t, b.PutNode("gone", pool.Node{ID: "tvm-1", State: pool.NodeIdle}))
	must(t, s.Commit(&b))
	st, err := s.Load()
	must(t, err)
	if st.Orphans != 3 || len(st.Pools) != 1 || len(st.Pools[0].Tasks) != 1 {
		t.Fatalf("orphans %d, state %+v", st.Orphans, st.Pools)
	}
	st, err = s.Load()
	must(t, err)
	if st.Orphans != 0 {
		t.Errorf("orphans left after the first load: %d", st.Orphans)
	}
}

func TestInUse(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{})
	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v, want ErrInUse", err)
	}
	t.Log(err)
}

func TestNewerFormatRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	must(t, s.db.Update(func(txn *badger.Txn) error { return txn.Set(versionKey, []byte("2")) }))
	must(t, s.Close())
	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("open: %v, want ErrNewerFormat", err)
	}
	t.Log(err)
}

func TestForeignDirectoryRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	must(t, err)
	must(t, db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("x"), []byte("y")) }))
	must(t, db.Close())
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("a Badger directory without a format version was opened")
	}
}

// TestGroupCommit: commits that arrive while a sync is in progress share
// the next sync.
func TestGroupCommit(t *testing.T) {
	const waiting = 50
	inSync := make(chan struct{})
	release := make(chan struct{})
	var s *Store
	first := true
	s = open(t, t.TempDir(), Options{BeforeSync: func() error {
		if first {
			// The writer holds the first commit's sync until the test
			// has queued every other commit behind it.
			first = false
			close(inSync)
			<-release
		}
		return nil
	}})
	var wg sync.WaitGroup
	wg.Go(func() { must(t, s.Commit(fill(t, 1))) })
	<-inSync // the first group holds only the first commit
	for i := range waiting {
		wg.Go(func() {
			var b Batch
			must(t, b.PutTask(testTask("ab", fmt.Sprint("g", i), uint64(100+i))))
			must(t, s.Commit(&b))
		})
	}
	// The writer is blocked in the first sync, so the others can only
	// queue; wait until they all have (bounded: each goroutine queues at
	// once).
	for len(s.reqs) < waiting {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	st := s.Stats()
	if st.Commits != waiting+1 || st.Syncs != 2 {
		t.Errorf("stats %+v; want %d commits in 2 syncs", st, waiting+1)
	}
}

// TestSyncFailure: a failed sync fails the batch and every later one, and
// what was durable before is still there after a reopen.
func TestSyncFailure(t *testing.T) {
	dir := t.TempDir()
	fail := false
	s, err := Open(dir, Options{BeforeSync: func() error {
		if fail {
			return unix.EIO
		}
		return nil
	}})
	must(t, err)
	must(t, s.Commit(fill(t, 2)))
	fail = true
	var b Batch
	must(t, b.PutTask(testTask("a", "x", 50)))
	err = s.Commit(&b)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, unix.EIO) {
		t.Fatalf("commit with a failing sync: %v", err)
	}
	fail = false
	var c Batch
	must(t, c.PutTask(testTask("a", "y", 51)))
	if err := s.Commit(&c); !errors.Is(err, ErrFailed) {
		t.Fatalf("commit after a failed sync: %v, want ErrFailed", err)
	}
	must(t, s.Close())
	s = open(t, dir, Options{})
	st, err := s.Load()
	must(t, err)
	if n := len(st.Pools[0].Tasks); n < 4 {
		t.Fatalf("%d tasks after reopen, want the 4 durable ones", n)
	}
}

// TestDiskFullGuard: with less free space than MinFreeBytes the store
// fails instead of writing.
func TestDiskFullGuard(t *testing.T) {
	s := open(t, t.TempDir(), Options{MinFreeBytes: 1 << 62})
	err := s.Commit(fill(t, 1))
	if !errors.Is(err, ErrFailed) || !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("commit on a 'full' disk: %v", err)
	}
	t.Log(err)
}

// TestDiskFullTmpfs fills a small tmpfs (needs root and mount rights; it
// is skipped otherwise): the commit fails with a disk-full error, and after
// space is freed a reopen finds everything committed before.
func TestDiskFullTmpfs(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=48m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	data := filepath.Join(dir, "data")
	opts := Options{MemTableSize: 4 << 20} // MinFreeBytes 12 MiB
	s, err := Open(data, opts)
	must(t, err)
	must(t, s.Commit(fill(t, 200)))
	// Fill the file system to 8 MiB free.
	var st unix.Statfs_t
	must(t, unix.Statfs(dir, &st))
	filler := filepath.Join(dir, "filler")
	free := int64(st.Bavail) * int64(st.Bsize)
	must(t, os.WriteFile(filler, make([]byte, free-8<<20), 0o644))
	var b Batch
	must(t, b.PutTask(testTask("a", "more", 9999)))
	err = s.Commit(&b)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("commit on a full tmpfs: %v", err)
	}
	t.Log(err)
	must(t, os.Remove(filler))
	must(t, s.Close())
	s, err = Open(data, opts)
	must(t, err)
	defer s.Close() // before the unmount
	state, err := s.Load()
	must(t, err)
	if n := len(state.Pools[0].Tasks); n != 400 {
		t.Fatalf("%d tasks after reopen, want 400", n)
	}
}

func TestCommitAfterClose(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	must(t, err)
	must(t, s.Close())
	if err := s.Commit(fill(t, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("commit after close: %v", err)
	}
}

// TestLargeBatch: a batch larger than one Badger transaction is written
// in several and loads whole.
func TestLargeBatch(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MemTableSize: 1 << 20} // transactions of at most ~157 KB
	s := open(t, dir, opts)
	must(t, s.Commit(fill(t, 2000))) // ~2×2000 task records, ~500 KB
	var b Batch
	b.DeleteJob("a") // a prefix delete of 2000 keys, also past the limit
	must(t, s.Commit(&b))
	must(t, s.Close())
	s = open(t, dir, opts)
	st, err := s.Load()
	must(t, err)
	if n := len(st.Pools[0].Tasks); n != 2000 {
		t.Fatalf("%d tasks after reopen, want 2000", n)
	}
}

// TestReopenAfterKillBetweenLogCreateAndSize: a process killed right
// after Badger created a memtable log or a value log and before it sized
// it leaves an empty *.mem or *.vlog file; the directory must still open,
// with its data.
func TestReopenAfterKillBetweenLogCreateAndSize(t *testing.T) {
	for _, name := range []string{"00042.mem", "000002.vlog"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{})
			must(t, err)
			must(t, s.Commit(fill(t, 3)))
			must(t, s.Close())
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err = Open(dir, Options{})
			if err != nil {
				t.Fatalf("reopen with an empty %s: %v", name, err)
			}
			defer s.Close()
			st, err := s.Load()
			must(t, err)
			n := 0
			for _, p := range st.Pools {
				n += len(p.Tasks)
			}
			if n != 6 {
				t.Errorf("%d tasks after reopen, want the 6 written before", n)
			}
		})
	}
}

// TestOpenAfterKillDuringFirstOpen: a process killed while Badger created
// a new directory's first value log leaves it empty; opening again must
// work.
func TestOpenAfterKillDuringFirstOpen(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "000001.vlog"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("open with an empty first value log: %v", err)
	}
	must(t, s.Commit(fill(t, 1)))
	must(t, s.Close())
}
