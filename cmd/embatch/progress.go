package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/task"
)

// Progress cadence.
const (
	// summaryInterval is how often progress is written as a line when
	// stderr is not a terminal (and something changed).
	summaryInterval = 2 * time.Second
	// barRefresh is how often the terminal bar is redrawn even when no
	// task changed, so that its elapsed time moves.
	barRefresh = time.Second
	// barThrottle bounds how often the bar is redrawn.
	barThrottle = 100 * time.Millisecond
)

// progress shows how a run's tasks are doing on stderr: a live bar when
// stderr is a terminal, otherwise a summary line every summaryInterval in
// which a task changed, plus one at the end. Task events from the account
// say when something changed; the counts come from TaskCounts.
type progress struct {
	acct  *engine.Account
	w     io.Writer
	tty   bool
	total int
	start time.Time
	sub   *engine.Subscription

	cancel context.CancelFunc
	wg     sync.WaitGroup
	// changed gets a token when a task or job event arrives.
	changed chan struct{}

	mu   sync.Mutex
	jobs []string
	bar  *progressbar.ProgressBar
}

// startProgress starts showing the progress of total tasks on w.
func startProgress(acct *engine.Account, w io.Writer, tty bool, total int) *progress {
	ctx, cancel := context.WithCancel(context.Background())
	p := &progress{
		acct: acct, w: w, tty: tty, total: total, start: time.Now(), cancel: cancel,
		changed: make(chan struct{}, 1),
		sub: acct.Subscribe(func(e *engine.Event) bool {
			return e.Kind == engine.EventTaskChanged || e.Kind == engine.EventJobChanged
		}),
	}
	if tty {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("starting"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(barThrottle),
			progressbar.OptionUseANSICodes(true),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	p.wg.Add(2)
	go p.listen(ctx)
	go p.render(ctx)
	return p
}

// addJob adds a job to those whose tasks are counted. A nil progress does
// nothing.
func (p *progress) addJob(id string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.jobs = append(p.jobs, id)
	p.mu.Unlock()
	p.notify()
}

// notify records that something changed, without blocking.
func (p *progress) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// listen turns account events into change tokens.
func (p *progress) listen(ctx context.Context) {
	defer p.wg.Done()
	for {
		if _, err := p.sub.Next(ctx); err != nil {
			return
		}
		p.notify()
	}
}

// render shows the counts when they change, within its cadence.
func (p *progress) render(ctx context.Context) {
	defer p.wg.Done()
	interval := summaryInterval
	if p.tty {
		interval = barRefresh
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	dirty := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
			if p.tty {
				p.show()
			} else {
				dirty = true
			}
		case <-tick.C:
			if p.tty || dirty {
				p.show()
				dirty = false
			}
		}
	}
}

// show writes the current counts.
func (p *progress) show() {
	c := p.counts()
	if p.tty {
		p.bar.Describe(c.states())
		_ = p.bar.Set(c.Completed)
		return
	}
	fmt.Fprintf(p.w, "embatch: %s: %s\n", roundDuration(time.Since(p.start)), c)
}

// stop stops the display and writes the final counts.
func (p *progress) stop() {
	p.cancel()
	p.sub.Close()
	p.wg.Wait()
	c := p.counts()
	if p.tty {
		_ = p.bar.Set(c.Completed)
		_ = p.bar.Finish()
	}
	fmt.Fprintf(p.w, "embatch: finished in %s: %s\n", roundDuration(time.Since(p.start)), c)
}

// taskTally is the sum of the task counts of a run's jobs.
type taskTally struct {
	task.TaskCounts
	total int
}

// String formats the tally as "21 tasks: 3 active, 4 running, 13
// succeeded, 1 failed".
func (t taskTally) String() string {
	return fmt.Sprintf("%d tasks: %s", t.total, t.states())
}

// states formats the tally without the total, which the bar shows:
// "3 active, 4 running, 13 succeeded, 1 failed".
func (t taskTally) states() string {
	return fmt.Sprintf("%d active, %d running, %d succeeded, %d failed", t.Active, t.Running, t.Succeeded, t.Failed)
}

// counts sums the task counts of the jobs added so far.
func (p *progress) counts() taskTally {
	p.mu.Lock()
	jobs := append([]string(nil), p.jobs...)
	p.mu.Unlock()
	t := taskTally{total: p.total}
	for _, id := range jobs {
		c, err := p.acct.TaskCounts(context.Background(), id)
		if err != nil {
			continue
		}
		t.Active += c.TaskCounts.Active
		t.Running += c.TaskCounts.Running
		t.Completed += c.TaskCounts.Completed
		t.Succeeded += c.TaskCounts.Succeeded
		t.Failed += c.TaskCounts.Failed
	}
	return t
}
