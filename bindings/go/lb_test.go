package proglog_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	proglog "github.com/proglog/proglog/bindings/go"
)

// TestLoadBalancingClientOnThreeNodes runs the client against three `proglog`
// processes: discovery from one address, reads spread over the followers, a
// stream that outlives its server, and a produce loop that outlives the
// leader. The subtests share the cluster and run in order.
func TestLoadBalancingClientOnThreeNodes(t *testing.T) {
	c := startTestCluster(t, 3)
	t.Run("DeadAddressPlusLiveOneWorks", func(t *testing.T) { deadAddressPlusLiveOne(t, c) })
	t.Run("PinnedClientReportsTheLeader", func(t *testing.T) { pinnedClientReportsTheLeader(t, c) })
	t.Run("ConsumesAreSpreadOverFollowers", func(t *testing.T) { consumesSpreadOverFollowers(t, c) })
	t.Run("StreamContinuesOnAnotherNode", func(t *testing.T) { streamContinuesOnAnotherNode(t, c) })
	t.Run("ProduceLoopOutlivesTheLeader", func(t *testing.T) { produceLoopOutlivesTheLeader(t, c) })
}

func dialOpts(t *testing.T, addrs []string, opts ...proglog.Option) *proglog.Client {
	t.Helper()
	client, err := proglog.Dial(context.Background(), addrs, opts...)
	if err != nil {
		t.Fatalf("Dial(%v): %v", addrs, err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func deadAddressPlusLiveOne(t *testing.T, c *testCluster) {
	leader := c.waitFormed()
	follower := c.followers(leader)[0]
	client := dialOpts(t, []string{deadAddr(t), follower.rpcAddr})
	ctx := context.Background()
	offset, err := client.Produce(ctx, []byte("through a dead and a live address"))
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	eventually(t, "the record to read back", func() (bool, error) {
		rec, err := client.Consume(ctx, offset)
		return err == nil && string(rec.Value) == "through a dead and a live address", err
	})
	servers, err := client.Servers(ctx)
	if err != nil || len(servers) != 3 {
		t.Fatalf("Servers: %+v, %v; want the 3 nodes", servers, err)
	}
	for _, s := range servers {
		if s.IsLeader != (s.RPCAddr == leader.rpcAddr) {
			t.Fatalf("Servers: %+v; want only %s (%s) flagged leader", servers, leader.name, leader.rpcAddr)
		}
	}
}

func pinnedClientReportsTheLeader(t *testing.T, c *testCluster) {
	leader := c.waitFormed()
	follower := c.followers(leader)[0]
	client := dialOpts(t, []string{follower.rpcAddr}, proglog.WithBalancePolicy(proglog.Pinned))
	_, err := client.Produce(context.Background(), []byte("refused"))
	var perr *proglog.Error
	if !errors.Is(err, proglog.ErrNotLeader) || !errors.As(err, &perr) || perr.Leader != leader.rpcAddr ||
		perr.OutcomeUnknown {
		t.Fatalf("Produce pinned to follower %s: %v; want ErrNotLeader naming %s, nothing appended",
			follower.name, err, leader.rpcAddr)
	}
}

func consumesSpreadOverFollowers(t *testing.T, c *testCluster) {
	leader := c.waitFormed()
	ctx := context.Background()
	writer := dialOpts(t, []string{leader.rpcAddr})
	var offsets []uint64
	for i := 0; i < 10; i++ {
		off, err := writer.Produce(ctx, []byte(fmt.Sprintf("spread-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, off)
	}
	// Every node has the records: no follower answers out of range, which
	// would send the read to the leader.
	c.waitApplied()

	// countReads does `reads` consumes through a client of the given policy
	// and returns how many each node served.
	countReads := func(policy proglog.BalancePolicy, reads int) map[*clusterProc]float64 {
		client := dialOpts(t, []string{leader.rpcAddr}, proglog.WithBalancePolicy(policy))
		before := map[*clusterProc]float64{}
		for _, p := range c.nodes {
			before[p] = p.servedConsumes(t)
		}
		for i := 0; i < reads; i++ {
			off := offsets[i%len(offsets)]
			rec, err := client.Consume(ctx, off)
			if err != nil || string(rec.Value) != fmt.Sprintf("spread-%d", i%len(offsets)) {
				t.Fatalf("Consume(%d) with %v: %q, %v", off, policy, rec.Value, err)
			}
		}
		served := map[*clusterProc]float64{}
		for _, p := range c.nodes {
			served[p] = p.servedConsumes(t) - before[p]
		}
		return served
	}

	const reads = 100
	served := countReads(proglog.FollowerReads, reads)
	followers := c.followers(leader)
	t.Logf("FollowerReads, %d consumes served: leader %s %v, followers %s %v and %s %v", reads,
		leader.name, served[leader], followers[0].name, served[followers[0]], followers[1].name,
		served[followers[1]])
	if served[leader] != 0 {
		t.Errorf("the leader served %v consumes with FollowerReads, want 0", served[leader])
	}
	for _, f := range followers {
		if served[f] < reads/4 {
			t.Errorf("follower %s served %v of %d consumes: not spread", f.name, served[f], reads)
		}
	}
	if total := served[followers[0]] + served[followers[1]]; total != reads {
		t.Errorf("followers served %v consumes, want %d", total, reads)
	}

	served = countReads(proglog.LeaderReads, 20)
	t.Logf("LeaderReads, 20 consumes served: leader %v, followers %v and %v",
		served[leader], served[followers[0]], served[followers[1]])
	if served[leader] != 20 || served[followers[0]] != 0 || served[followers[1]] != 0 {
		t.Errorf("LeaderReads: leader served %v, followers %v and %v; want 20, 0, 0",
			served[leader], served[followers[0]], served[followers[1]])
	}
}

// streamServer is the one node with an open ConsumeBatchStream.
func streamServer(t *testing.T, c *testCluster) *clusterProc {
	t.Helper()
	var server *clusterProc
	eventually(t, "one node to serve the stream", func() (bool, error) {
		server = nil
		for _, p := range c.nodes {
			if !p.alive() || p.openStreams(t) == 0 {
				continue
			}
			if server != nil {
				return false, fmt.Errorf("%s and %s both serve a stream", server.name, p.name)
			}
			server = p
		}
		return server != nil, nil
	})
	return server
}

func streamContinuesOnAnotherNode(t *testing.T, c *testCluster) {
	leader := c.waitFormed()
	ctx := context.Background()
	client := dialOpts(t, []string{leader.rpcAddr})
	value := func(i int) string { return fmt.Sprintf("stream-%d", i) }
	var first uint64
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			off, err := client.Produce(ctx, []byte(value(i)))
			if err != nil {
				t.Fatalf("Produce %d: %v", i, err)
			}
			if i == 0 {
				first = off
			} else if off != first+uint64(i) {
				t.Fatalf("Produce %d got offset %d, want %d", i, off, first+uint64(i))
			}
		}
	}
	produce(0, 100)
	stream, err := client.Stream(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	next := 0
	read := func(to int) {
		for ; next < to; next++ {
			nextCtx, cancel := context.WithTimeout(ctx, clusterTimeout)
			rec, err := stream.Next(nextCtx)
			cancel()
			if err != nil || rec.Offset != first+uint64(next) || string(rec.Value) != value(next) {
				t.Fatalf("record %d: offset %d %q, %v; want offset %d %q", next, rec.Offset, rec.Value,
					err, first+uint64(next), value(next))
			}
		}
	}
	read(50)
	victim := streamServer(t, c)
	t.Logf("the stream reads from %s (leader: %s); killing it", victim.name, leader.name)
	victim.kill()
	produce(100, 150)
	read(150) // 50 that were in the log before the kill, 50 written after it
	if now := streamServer(t, c); now == victim {
		t.Fatalf("the stream still reads from %s", victim.name)
	} else {
		t.Logf("the stream carried on from %s without gap or duplicate", now.name)
	}
	c.restart(victim)
	c.waitFormed()
}

func produceLoopOutlivesTheLeader(t *testing.T, c *testCluster) {
	const total, killAfter = 5000, 1000
	leader := c.waitFormed()
	follower := c.followers(leader)[0]
	client := dialOpts(t, []string{follower.rpcAddr}) // the library defaults
	ctx := context.Background()
	value := func(i int) string { return fmt.Sprintf("loop-%05d", i) }

	valueAt := map[uint64]string{} // every offset a produce returned
	var loopRetries, outcomeUnknown int
	var killedAt, giveUpAt time.Time
	var failover time.Duration
	started := time.Now()
	for i := 0; i < total; i++ {
		for {
			callStart := time.Now()
			off, err := client.Produce(ctx, []byte(value(i)))
			if err == nil {
				if prev, dup := valueAt[off]; dup {
					t.Fatalf("offset %d returned for %s and %s", off, prev, value(i))
				}
				valueAt[off] = value(i)
				if !killedAt.IsZero() && failover == 0 {
					failover = time.Since(killedAt)
				}
				break
			}
			// The client's own retries ran out (attempts or deadline): the
			// loop retries what may succeed later, and counts it.
			var perr *proglog.Error
			if !errors.As(err, &perr) || !perr.Retryable {
				t.Fatalf("produce %d failed for good: %v", i, err)
			}
			loopRetries++
			if perr.OutcomeUnknown {
				outcomeUnknown++ // retrying it may append the value twice
			}
			if loopRetries == 1 || perr.OutcomeUnknown {
				t.Logf("produce %d: the client gave up after %v: %v", i,
					time.Since(callStart).Round(time.Millisecond), err)
			}
			if giveUpAt.IsZero() {
				giveUpAt = time.Now().Add(clusterTimeout)
			} else if time.Now().After(giveUpAt) {
				t.Fatalf("produce %d still fails after %v and %d retries: %v", i, clusterTimeout,
					loopRetries, err)
			}
			time.Sleep(20 * time.Millisecond) // as eventually polls
		}
		if i+1 == killAfter {
			leader.kill()
			killedAt = time.Now()
		}
	}
	elapsed := time.Since(started)
	t.Logf("%d produces through %s in %v; leader %s killed (SIGKILL) after %d; first success "+
		"%v after the kill; the loop retried %d time(s) after the client gave up, %d with an "+
		"unknown outcome", total, follower.name, elapsed.Round(time.Millisecond), leader.name,
		killAfter, failover.Round(time.Millisecond), loopRetries, outcomeUnknown)

	checkEveryNodeHolds(t, c, valueAt)
}

// checkEveryNodeHolds restarts the killed nodes, waits until every node has
// applied what the leader acknowledged, then reads the records from each node
// through a client pinned to it, and checks with the nodes' /metrics that
// this node, and no other, served the stream.
func checkEveryNodeHolds(t *testing.T, c *testCluster, valueAt map[uint64]string) {
	first, last := ^uint64(0), uint64(0)
	for off := range valueAt {
		first, last = min(first, off), max(last, off)
	}
	for _, p := range c.nodes {
		if !p.alive() {
			c.restart(p)
		}
	}
	c.waitFormed()
	c.waitApplied()
	for _, node := range c.nodes {
		streams := func() map[*clusterProc]float64 {
			started := map[*clusterProc]float64{}
			for _, p := range c.nodes {
				started[p] = p.metric(t, "grpc_server_started_total", `grpc_method="ConsumeBatchStream"`)
			}
			return started
		}
		before := streams()
		held, duplicates := readLog(t, node, first, last)
		after := streams()
		for _, p := range c.nodes {
			if want := map[bool]float64{true: 1, false: 0}[p == node]; after[p]-before[p] != want {
				t.Fatalf("reading %s pinned: %s started %v streams, want %v", node.name, p.name,
					after[p]-before[p], want)
			}
		}
		for off, want := range valueAt {
			if held[off] != want {
				t.Fatalf("%s holds %q at offset %d, want %q", node.name, held[off], off, want)
			}
		}
		t.Logf("%s holds all %d acknowledged records at their offsets (%d record(s) between "+
			"them repeat a value)", node.name, len(valueAt), duplicates)
	}
}

// readLog reads offsets first..last from node p through a client pinned to
// it, and counts values that appear more than once.
func readLog(t *testing.T, p *clusterProc, first, last uint64) (map[uint64]string, int) {
	t.Helper()
	client := dialOpts(t, []string{p.rpcAddr}, proglog.WithBalancePolicy(proglog.Pinned))
	ctx := context.Background()
	stream, err := client.Stream(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	held := map[uint64]string{}
	seen := map[string]bool{}
	duplicates := 0
	for off := first; off <= last; off++ {
		nextCtx, cancel := context.WithTimeout(ctx, clusterTimeout)
		rec, err := stream.Next(nextCtx)
		cancel()
		if err != nil || rec.Offset != off {
			t.Fatalf("reading %s at offset %d: got offset %d, %v", p.name, off, rec.Offset, err)
		}
		held[off] = string(rec.Value)
		if seen[string(rec.Value)] {
			duplicates++
		}
		seen[string(rec.Value)] = true
	}
	return held, duplicates
}
