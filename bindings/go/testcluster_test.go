package proglog_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	proglog "github.com/proglog/proglog/bindings/go"
)

// testCluster is three (or more) `proglog serve` processes on loopback, each
// on fixed free ports so that a killed node restarts on the same addresses
// and data dir. The first node bootstraps; the others join it by gossip.
type testCluster struct {
	t     *testing.T
	bin   string
	dir   string
	nodes []*clusterProc
}

// clusterProc is one node of a testCluster and its latest process.
type clusterProc struct {
	name        string
	dataDir     string
	rpcAddr     string // 127.0.0.1:<fixed port>
	gossipAddr  string
	metricsAddr string // logged by the latest process (port 0 picks a free one)

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	lines  []string         // of every process of this node, restarts included
	events []map[string]any // the JSON ones
	since  int              // events before this index are from earlier processes
}

// startTestCluster starts n nodes and waits until they all are voters with
// one leader. It fails the test without PROGLOG_BIN.
func startTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	bin := os.Getenv("PROGLOG_BIN")
	if bin == "" {
		t.Fatal("PROGLOG_BIN must name the built proglog binary (bindings/go/run-tests.sh sets it)")
	}
	c := &testCluster{t: t, bin: bin, dir: t.TempDir()}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("n%d", i+1)
		c.nodes = append(c.nodes, &clusterProc{
			name:       name,
			dataDir:    filepath.Join(c.dir, name),
			rpcAddr:    fmt.Sprintf("127.0.0.1:%d", freePort(t, false)),
			gossipAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t, true)),
		})
	}
	t.Cleanup(func() {
		for _, p := range c.nodes {
			p.kill()
		}
	})
	c.start(c.nodes[0], true)
	for _, p := range c.nodes[1:] {
		c.start(p, false)
	}
	c.waitFormed()
	return c
}

// start runs p's process; a joining node joins every other live node.
func (c *testCluster) start(p *clusterProc, bootstrap bool) {
	c.t.Helper()
	_, port, _ := net.SplitHostPort(p.rpcAddr)
	args := []string{"serve", "--data-dir", p.dataDir, "--node-name", p.name, "--rpc-port", port,
		"--bind-addr", p.gossipAddr, "--metrics-addr", "127.0.0.1:0", "--log-format", "json"}
	if bootstrap {
		args = append(args, "--bootstrap")
	} else {
		var joins []string
		for _, q := range c.nodes {
			if q != p && q.alive() {
				joins = append(joins, q.gossipAddr)
			}
		}
		args = append(args, "--start-join-addrs", strings.Join(joins, ","))
	}
	cmd := exec.Command(c.bin, args...)
	// Should this test process die without its cleanups, the node dies too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", c.bin, err)
	}
	p.mu.Lock()
	p.cmd, p.exited, p.since = cmd, make(chan struct{}), len(p.events)
	p.mu.Unlock()
	go p.collect(stderr, cmd, p.exited)
	serving := p.waitEvent(c.t, "serving")
	p.metricsAddr = fmt.Sprint(serving["metrics_addr"])
}

// collect keeps the process's log lines, then reaps it.
func (p *clusterProc) collect(stderr io.Reader, cmd *exec.Cmd, exited chan struct{}) {
	scanner := bufio.NewScanner(stderr)
	for scanner.Scan() {
		var event map[string]any
		_ = json.Unmarshal(scanner.Bytes(), &event)
		p.mu.Lock()
		p.lines = append(p.lines, scanner.Text())
		if event != nil {
			p.events = append(p.events, event)
		}
		p.mu.Unlock()
	}
	cmd.Wait()
	close(exited)
}

func (p *clusterProc) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// waitEvent waits for a JSON log line of the latest process whose msg is msg.
func (p *clusterProc) waitEvent(t *testing.T, msg string) map[string]any {
	t.Helper()
	var found map[string]any
	eventually(t, p.name+" to log "+msg, func() (bool, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.events[p.since:] {
			if e["msg"] == msg {
				found = e
				return true, nil
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before logging %q:\n%s", p.name, msg, strings.Join(p.lines, "\n"))
		default:
		}
		return false, nil
	})
	return found
}

// loggedPrefix says whether any process of p logged a msg starting so.
func (p *clusterProc) loggedPrefix(prefix string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.events {
		if strings.HasPrefix(fmt.Sprint(e["msg"]), prefix) {
			return true
		}
	}
	return false
}

// kill sends SIGKILL and waits for the process to be gone. No-op if dead.
func (p *clusterProc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// restart starts a killed node again on its data dir and ports.
func (c *testCluster) restart(p *clusterProc) {
	c.t.Helper()
	if p.alive() {
		c.t.Fatalf("%s is still running", p.name)
	}
	c.start(p, false)
}

// waitFormed waits until the live nodes all are voters and a client sees
// them all, with one leader; it returns the leader.
func (c *testCluster) waitFormed() *clusterProc {
	c.t.Helper()
	var live []*clusterProc
	for _, p := range c.nodes {
		if p.alive() {
			live = append(live, p)
		}
	}
	eventually(c.t, "every live node to be a voter", func() (bool, error) {
		for _, p := range live {
			promoted := false
			for _, q := range c.nodes {
				promoted = promoted || q.loggedPrefix("raft: promoting "+p.name+" ")
			}
			if !promoted && p != c.nodes[0] {
				return false, nil
			}
		}
		return true, nil
	})
	var leader *clusterProc
	eventually(c.t, "every live node to agree on one leader", func() (bool, error) {
		leader = nil
		for _, p := range live {
			l, err := c.leaderSeenBy(p)
			if err != nil || l == nil || (leader != nil && l != leader) {
				return false, err
			}
			leader = l
		}
		return true, nil
	})
	return leader
}

// leaderSeenBy is the leader in GetServers as answered for a client that
// knows only p (the client may ask another server: it learns the cluster);
// nil if the list does not hold every live node or names no leader.
func (c *testCluster) leaderSeenBy(p *clusterProc) (*clusterProc, error) {
	client, err := proglog.Dial(context.Background(), []string{p.rpcAddr},
		proglog.WithTimeout(2*time.Second), proglog.WithMaxAttempts(1))
	if err != nil {
		return nil, err
	}
	defer client.Close()
	servers, err := client.Servers(context.Background())
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	var leader *clusterProc
	for _, s := range servers {
		listed[s.RPCAddr] = true
		if s.IsLeader {
			leader = c.byAddr(s.RPCAddr)
		}
	}
	for _, q := range c.nodes {
		if q.alive() && !listed[q.rpcAddr] {
			return nil, nil
		}
	}
	return leader, nil
}

func (c *testCluster) byAddr(addr string) *clusterProc {
	for _, p := range c.nodes {
		if p.rpcAddr == addr {
			return p
		}
	}
	return nil
}

// followers are the live nodes other than leader.
func (c *testCluster) followers(leader *clusterProc) []*clusterProc {
	var out []*clusterProc
	for _, p := range c.nodes {
		if p != leader && p.alive() {
			out = append(out, p)
		}
	}
	return out
}

// metrics reads p's /metrics and returns the sum of the samples of `name`
// whose labels include every label in `labels` (`key="value"` strings).
func (p *clusterProc) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("metrics of %s: %v", p.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("metrics of %s: %v", p.name, err)
	}
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		matches := true
		for _, l := range labels {
			matches = matches && strings.Contains(line, l)
		}
		if !matches {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("metrics of %s: bad sample %q", p.name, line)
		}
		sum += v
	}
	return sum
}

// servedConsumes is how many Consume calls p answered with OK.
func (p *clusterProc) servedConsumes(t *testing.T) float64 {
	return p.metric(t, "grpc_server_handled_total", `grpc_method="Consume"`, `grpc_code="OK"`)
}

// openStreams is how many ConsumeBatchStream calls p has started and not finished.
func (p *clusterProc) openStreams(t *testing.T) float64 {
	started := p.metric(t, "grpc_server_started_total", `grpc_method="ConsumeBatchStream"`)
	return started - p.metric(t, "grpc_server_handled_total", `grpc_method="ConsumeBatchStream"`)
}

// waitApplied waits until every live node has applied every record the
// leader acknowledged so far. It first has the leader acknowledge a record of
// its own (a restarted leader only learns how far the log is committed by
// committing an entry of its term), then waits for each node's applied index
// to reach the highest commit index of the live nodes, the leader's.
func (c *testCluster) waitApplied() {
	c.t.Helper()
	var addrs []string
	for _, p := range c.nodes {
		addrs = append(addrs, p.rpcAddr)
	}
	client, err := proglog.Dial(context.Background(), addrs)
	if err != nil {
		c.t.Fatal(err)
	}
	defer client.Close()
	eventually(c.t, "the leader to acknowledge a record", func() (bool, error) {
		_, err := client.Produce(context.Background(), []byte("barrier"))
		return err == nil, err
	})
	target := 0.0
	for _, p := range c.nodes {
		if p.alive() {
			target = max(target, p.metric(c.t, "proglog_raft_commit_index"))
		}
	}
	for _, p := range c.nodes {
		if !p.alive() {
			continue
		}
		eventually(c.t, p.name+" to apply the leader's commits", func() (bool, error) {
			return p.metric(c.t, "proglog_raft_applied_index") >= target, nil
		})
	}
}
