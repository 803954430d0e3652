package proglog_test

import (
	"fmt"
	"math/rand"
	"net"
	"os"
	"sync"
	"testing"
)

// Loopback ports for test nodes that must be told theirs before they start (a
// node restarted on its address, or one whose gossip address another node is
// given). Until the node binds the port anything may take it; the commonest
// taker is an outgoing connection, whose local port the kernel draws from its
// ephemeral range. So ports come at random from outside that range, are
// checked free, and are never handed out twice by one test binary.

var (
	portsMu        sync.Mutex
	portsHandedOut = map[int]bool{}
)

// ephemeralRange is the kernel's range for outgoing connections' local ports.
func ephemeralRange() (low, high int) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if _, err := fmt.Sscan(string(data), &low, &high); err == nil && low > 0 && high >= low {
			return low, high
		}
	}
	return 32768, 60999 // Linux's default
}

// pickRange is the wider side of the ephemeral range, from 10000 (below it
// live well-known services) to 65535.
func pickRange() (low, high int) {
	const floor, ceiling = 10000, 65535
	eLow, eHigh := ephemeralRange()
	if eLow-floor >= ceiling-eHigh {
		return floor, eLow - 1
	}
	return eHigh + 1, ceiling
}

func bindable(network string, port int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if network == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freePort is a 127.0.0.1 port outside the ephemeral range, free for TCP (and
// for UDP too with udpToo, as gossip binds both) a moment ago.
func freePort(t *testing.T, udpToo bool) int {
	t.Helper()
	low, high := pickRange()
	portsMu.Lock()
	defer portsMu.Unlock()
	for i := 0; i < 500; i++ {
		port := low + rand.Intn(high-low+1)
		if portsHandedOut[port] || !bindable("tcp", port) || (udpToo && !bindable("udp", port)) {
			continue
		}
		portsHandedOut[port] = true
		return port
	}
	t.Fatalf("no free loopback port in %d-%d after 500 tries", low, high)
	return 0
}

func TestFreePortIsOutsideTheEphemeralRangeAndNeverRepeats(t *testing.T) {
	low, high := ephemeralRange()
	seen := map[int]bool{}
	for i := 0; i < 100; i++ {
		port := freePort(t, i%2 == 0)
		if port >= low && port <= high {
			t.Fatalf("port %d is in the ephemeral range %d-%d", port, low, high)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
	}
}
