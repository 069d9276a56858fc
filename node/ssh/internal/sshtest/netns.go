package sshtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Network is a small network of namespaces that a test creates and
// deletes: a client namespace holding a bridge at 10.201.0.1/24, and host
// namespaces, each joined to the bridge by a veth pair and addressed
// 10.201.0.11, 10.201.0.12, ... Nothing is configured in the test's own
// namespace: the backend reaches the hosts through Dial, which opens its
// sockets inside the client namespace, and the hosts reach each other
// through the bridge.
type Network struct {
	tb testing.TB
	// Client is the client namespace's name.
	Client string
	// Hosts are the host namespaces, in order.
	Hosts []NetHost
}

// NetHost is one host namespace.
type NetHost struct {
	Netns string
	IP    string
}

var networks atomic.Int32

// NewNetwork creates a client namespace and n host namespaces, deleted
// (after killing every process in them) when the test ends, even if it
// fails. Without root or iproute2 the test is skipped with the reason (or
// failed under EMBATCH_REQUIRE_SSHD=1).
func NewNetwork(tb testing.TB, n int) *Network {
	tb.Helper()
	if os.Geteuid() != 0 {
		Unavailable(tb, "network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		Unavailable(tb, "network namespaces need iproute2 (apt-get install iproute2)")
	}
	prefix := fmt.Sprintf("embatch-%d-%d", os.Getpid(), networks.Add(1))
	nw := &Network{tb: tb, Client: prefix + "-c"}
	if err := nw.add(nw.Client); err != nil {
		Unavailable(tb, "cannot create a network namespace: "+err.Error())
	}
	nw.ip(nw.Client, "link", "set", "lo", "up")
	nw.ip(nw.Client, "link", "add", "br0", "type", "bridge")
	nw.ip(nw.Client, "addr", "add", "10.201.0.1/24", "dev", "br0")
	nw.ip(nw.Client, "link", "set", "br0", "up")
	for i := 1; i <= n; i++ {
		h := NetHost{Netns: fmt.Sprintf("%s-h%d", prefix, i), IP: fmt.Sprintf("10.201.0.%d", 10+i)}
		if err := nw.add(h.Netns); err != nil {
			tb.Fatal(err)
		}
		veth := "vh" + strconv.Itoa(i)
		nw.ip(nw.Client, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.Netns)
		nw.ip(nw.Client, "link", "set", veth, "master", "br0", "up")
		nw.ip(h.Netns, "addr", "add", h.IP+"/24", "dev", "eth0")
		nw.ip(h.Netns, "link", "set", "eth0", "up")
		nw.ip(h.Netns, "link", "set", "lo", "up")
		nw.Hosts = append(nw.Hosts, h)
	}
	return nw
}

// add creates namespace name and registers its deletion.
func (nw *Network) add(name string) error {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	nw.tb.Cleanup(func() {
		for _, pid := range nw.Pids(name) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			nw.tb.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return nil
}

// ip runs "ip -n netns args..." and fails the test on error.
func (nw *Network) ip(netns string, args ...string) {
	nw.tb.Helper()
	out, err := exec.Command("ip", append([]string{"-n", netns}, args...)...).CombinedOutput()
	if err != nil {
		nw.tb.Fatalf("ip -n %s %s: %v: %s", netns, strings.Join(args, " "), err, out)
	}
}

// Pids lists the processes running in namespace name.
func (nw *Network) Pids(name string) []int {
	out, _ := exec.Command("ip", "netns", "pids", name).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// Dial opens a TCP connection from inside the client namespace: the socket
// is created by a thread that has entered the namespace, and stays in it.
// It suits ssh.WithDialer.
func (nw *Network) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread switches namespaces; if it cannot switch back it
		// must die with this goroutine, hence no UnlockOSThread then.
		runtime.LockOSThread()
		c, restored, err := dialIn(ctx, "/run/netns/"+nw.Client, network, addr)
		if restored {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// dialIn dials addr from the network namespace at nsPath on the calling
// (locked) thread and switches back; restored is false if it could not.
func dialIn(ctx context.Context, nsPath, network, addr string) (c net.Conn, restored bool, err error) {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, err
	}
	defer unix.Close(orig)
	target, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, err
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return nil, true, err
	}
	c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
	return c, unix.Setns(orig, unix.CLONE_NEWNET) == nil, err
}
