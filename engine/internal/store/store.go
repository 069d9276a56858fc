// Package store keeps an embatch account's state durable in a Badger
// database under one data directory. It is the only package of embatch that
// imports Badger.
//
// # Key schema (format version 1)
//
//	v                  format version, decimal ASCII ("1")
//	p/<pool>           pool.DurablePool, JSON
//	n/<pool>/<node>    pool.Node, JSON
//	j/<job>            pool.DurableJob, JSON; its pool is executionInfo.poolId
//	t/<job>/<task>     pool.DurableTask, JSON; arrival order is its seq
//	s/<schedule>       jobschedule.Durable, JSON (added in format 1 later:
//	                   builds before it ignore these keys)
//
// <pool>, <job>, <task> and <schedule> are ids folded to lower case (ids are unique
// ignoring case, and cannot contain '/', so the prefixes "n/<pool>/" and
// "t/<job>/" hold exactly one pool's nodes and one job's tasks). Values are
// the records' Azure JSON plus the few fields the scheduling core needs to
// restore them; a later format that changes this bumps the version and
// migrates older directories in Open. A directory written by a newer
// format is refused.
//
// # Group commit
//
// Commit hands a Batch to the store's single writer goroutine and waits
// (CommitAsync does not wait: the answer comes on a channel).
// The writer takes every batch pending at that moment (from all pools),
// writes them in one Badger transaction (more only when they exceed
// Badger's transaction size limit, 15% of the memtable size; batches are
// never split across transactions unless one alone exceeds it), then
// makes them durable with one sync, and only then releases the callers. The
// database is opened with SyncWrites off: Badger would otherwise sync once
// per transaction and only log a failed value-log sync, whereas DB.Sync
// syncs once and returns the error.
//
// # Failures
//
// A failed write or sync, or too little free space, fails the batch and
// every later one with the same error (ErrFailed): after a failed sync
// nothing written since the last good sync can be trusted, so the store
// stops rather than guess. What was durable before stays durable; reopen
// the directory to go on. Free space is checked before each write because
// Badger writes through memory-mapped files, and a full disk under a
// memory-mapped write is a SIGBUS that kills the process, not an error.
package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"

	"github.com/embatch/embatch/engine/jobschedule"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// FormatVersion is the format this build writes. Open refuses a directory
// with a higher version.
const FormatVersion = 1

// Errors of Open and Commit; match with errors.Is.
var (
	// ErrInUse: another process (or another Store in this process) has
	// the data directory open.
	ErrInUse = errors.New("data directory in use by another process")
	// ErrNewerFormat: the directory was written by a newer embatch.
	ErrNewerFormat = errors.New("data directory written by a newer embatch")
	// ErrFailed: a write, sync or free-space check failed; the store
	// takes no more writes.
	ErrFailed = errors.New("store failed")
	// ErrClosed: Commit after Close.
	ErrClosed = errors.New("store closed")
)

// lockName is the file, in the data directory, whose flock marks it in use.
const lockName = "embatch.lock"

// versionKey holds FormatVersion.
var versionKey = []byte("v")

// Options tune a Store. The zero Options are the defaults.
type Options struct {
	// MemTableSize is Badger's memtable size in bytes; default 64 MiB. It
	// bounds one transaction to 15% of it.
	MemTableSize int64
	// MinFreeBytes is the free space, in bytes, the file system must have
	// before a batch is written; default 3×MemTableSize (room for a
	// memtable flush while the next one fills). Negative turns the check
	// off.
	MinFreeBytes int64
	// BeforeSync, if set, runs in the writer before each sync; an error
	// fails the batch as a failed sync would. It is for fault injection
	// in tests.
	BeforeSync func() error
	// Logf receives Badger's warnings and errors; nil discards them.
	Logf func(format string, args ...any)
}

// Stats count the store's work since Open.
type Stats struct {
	// Commits is the number of Commit calls that wrote something.
	Commits uint64
	// Syncs is the number of syncs: one per group of commits.
	Syncs uint64
	// Records is the number of keys put or deleted.
	Records uint64
}

// Store is an open data directory. Its methods are safe for concurrent
// use. Close it to release the directory.
type Store struct {
	dir  string
	db   *badger.DB
	lock *os.File
	opts Options

	reqs chan *request
	quit chan struct{}
	done chan struct{}

	commits, syncs, records atomic.Uint64

	mu sync.Mutex // guards failed and closed
	// gate is held (read) by submissions from the closed check until their
	// request is queued, and (write) by Close while it sets closed: a
	// request queued after the writer stopped would never be answered.
	gate   sync.RWMutex
	failed error
	closed bool
}

// request is one Commit waiting for the writer.
type request struct {
	b    *Batch
	done chan<- error
}

// Open opens (creating if needed) the data directory dir. It fails with
// ErrInUse if another process has it open and with ErrNewerFormat if a
// newer embatch wrote it.
func Open(dir string, opts Options) (*Store, error) {
	if opts.MemTableSize <= 0 {
		opts.MemTableSize = 64 << 20
	}
	if opts.MinFreeBytes == 0 {
		opts.MinFreeBytes = 3 * opts.MemTableSize
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: data directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	if err := removeEmptyLogs(dir); err != nil {
		lock.Close()
		return nil, err
	}
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(false).
		WithDetectConflicts(false).
		WithMemTableSize(opts.MemTableSize).
		// Values above the threshold go to the value log; it must stay
		// below Badger's transaction limit (15% of the memtable).
		WithValueThreshold(min(1<<20, opts.MemTableSize*15/100/2)).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(32 << 20).
		WithNumVersionsToKeep(1).
		WithLogger(logger{opts.Logf})
	db, err := badger.Open(bo)
	if err != nil {
		lock.Close()
		if strings.Contains(err.Error(), "Another process is using this Badger database") {
			return nil, fmt.Errorf("store: %s: %w", dir, ErrInUse)
		}
		return nil, fmt.Errorf("store: opening %s: %w", dir, err)
	}
	s := &Store{dir: dir, db: db, lock: lock, opts: opts,
		reqs: make(chan *request, 256), quit: make(chan struct{}), done: make(chan struct{})}
	if err := s.checkVersion(); err != nil {
		db.Close()
		lock.Close()
		return nil, err
	}
	go s.writer()
	return s, nil
}

// removeEmptyLogs deletes zero-length memtable logs (*.mem) and value logs
// (*.vlog). Badger creates such a log file and only then sizes it and
// writes its header; a process killed in between leaves an empty file that
// holds no data, and Badger refuses to reopen the directory because of it
// ("while opening fid: N err: Create a new file" for a memtable, "Open
// existing file: ...vlog err: Create a new file" for a value log; the
// crash test found both). An empty log has no entries, so removing it
// loses nothing.
func removeEmptyLogs(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("store: data directory: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".mem") || strings.HasSuffix(e.Name(), ".vlog")) {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("store: removing the empty log %s: %w", e.Name(), err)
		}
	}
	return nil
}

// lockDir takes the directory's lock file, or fails with ErrInUse naming
// the process that holds it.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := ""
			if p := strings.TrimSpace(string(pid)); p != "" {
				holder = " (pid " + p + ")"
			}
			return nil, fmt.Errorf("store: %s%s: %w", dir, holder, ErrInUse)
		}
		return nil, fmt.Errorf("store: locking %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// checkVersion writes the format version into a new directory, accepts
// the current one and refuses newer ones. (Format 1 is the first: there is
// nothing older to migrate yet.)
func (s *Store) checkVersion() error {
	var have []byte
	empty := true
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(versionKey)
		if err == nil {
			have, err = item.ValueCopy(nil)
			return err
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: reading the format version: %w", err)
	}
	if have == nil {
		if !empty {
			return fmt.Errorf("store: %s holds data but no format version; it was not written by embatch", s.dir)
		}
		err := s.db.Update(func(txn *badger.Txn) error {
			return txn.Set(versionKey, []byte(strconv.Itoa(FormatVersion)))
		})
		if err == nil {
			err = s.db.Sync()
		}
		if err != nil {
			return fmt.Errorf("store: writing the format version: %w", err)
		}
		return nil
	}
	v, err := strconv.Atoi(string(have))
	if err != nil || v < 1 {
		return fmt.Errorf("store: %s has an unreadable format version %q", s.dir, have)
	}
	if v > FormatVersion {
		return fmt.Errorf("store: %s has format version %d but this embatch reads only up to %d; use a newer embatch: %w", s.dir, v, FormatVersion, ErrNewerFormat)
	}
	return nil
}

// Close stops the writer (pending commits fail with ErrClosed), closes
// the database and releases the directory. Close is idempotent.
func (s *Store) Close() error {
	// Wait for submissions under way, so that none reaches the queue after
	// the writer drained it.
	s.gate.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.gate.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.gate.Unlock()
	close(s.quit)
	<-s.done
	err := s.db.Close()
	s.lock.Close()
	return err
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Syncs: s.syncs.Load(), Records: s.records.Load()}
}

// Err is the error that stopped the store, or nil.
func (s *Store) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Commit writes b and returns once it is durable (or failed). An empty
// batch returns at once. b must not be changed until Commit returns.
func (s *Store) Commit(b *Batch) error {
	if b.Len() == 0 {
		return s.Err()
	}
	done := make(chan error, 1)
	if err := s.submit(&request{b: b, done: done}); err != nil {
		return err
	}
	return s.wait(done)
}

// CommitAsync queues b for the writer and returns at once; the result
// (nil once b is durable) is sent on done, which must have room for it:
// the writer never blocks on it. Batches queued by one goroutine are
// written, and their results sent, in the order they were queued. b must
// not be changed until its result arrives. An empty batch is not queued:
// its result (the store's error, or nil) is sent at once.
func (s *Store) CommitAsync(b *Batch, done chan<- error) {
	if b.Len() == 0 {
		done <- s.Err()
		return
	}
	if err := s.submit(&request{b: b, done: done}); err != nil {
		done <- err
	}
}

// submit hands r to the writer, unless the store is failed or closed.
func (s *Store) submit(r *request) error {
	s.gate.RLock()
	defer s.gate.RUnlock()
	s.mu.Lock()
	closed, failed := s.closed, s.failed
	s.mu.Unlock()
	switch {
	case failed != nil:
		return failed
	case closed:
		return ErrClosed
	}
	select {
	case s.reqs <- r:
		return nil
	case <-s.quit:
		return ErrClosed
	}
}

// wait waits for the writer's answer on done (made by Commit).
func (s *Store) wait(done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-s.done:
		// The writer answers every request it took before it stops.
		select {
		case err := <-done:
			return err
		default:
			return ErrClosed
		}
	}
}

// writer is the group-commit loop: it takes every pending request, writes
// them together, syncs once and answers them all.
func (s *Store) writer() {
	defer close(s.done)
	var group []*request
	for {
		select {
		case r := <-s.reqs:
			group = append(group[:0], r)
		case <-s.quit:
			// Answer what is still queued, so that no CommitAsync
			// caller waits forever.
			for {
				select {
				case r := <-s.reqs:
					r.done <- ErrClosed
				default:
					return
				}
			}
		}
	more:
		for {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		err := s.write(group)
		for i, r := range group {
			r.done <- err
			group[i] = nil
		}
	}
}

// write makes a group of batches durable, or fails the store.
func (s *Store) write(group []*request) error {
	if err := s.Err(); err != nil {
		return err
	}
	err := s.writeGroup(group)
	if err != nil {
		err = fmt.Errorf("store: %s: %w: %w", s.dir, ErrFailed, err)
		s.mu.Lock()
		if s.failed == nil {
			s.failed = err
		}
		err = s.failed
		s.mu.Unlock()
	}
	return err
}

func (s *Store) writeGroup(group []*request) error {
	if err := s.checkSpace(); err != nil {
		return err
	}
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	// apply runs f in the transaction, committing it and starting another
	// when it is full.
	apply := func(f func(*badger.Txn) error) error {
		err := f(txn)
		if !errors.Is(err, badger.ErrTxnTooBig) {
			return err
		}
		if err := txn.Commit(); err != nil {
			return err
		}
		txn = s.db.NewTransaction(true)
		return f(txn)
	}
	// A transaction holds whole batches: one is cut before a batch that
	// would not fit (estimated as Badger does, with headroom), so that a
	// batch is split only when it alone exceeds a transaction.
	maxBytes := s.opts.MemTableSize * 15 / 100
	limitBytes, limitCount := maxBytes*3/4, maxBytes/96*3/4
	var usedBytes, usedCount int64
	n := uint64(0)
	for _, r := range group {
		if usedCount > 0 && (usedBytes+r.b.bytes > limitBytes || usedCount+int64(len(r.b.ops)) > limitCount) {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = s.db.NewTransaction(true)
			usedBytes, usedCount = 0, 0
		}
		usedBytes += r.b.bytes
		usedCount += int64(len(r.b.ops))
		for i := range r.b.ops {
			op := &r.b.ops[i]
			switch {
			case op.prefix:
				var keys [][]byte
				it := txn.NewIterator(badger.IteratorOptions{Prefix: op.key})
				for it.Rewind(); it.Valid(); it.Next() {
					keys = append(keys, it.Item().KeyCopy(nil))
				}
				it.Close()
				for _, k := range keys {
					if err := apply(func(t *badger.Txn) error { return t.Delete(k) }); err != nil {
						return err
					}
				}
				n += uint64(len(keys))
			case op.val == nil:
				if err := apply(func(t *badger.Txn) error { return t.Delete(op.key) }); err != nil {
					return err
				}
				n++
			default:
				if err := apply(func(t *badger.Txn) error { return t.Set(op.key, op.val) }); err != nil {
					return err
				}
				n++
			}
		}
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	if h := s.opts.BeforeSync; h != nil {
		if err := h(); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	s.syncs.Add(1)
	s.commits.Add(uint64(len(group)))
	s.records.Add(n)
	return nil
}

// checkSpace fails when the file system holding the directory has less
// than MinFreeBytes free.
func (s *Store) checkSpace() error {
	if s.opts.MinFreeBytes < 0 {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(s.dir, &st); err != nil {
		return fmt.Errorf("checking free space: %w", err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < s.opts.MinFreeBytes {
		return fmt.Errorf("disk full: %d bytes free, at least %d needed: %w", free, s.opts.MinFreeBytes, unix.ENOSPC)
	}
	return nil
}

// Batch is a set of changes to write together. The zero Batch is empty and
// ready to use. Operations apply in the order they were added.
type Batch struct {
	ops []op
	// bytes estimates the batch's size in a Badger transaction.
	bytes int64
}

type op struct {
	key    []byte
	val    []byte // nil: delete key (or every key under it, if prefix)
	prefix bool
}

// Len is the number of operations in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties the batch for reuse.
func (b *Batch) Reset() {
	clear(b.ops)
	b.ops = b.ops[:0]
	b.bytes = 0
}

func (b *Batch) put(key []byte, v any) error {
	val, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encoding %s: %w", key, err)
	}
	b.ops = append(b.ops, op{key: key, val: val})
	b.bytes += int64(len(key) + len(val) + 12)
	return nil
}

func (b *Batch) del(key []byte) {
	b.ops = append(b.ops, op{key: key})
	b.bytes += int64(len(key) + 12)
}

func (b *Batch) delPrefix(key []byte) {
	b.ops = append(b.ops, op{key: key, prefix: true})
	b.bytes += int64(len(key) + 12)
}

// Key builders. Ids are folded; see the package doc.
func poolKey(id string) []byte         { return []byte("p/" + task.FoldID(id)) }
func nodeKey(poolID, id string) []byte { return []byte("n/" + task.FoldID(poolID) + "/" + id) }
func nodePrefix(poolID string) []byte  { return []byte("n/" + task.FoldID(poolID) + "/") }
func jobKey(id string) []byte          { return []byte("j/" + task.FoldID(id)) }
func taskKey(jobID, id string) []byte {
	return []byte("t/" + task.FoldID(jobID) + "/" + task.FoldID(id))
}
func scheduleKey(id string) []byte   { return []byte("s/" + task.FoldID(id)) }
func taskPrefix(jobID string) []byte { return []byte("t/" + task.FoldID(jobID) + "/") }

// PutPool writes a pool record.
func (b *Batch) PutPool(p pool.DurablePool) error { return b.put(poolKey(p.ID), p) }

// DeletePool deletes a pool with its nodes and the jobs (with their tasks)
// named by jobIDs.
func (b *Batch) DeletePool(poolID string, jobIDs []string) {
	b.del(poolKey(poolID))
	b.delPrefix(nodePrefix(poolID))
	for _, id := range jobIDs {
		b.DeleteJob(id)
	}
}

// PutNode writes a node record of a pool.
func (b *Batch) PutNode(poolID string, n pool.Node) error { return b.put(nodeKey(poolID, n.ID), n) }

// DeleteNode deletes a node record.
func (b *Batch) DeleteNode(poolID, nodeID string) { b.del(nodeKey(poolID, nodeID)) }

// PutJob writes a job record.
func (b *Batch) PutJob(j pool.DurableJob) error { return b.put(jobKey(j.ID), j) }

// DeleteJob deletes a job and all its tasks.
func (b *Batch) DeleteJob(jobID string) {
	b.del(jobKey(jobID))
	b.delPrefix(taskPrefix(jobID))
}

// PutTask writes a task record.
func (b *Batch) PutTask(t pool.DurableTask) error { return b.put(taskKey(t.JobID, t.ID), t) }

// DeleteTask deletes a task record.
func (b *Batch) DeleteTask(jobID, taskID string) { b.del(taskKey(jobID, taskID)) }

// PutSchedule writes job schedule id's record: its jobschedule.Durable,
// which the caller encodes as JSON (it compares encodings to skip records
// that did not change).
func (b *Batch) PutSchedule(id string, record []byte) {
	b.ops = append(b.ops, op{key: scheduleKey(id), val: record})
	b.bytes += int64(len(scheduleKey(id)) + len(record) + 12)
}

// DeleteSchedule deletes a job schedule record.
func (b *Batch) DeleteSchedule(id string) { b.del(scheduleKey(id)) }

// PoolState is one pool's records, as Load found them.
type PoolState struct {
	Pool  pool.DurablePool
	Nodes []pool.Node
	Jobs  []pool.DurableJob
	// Tasks are the tasks of Jobs, in key order (restore sorts by seq).
	Tasks []pool.DurableTask
}

// State is everything Load found.
type State struct {
	// Pools in key order.
	Pools []*PoolState
	// Schedules are the job schedules, in key order.
	Schedules []jobschedule.Durable
	// Orphans are records whose pool or job is missing (left by a crash in
	// the middle of a batch larger than one transaction); Load deletes
	// them.
	Orphans int
}

// Load reads every record, grouped by pool, and deletes orphans.
func (s *Store) Load() (*State, error) {
	st := &State{}
	pools := map[string]*PoolState{}
	jobPool := map[string]*PoolState{}
	var orphans Batch
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		// Read in dependency order: pools, then nodes and jobs, then
		// tasks, then job schedules.
		for _, prefix := range []string{"p/", "n/", "j/", "t/", "s/"} {
			for it.Seek([]byte(prefix)); it.ValidForPrefix([]byte(prefix)); it.Next() {
				item := it.Item()
				key := item.KeyCopy(nil)
				err := item.Value(func(val []byte) error {
					return s.loadRecord(st, pools, jobPool, &orphans, key, val)
				})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: loading %s: %w", s.dir, err)
	}
	if err := s.Commit(&orphans); err != nil {
		return nil, err
	}
	return st, nil
}

func (s *Store) loadRecord(st *State, pools, jobPool map[string]*PoolState, orphans *Batch, key, val []byte) error {
	bad := func(err error) error { return fmt.Errorf("record %s: %w", key, err) }
	switch {
	case bytes.HasPrefix(key, []byte("p/")):
		ps := &PoolState{}
		if err := json.Unmarshal(val, &ps.Pool); err != nil {
			return bad(err)
		}
		pools[task.FoldID(ps.Pool.ID)] = ps
		st.Pools = append(st.Pools, ps)
	case bytes.HasPrefix(key, []byte("n/")):
		var n pool.Node
		if err := json.Unmarshal(val, &n); err != nil {
			return bad(err)
		}
		poolID, _, _ := strings.Cut(string(key[2:]), "/")
		ps := pools[poolID]
		if ps == nil {
			orphans.del(key)
			st.Orphans++
			return nil
		}
		ps.Nodes = append(ps.Nodes, n)
	case bytes.HasPrefix(key, []byte("j/")):
		var j pool.DurableJob
		if err := json.Unmarshal(val, &j); err != nil {
			return bad(err)
		}
		ps := pools[task.FoldID(j.ExecutionInfo.PoolID)]
		if ps == nil {
			orphans.DeleteJob(j.ID)
			st.Orphans++
			return nil
		}
		jobPool[task.FoldID(j.ID)] = ps
		ps.Jobs = append(ps.Jobs, j)
	case bytes.HasPrefix(key, []byte("t/")):
		var t pool.DurableTask
		if err := json.Unmarshal(val, &t); err != nil {
			return bad(err)
		}
		ps := jobPool[task.FoldID(t.JobID)]
		if ps == nil {
			orphans.del(key)
			st.Orphans++
			return nil
		}
		ps.Tasks = append(ps.Tasks, t)
	case bytes.HasPrefix(key, []byte("s/")):
		var d jobschedule.Durable
		if err := json.Unmarshal(val, &d); err != nil {
			return bad(err)
		}
		st.Schedules = append(st.Schedules, d)
	}
	return nil
}

// logger passes Badger's warnings and errors to Logf.
type logger struct{ logf func(string, ...any) }

func (l logger) Errorf(f string, a ...any) {
	if l.logf != nil {
		l.logf("badger: "+f, a...)
	}
}

func (l logger) Warningf(f string, a ...any) {
	if l.logf != nil {
		l.logf("badger: "+f, a...)
	}
}

func (logger) Infof(string, ...any)  {}
func (logger) Debugf(string, ...any) {}
