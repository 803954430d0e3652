package proglog_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	proglog "github.com/proglog/proglog/bindings/go"
)

// gossipKey is a 16-byte gossip key in base64, as `serf keygen` prints one.
const gossipKey = "AAECAwQFBgcICQoLDA0ODw=="

// clusterTimeout bounds an election, a member's admission or a replication.
const clusterTimeout = 30 * time.Second

// eventually polls cond until it returns true or clusterTimeout passes.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(clusterTimeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last error: %v)", clusterTimeout, what, lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// produceOnceLeader produces as soon as the cluster has a leader; refusals
// before that are retryable.
func produceOnceLeader(t *testing.T, client *proglog.Client, value string) uint64 {
	t.Helper()
	var offset uint64
	eventually(t, "a leader to take the produce", func() (bool, error) {
		var err error
		offset, err = client.Produce(context.Background(), []byte(value))
		var perr *proglog.Error
		if err != nil && (!errors.As(err, &perr) || !perr.Retryable) {
			t.Fatalf("Produce failed for good: %v", err)
		}
		return err == nil, err
	})
	return offset
}

func TestClusterNodeBootstrapsAndLeads(t *testing.T) {
	node, err := proglog.OpenNode(proglog.NodeConfig{
		DataDir: filepath.Join(t.TempDir(), "data"),
		Name:    "go-leader",
		Cluster: &proglog.ClusterConfig{
			BindAddr:          "127.0.0.1:0",
			Bootstrap:         true,
			GossipKey:         gossipKey,
			HeartbeatInterval: 20 * time.Millisecond,
			ElectionTimeout:   200 * time.Millisecond,
		},
	})
	if err != nil {
		t.Fatalf("OpenNode: %v", err)
	}
	defer node.Close()
	if g := node.GossipAddr(); !strings.HasPrefix(g, "127.0.0.1:") || g == "127.0.0.1:0" {
		t.Fatalf("GossipAddr = %q, want the bound 127.0.0.1 port", g)
	}
	client := dial(t, node.Addr())
	ctx := context.Background()
	offset := produceOnceLeader(t, client, "replicated")
	if rec, err := client.Consume(ctx, offset); err != nil || string(rec.Value) != "replicated" {
		t.Fatalf("Consume = %q, %v", rec.Value, err)
	}
	if rec, err := node.Read(ctx, offset); err != nil || string(rec.Value) != "replicated" {
		t.Fatalf("Read = %q, %v", rec.Value, err)
	}
	servers, err := client.Servers(ctx)
	want := proglog.Server{ID: "go-leader", RPCAddr: node.Addr(), IsLeader: true}
	if err != nil || len(servers) != 1 || servers[0] != want {
		t.Fatalf("Servers = %+v, %v; want [%+v]", servers, err, want)
	}
}

func TestClusterNodeJoinsTheBinarysCluster(t *testing.T) {
	bin := startBinary(t)
	if bin == nil {
		t.Fatal("PROGLOG_BIN must name the built proglog binary (bindings/go/run-tests.sh sets it)")
	}
	if bin.gossipAddr == "" {
		t.Fatal("the binary logged no gossip address")
	}
	node, err := proglog.OpenNode(proglog.NodeConfig{
		DataDir: filepath.Join(t.TempDir(), "joiner"),
		Name:    "go-joiner",
		Cluster: &proglog.ClusterConfig{
			BindAddr:       "127.0.0.1:0",
			StartJoinAddrs: []string{bin.gossipAddr},
		},
	})
	if err != nil {
		t.Fatalf("OpenNode: %v", err)
	}
	defer node.Close()
	atBinary := dial(t, bin.addr)
	atNode := dial(t, node.Addr())
	ctx := context.Background()

	eventually(t, "the binary to list the embedded node", func() (bool, error) {
		servers, err := atBinary.Servers(ctx)
		ids := map[string]bool{}
		for _, s := range servers {
			ids[s.ID] = true
		}
		return len(servers) == 2 && ids["bin"] && ids["go-joiner"], err
	})
	offset := produceOnceLeader(t, atBinary, "from the binary")
	eventually(t, "the record to reach the embedded node", func() (bool, error) {
		local, err := node.Read(ctx, offset)
		if err != nil {
			return false, err
		}
		remote, err := atNode.Consume(ctx, offset)
		if err != nil {
			return false, err
		}
		return string(local.Value) == "from the binary" && string(remote.Value) == "from the binary", nil
	})
}

func TestClusterOptionErrorsNameTheOption(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		name    string
		cluster proglog.ClusterConfig
		want    string
	}{
		{"no bind address", proglog.ClusterConfig{}, "bind_addr"},
		{"malformed key", proglog.ClusterConfig{BindAddr: "127.0.0.1:0", GossipKey: "c2hvcnQ="}, "gossip_key"},
		{"empty join address", proglog.ClusterConfig{BindAddr: "127.0.0.1:0", StartJoinAddrs: []string{""}},
			"start_join_addrs[0]"},
		{"negative timeout", proglog.ClusterConfig{BindAddr: "127.0.0.1:0", ElectionTimeout: -time.Microsecond},
			"raft_election_timeout_ms"},
		{"half the peer TLS files", proglog.ClusterConfig{BindAddr: "127.0.0.1:0", PeerTLSCertFile: "c.pem"},
			"peer_tls_key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := tc.cluster
			node, err := proglog.OpenNode(proglog.NodeConfig{DataDir: dir, Cluster: &cluster})
			if err == nil {
				node.Close()
				t.Fatal("OpenNode succeeded")
			}
			if !errors.Is(err, proglog.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("OpenNode: %v; want ErrInvalidArgument naming %s", err, tc.want)
			}
		})
	}
}

func TestNodeWithoutClusterHasNoGossipAddr(t *testing.T) {
	if g := openNode(t).GossipAddr(); g != "" {
		t.Fatalf("GossipAddr = %q, want empty", g)
	}
}
