package engine

import (
	"context"
	"sync"
	"time"

	"github.com/embatch/embatch/engine/jobschedule"
	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// EventKind says what an Event is about.
type EventKind uint8

// Event kinds. The zero value is invalid.
const (
	EventInvalid EventKind = iota
	EventPoolChanged
	EventNodeChanged
	EventNodeRemoved
	EventJobChanged
	EventJobDeleted
	EventTaskChanged
	// EventTaskDeleted: a completed task was compacted after its
	// retention time (see WithTaskRetention).
	EventTaskDeleted
	// EventJobScheduleChanged: a job schedule's record changed (its state,
	// nextRunTime, or recentJob when it created a job); JobScheduleID and
	// JobScheduleState say which and its state.
	EventJobScheduleChanged
	// EventJobScheduleDeleted: a job schedule and its jobs are gone.
	EventJobScheduleDeleted
)

var eventKindNames = [...]string{"invalid", "pool", "node", "node-removed", "job", "job-deleted", "task", "task-deleted", "jobschedule", "jobschedule-deleted"}

// String names the kind.
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "invalid"
}

// Event is a state change in the account. For tasks, TaskState is the new
// state; read the record with GetTask for details.
type Event struct {
	Kind      EventKind
	Time      time.Time
	PoolID    string
	JobID     string
	TaskID    string
	NodeID    string
	TaskState task.TaskState
	JobState  task.JobState
	NodeState pool.NodeState
	// JobScheduleID and JobScheduleState are set for job schedule events.
	JobScheduleID    string
	JobScheduleState jobschedule.State
}

func eventOf(poolID string, now time.Time, c pool.Change) Event {
	e := Event{Time: now, PoolID: poolID, JobID: c.JobID, TaskID: c.TaskID, NodeID: c.NodeID,
		TaskState: c.TaskState, JobState: c.JobState, NodeState: c.NodeState}
	switch c.Kind {
	case pool.ChangePool:
		e.Kind = EventPoolChanged
	case pool.ChangeNode:
		e.Kind = EventNodeChanged
	case pool.ChangeNodeRemoved:
		e.Kind = EventNodeRemoved
	case pool.ChangeJob:
		e.Kind = EventJobChanged
	case pool.ChangeJobDeleted:
		e.Kind = EventJobDeleted
	case pool.ChangeTask:
		e.Kind = EventTaskChanged
	case pool.ChangeTaskDeleted:
		e.Kind = EventTaskDeleted
	}
	return e
}

// Subscription receives the account's events in the order they happened
// within each pool. It never blocks the engine: events queue until read, so
// a subscriber that stops reading should Close.
type Subscription struct {
	hub    *hub
	filter func(*Event) bool
	mu     sync.Mutex
	queue  []Event
	head   int
	notify chan struct{}
	closed bool
}

// Next returns the next event, waiting for one until ctx is done.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		s.mu.Lock()
		if s.head < len(s.queue) {
			e := s.queue[s.head]
			s.queue[s.head] = Event{}
			s.head++
			if s.head == len(s.queue) {
				s.queue, s.head = s.queue[:0], 0
			}
			s.mu.Unlock()
			// The filter runs here, on the subscriber's goroutine, so that
			// it may call the account (a durable account's reads wait for
			// the round being published, which the engine could not finish
			// while running the filter itself).
			if s.filter != nil && !s.filter(&e) {
				continue
			}
			return e, nil
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return Event{}, ErrAccountClosed
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Close stops the subscription; Next then returns ErrAccountClosed.
func (s *Subscription) Close() {
	s.hub.remove(s)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *Subscription) deliver(evs []Event) {
	s.mu.Lock()
	s.queue = append(s.queue, evs...)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// hub fans events out to subscriptions.
type hub struct {
	mu   sync.RWMutex
	subs []*Subscription
}

func (h *hub) active() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs) > 0
}

func (h *hub) add(s *Subscription) {
	h.mu.Lock()
	h.subs = append(h.subs, s)
	h.mu.Unlock()
}

func (h *hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.subs {
		if x == s {
			h.subs = append(h.subs[:i], h.subs[i+1:]...)
			return
		}
	}
}

func (h *hub) publish(evs []Event) {
	if len(evs) == 0 {
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range h.subs {
		s.deliver(evs)
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	subs := h.subs
	h.subs = nil
	h.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}
