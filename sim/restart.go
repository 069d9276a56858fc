package sim

import (
	"fmt"

	"github.com/embatch/embatch/pool"
	"github.com/embatch/embatch/task"
)

// queueRestart queues the next engine restart, if restarts are on.
func (s *simulation) queueRestart() {
	if r := s.cfg.RestartRate; r > 0 {
		s.k.push(event{at: s.k.now + hours(s.rng.ExpFloat64()/r), kind: evRestart})
	}
}

// restart crashes the engine: the core is rebuilt from its durable
// records, as the live engine does when it reopens its data directory, and
// every node and process is gone with the old process.
func (s *simulation) restart() {
	now := s.k.now
	old := s.drv.Core()
	var jobs []pool.DurableJob
	var tasks []pool.DurableTask
	for i := range s.wl.Jobs {
		id := s.wl.Jobs[i].ID
		dj, err := old.DurableJob(id)
		if err != nil {
			continue // deleted
		}
		jobs = append(jobs, dj)
		_ = old.RangeTasks(id, func(t *task.Task) bool {
			if dt, err := old.DurableTask(id, t.ID); err == nil {
				tasks = append(tasks, dt)
			}
			return true
		})
	}
	policy, err := NewPolicy(s.cfg.Policy)
	if err != nil {
		s.fail(err)
		return
	}
	core, err := pool.Restore(old.DurablePool(), jobs, tasks, pool.Config{Policy: policy, Now: Epoch.Add(now), ReuseAttempts: true})
	if err != nil {
		s.fail(fmt.Errorf("at %v: restoring the core after a restart: %w", now, err))
		return
	}
	for i := range s.nodes {
		n := &s.nodes[i]
		if n.released {
			continue
		}
		s.dropAttempts(int32(i))
		s.setDown(now, n)
		s.stopBilling(now, n)
		n.released = true
		n.gen++
	}
	s.acct.restarts++
	s.life++
	if s.check != nil {
		s.check.restarted(policy)
	}
	s.tickAt = -1
	s.drv = DriverFor(now, core, s)
	if s.check != nil {
		s.check.afterStep(now)
	}
	s.scheduleTick()
	s.queueRestart()
}
