package ssh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

// conn is one SSH connection to a host, with its SFTP client.
type conn struct {
	host   *host
	client *gossh.Client
	sftp   *sftp.Client
	// setsid is the absolute path of setsid on the host.
	setsid string
	// sessions holds a token per open session other than SFTP's, so that
	// no more than the configured MaxSessions are open at once.
	sessions chan struct{}
	// ctx is cancelled, with a *lostError cause, when the backend writes
	// the connection off; the attempts using it derive from it.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// closed is closed when the SSH connection has ended; waitErr says why.
	closed    chan struct{}
	waitErr   error
	closeOnce sync.Once
}

// newConn wraps client, a connection to h that has just been set up.
func newConn(h *host, client *gossh.Client) *conn {
	c := &conn{
		host:     h,
		client:   client,
		sessions: make(chan struct{}, h.b.cfg.maxSessions-1),
		closed:   make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	go func() {
		c.waitErr = client.Wait()
		close(c.closed)
	}()
	return c
}

// setup starts SFTP and finds setsid on the host.
func (c *conn) setup(ctx context.Context) error {
	s, err := sftp.NewClient(c.client)
	if err != nil {
		return fmt.Errorf("starting SFTP (the host's sshd needs an sftp Subsystem): %w", err)
	}
	c.sftp = s
	out, err := c.output(ctx, probeScript)
	if err != nil {
		return fmt.Errorf("probing the host: %w", err)
	}
	word, p, _ := strings.Cut(strings.TrimSpace(out), " ")
	if word != "setsid" || !strings.HasPrefix(p, "/") {
		return errors.New("the host has no setsid command (util-linux), which the ssh backend needs to give each task its own process group")
	}
	c.setsid = p
	return nil
}

// close ends the connection. The SSH connection goes first: closing the
// SFTP client waits for its session to end, which a host that stopped
// answering would never confirm.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.client.Close()
		if c.sftp != nil {
			c.sftp.Close()
		}
	})
}

// closeReason says why the connection ended; call after closed is closed.
func (c *conn) closeReason() string {
	if c.waitErr == nil {
		return "the host closed it"
	}
	return c.waitErr.Error()
}

// lost is the *lostError c was written off with, or nil.
func (c *conn) lost() *lostError {
	if c.ctx.Err() == nil {
		return nil
	}
	le, _ := context.Cause(c.ctx).(*lostError)
	return le
}

// keepalive sends one keepalive request and waits for the answer. OpenSSH
// answers keepalive@openssh.com with a failure, which is still an answer.
func (c *conn) keepalive() error {
	_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
	return err
}

// session opens a session once a session slot is free. release closes the
// session and frees the slot.
func (c *conn) session(ctx context.Context) (s *gossh.Session, release func(), err error) {
	select {
	case c.sessions <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, context.Cause(ctx)
	case <-c.ctx.Done():
		return nil, nil, context.Cause(c.ctx)
	}
	s, err = c.client.NewSession()
	if err != nil {
		<-c.sessions
		var oc *gossh.OpenChannelError
		if errors.As(err, &oc) && oc.Reason == gossh.Prohibited {
			err = fmt.Errorf("%w (the host's sshd allows fewer sessions per connection than ssh.WithMaxSessions; raise its MaxSessions)", err)
		}
		return nil, nil, err
	}
	return s, func() { s.Close(); <-c.sessions }, nil
}

// output runs script with args on the host and returns its standard
// output. A non-zero exit is an error carrying its standard error.
// Cancelling ctx closes the session.
func (c *conn) output(ctx context.Context, script string, args ...string) (string, error) {
	cmd, err := remoteCommand(script, args...)
	if err != nil {
		return "", err
	}
	s, release, err := c.session(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	var stdout strings.Builder
	stderr := &limitedBuffer{max: 4096}
	s.Stdout = &stdout
	s.Stderr = stderr
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	if err := s.Run(cmd); err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("%w: %s", err, msg)
		}
		return "", err
	}
	return stdout.String(), nil
}

// prepare readies a node root on the host (see prepareScript).
func (c *conn) prepare(ctx context.Context, nodeRoot string) error {
	out, err := c.output(ctx, prepareScript, nodeRoot)
	if err != nil {
		return fmt.Errorf("creating node directory %s: %w", nodeRoot, err)
	}
	if strings.TrimSpace(out) != "ok" {
		return fmt.Errorf("creating node directory %s: unexpected answer %q", nodeRoot, out)
	}
	return nil
}

// limitedBuffer keeps the first max bytes written to it and drops the
// rest, for error messages.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// lineReader splits a session's standard output into lines.
func lineReader(r interface{ Read([]byte) (int, error) }) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	return sc
}
