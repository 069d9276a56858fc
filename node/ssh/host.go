package ssh

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

// host is one SSH host, its connection and the node placed on it. A
// connection loop (maintain) runs from the first AddNode until Close: it
// dials, watches the connection with keepalives and redials after a loss.
type host struct {
	b      *Backend
	index  int
	spec   Host
	config *gossh.ClientConfig
	kickCh chan struct{} // wakes the connection loop from its backoff

	mu sync.Mutex
	// idle is signalled when inflight drops to zero.
	idle sync.Cond
	// changed is closed and replaced whenever conn or dialErr changes.
	changed chan struct{}
	started bool  // the connection loop runs
	conn    *conn // the live connection; nil while there is none
	dials   int   // connection attempts finished, failed or not
	dialErr error // why the last attempt failed; nil after a success
	nodeID  string
	// lost is set when the node was reported lost (or failed to come up)
	// and not yet reported back.
	lost bool
	// inflight counts attempts using the host whose done has not returned.
	// NodeBack waits for it to reach zero, so that every result of the
	// lost connection reaches the engine before the node is back.
	inflight int
}

// newHost is host number index of b, not yet connected.
func newHost(b *Backend, index int, spec Host, config *gossh.ClientConfig) *host {
	h := &host{b: b, index: index, spec: spec, config: config, kickCh: make(chan struct{}, 1), changed: make(chan struct{})}
	h.idle.L = &h.mu
	return h
}

// holder is the node on the host, or "".
func (h *host) holder() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nodeID
}

// take puts node nodeID on the free host and starts the connection loop
// if it is not running. The backend's lock is held.
func (h *host) take(nodeID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nodeID = nodeID
	h.lost = false
	if !h.started {
		h.started = true
		h.b.loops.Add(1)
		go h.maintain()
	}
}

// release frees the host if node nodeID is on it, and reports whether it
// was.
func (h *host) release(nodeID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nodeID != nodeID {
		return false
	}
	h.nodeID = ""
	h.lost = false
	return true
}

// current is the live connection, or nil.
func (h *host) current() *conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conn
}

// kick makes the connection loop try now if it is waiting to redial.
func (h *host) kick() {
	select {
	case h.kickCh <- struct{}{}:
	default:
	}
}

// notifyLocked wakes waitConnected callers.
func (h *host) notifyLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// waitConnected returns the live connection, waiting for the connection
// loop if there is none: until it connects, or an attempt that ends after
// this call began fails, or ctx ends. Each attempt is bounded by the dial
// timeout.
func (h *host) waitConnected(ctx context.Context) (*conn, error) {
	h.kick()
	h.mu.Lock()
	start := h.dials
	for {
		if c := h.conn; c != nil {
			h.mu.Unlock()
			return c, nil
		}
		if h.dials > start && h.dialErr != nil {
			err := h.dialErr
			h.mu.Unlock()
			return nil, err
		}
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-h.b.shutdown.Done():
			return nil, errClosed
		}
		h.mu.Lock()
	}
}

// failedToStart notes that the node on the host could not be brought up:
// the engine marks it unusable, and the backend reports it back when the
// host next connects.
func (h *host) failedToStart() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nodeID != "" {
		h.lost = true
	}
}

// enter registers an attempt of node nodeID on the host and returns the
// live connection. The attempt must call leave after its done callback
// returned, even when enter fails: with a *lostError when the host is not
// connected, or a NodeNotFound error when the node is not on the host.
func (h *host) enter(nodeID string) (*conn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inflight++
	if h.nodeID != nodeID {
		return nil, task.Errorf(task.CodeNodeNotFound, "nodeId", nodeID, "the node is not up on this backend")
	}
	if h.conn == nil {
		return nil, &lostError{nodeID: nodeID, host: h.spec.String(), reason: "the host is not connected"}
	}
	return h.conn, nil
}

// leave ends what enter began.
func (h *host) leave() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inflight--
	if h.inflight == 0 {
		h.idle.Broadcast()
	}
}

// lostError is the cause with which a connection's context is cancelled
// when the backend writes the connection off.
type lostError struct {
	nodeID string
	host   string
	reason string
}

func (e *lostError) Error() string {
	if e.nodeID == "" {
		return fmt.Sprintf("lost host %s: %s", e.host, e.reason)
	}
	return fmt.Sprintf("node %s lost (host %s): %s", e.nodeID, e.host, e.reason)
}

// maintain is the host's connection loop.
func (h *host) maintain() {
	defer h.b.loops.Done()
	log := h.b.cfg.logger.With("host", h.spec.String())
	backoff := h.b.cfg.reconnectMin
	failures := 0
	for h.b.shutdown.Err() == nil {
		c, err := h.connect()
		if err == nil {
			if err = h.online(c); err != nil {
				c.close()
			}
		}
		if err != nil {
			h.mu.Lock()
			h.dials++
			h.dialErr = err
			h.notifyLocked()
			h.mu.Unlock()
			if failures == 0 {
				log.Warn("ssh backend: cannot connect; retrying with backoff", "error", err)
			} else {
				log.Debug("ssh backend: cannot connect", "error", err, "failures", failures+1)
			}
			failures++
			if !h.pause(backoff) {
				return
			}
			backoff = min(2*backoff, h.b.cfg.reconnectMax)
			continue
		}
		if failures > 0 {
			log.Info("ssh backend: connected", "after failures", failures)
		}
		failures, backoff = 0, h.b.cfg.reconnectMin
		reason := h.monitor(c)
		h.lose(c, reason)
		if h.b.shutdown.Err() == nil {
			log.Warn("ssh backend: connection lost", "reason", reason)
		}
	}
}

// pause waits d, or less if kicked; it reports false when the backend
// shuts down.
func (h *host) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-h.kickCh:
	case <-h.b.shutdown.Done():
		return false
	}
	return h.b.shutdown.Err() == nil
}

// connect dials the host and starts SSH, SFTP and the setsid probe, all
// within the dial timeout.
func (h *host) connect() (*conn, error) {
	ctx, cancel := context.WithTimeout(h.b.shutdown, h.b.cfg.dialTimeout)
	defer cancel()
	nc, err := h.b.cfg.dial(ctx, "tcp", h.spec.Addr())
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", h.spec, err)
	}
	// Closing the TCP connection is what interrupts a handshake or a
	// request that hangs.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	c, err := h.start(ctx, nc)
	if !stop() {
		if c != nil {
			c.close()
		}
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("connecting to %s: no answer within %s (%v)", h.spec, h.b.cfg.dialTimeout, err)
		}
		return nil, errClosed
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connecting to %s: %w", h.spec, err)
	}
	return c, nil
}

// start runs SSH over nc and sets the connection up.
func (h *host) start(ctx context.Context, nc net.Conn) (*conn, error) {
	sc, chans, reqs, err := gossh.NewClientConn(nc, h.spec.Addr(), h.config)
	if err != nil {
		return nil, err
	}
	c := newConn(h, gossh.NewClient(sc, chans, reqs))
	if err := c.setup(ctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// online makes c the host's connection. After a loss it first readies the
// node's directories (killing what the lost attempts left) and waits until
// every attempt of the lost connection has reported, then reports the node
// back.
func (h *host) online(c *conn) error {
	h.mu.Lock()
	nodeID, lost := h.nodeID, h.lost
	h.mu.Unlock()
	if lost && nodeID != "" {
		ctx, cancel := context.WithTimeout(h.b.shutdown, h.b.cfg.dialTimeout)
		err := c.prepare(ctx, h.b.layoutOf(nodeID).Root)
		cancel()
		if err != nil {
			return err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.inflight > 0 {
		h.idle.Wait() // bounded: those attempts' contexts are cancelled
	}
	h.conn = c
	h.dials++
	h.dialErr = nil
	if h.lost && h.nodeID != "" {
		h.b.reportEvent(node.NodeEvent{NodeID: h.nodeID, Health: node.NodeBack, Reason: "host " + h.spec.String() + " answers again"})
	}
	h.lost = false
	h.notifyLocked()
	return nil
}

// monitor watches c until it is lost and says why: the connection closed,
// keepalives went unanswered, an attempt found it broken, or the backend
// shuts down. A keepalive goes out every interval while none is pending;
// each tick that finds one still pending is a miss, and count misses in a
// row lose the host.
func (h *host) monitor(c *conn) string {
	interval, count := h.b.cfg.keepaliveInterval, h.b.cfg.keepaliveCount
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var reply chan error // the pending keepalive's answer, nil if none
	misses := 0
	for {
		select {
		case <-h.b.shutdown.Done():
			return "the backend is closing"
		case <-c.ctx.Done():
			if le := c.lost(); le != nil {
				return le.reason
			}
			return "written off"
		case <-c.closed:
			return "connection closed: " + c.closeReason()
		case err := <-reply:
			reply = nil
			if err != nil {
				return "keepalive failed: " + err.Error()
			}
			misses = 0
		case <-ticker.C:
			if reply != nil {
				misses++
				if misses >= count {
					return fmt.Sprintf("no answer to keepalives for %s (%d × %s)", time.Duration(count)*interval, count, interval)
				}
				continue
			}
			reply = make(chan error, 1)
			go func(reply chan<- error) { reply <- c.keepalive() }(reply)
		}
	}
}

// lose writes c off, once: it reports the node lost (unless the backend is
// closing), cancels c's context so that its attempts end with
// FailureNodeLost, and closes it.
func (h *host) lose(c *conn, reason string) {
	h.mu.Lock()
	if c.ctx.Err() != nil {
		h.mu.Unlock()
		return
	}
	if h.conn == c {
		h.conn = nil
	}
	if h.b.shutdown.Err() == nil && h.nodeID != "" && !h.lost {
		h.lost = true
		h.b.reportEvent(node.NodeEvent{NodeID: h.nodeID, Health: node.NodeLost, Reason: "host " + h.spec.String() + ": " + reason})
	}
	c.cancel(&lostError{nodeID: h.nodeID, host: h.spec.String(), reason: reason})
	h.notifyLocked()
	h.mu.Unlock()
	c.close()
}

// check is called by an attempt when an operation on c failed with err: if
// c is already written off, or does not answer a keepalive within the
// keepalive interval, it is lost, and check returns the *lostError; else
// nil (the failure was the operation's own).
func (h *host) check(c *conn, err error) *lostError {
	if le := c.lost(); le != nil {
		return le
	}
	select {
	case <-c.closed:
		h.lose(c, "connection closed: "+c.closeReason())
		return c.lost()
	default:
	}
	done := make(chan error, 1)
	go func() { done <- c.keepalive() }()
	t := time.NewTimer(h.b.cfg.keepaliveInterval)
	defer t.Stop()
	select {
	case kerr := <-done:
		if kerr == nil {
			return nil
		}
		h.lose(c, fmt.Sprintf("%v (keepalive: %v)", err, kerr))
	case <-t.C:
		h.lose(c, fmt.Sprintf("%v (no answer to a keepalive within %s)", err, h.b.cfg.keepaliveInterval))
	case <-c.ctx.Done():
	}
	return c.lost()
}

// layoutOf is node nodeID's layout.
func (b *Backend) layoutOf(nodeID string) node.Layout {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.placed[nodeID].layout
}
