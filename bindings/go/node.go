package proglog

// #include <proglog/proglog.h>
// #include <stdlib.h>
// extern void goProglogLog(void*, int, char*, char**, char**, size_t);
import "C"

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// NodeConfig configures an embedded node. Zero values take the defaults.
type NodeConfig struct {
	DataDir        string // required; created if missing
	Name           string // node id in Servers; default: the host name
	Host           string // listen host; default "127.0.0.1"
	Port           int    // listen port; 0 picks a free one (see Addr)
	MaxStoreBytes  uint64 // segment store size; default 64 MiB
	MaxIndexBytes  uint64 // segment index size; default 1 MiB
	MaxRecordBytes uint64 // largest record; default 1 MiB
	Durability     string // "always" (default), "never" or "interval:<ms>"
	// Cluster makes the node a cluster member, as `proglog serve` runs it.
	// Nil: a single local log.
	Cluster *ClusterConfig
	// Security turns on mutual TLS for clients and the ACL. Nil: plaintext.
	Security *SecurityConfig
}

// SecurityConfig is client TLS and the ACL of an embedded node, like the
// `proglog serve` flags --server-tls-* and --acl-*. A partial or invalid set
// fails OpenNode with ErrInvalidArgument before the data dir is created.
type SecurityConfig struct {
	// ServerTLSCertFile, ServerTLSKeyFile and ServerTLSCAFile (PEM, all three
	// or none): the node serves TLS only and requires client certificates
	// signed by the CA.
	ServerTLSCertFile, ServerTLSKeyFile, ServerTLSCAFile string
	// ACLModelFile and ACLPolicyFile (both or none, only with TLS): the policy
	// authorizes each client certificate's Common Name to "produce" or
	// "consume". Node.ReloadACL re-reads them.
	ACLModelFile, ACLPolicyFile string
}

// ClusterConfig makes an embedded node a member of a cluster, like the
// `proglog serve` flags of the same names: it replicates its log with Raft
// (carried on its RPC port) and finds the other members by gossip, so it can
// bootstrap or join a cluster of proglog binaries. Zero values take the
// library defaults. OpenNode returns without waiting for the join or for a
// leader: Append fails with ErrNotLeader (or ErrUnavailable) until this node
// leads.
type ClusterConfig struct {
	// BindAddr is the gossip address "ip:port" (required); port 0 picks a free
	// one (see Node.GossipAddr).
	BindAddr string
	// AdvertiseHost is the host other nodes and clients use to reach the RPC
	// port; "" uses NodeConfig.Host (required when that is a wildcard).
	AdvertiseHost string
	// StartJoinAddrs are gossip addresses of members to join, retried in the
	// background.
	StartJoinAddrs []string
	// Bootstrap starts a one-voter cluster when the data dir is new.
	Bootstrap bool
	// GossipKey is the shared gossip encryption key in base64, as `serf keygen`
	// prints it; "" gossips unencrypted.
	GossipKey string
	// HeartbeatInterval and ElectionTimeout are the Raft timing (whole
	// milliseconds); 0 takes the library defaults. The timeout must be at least
	// twice the interval.
	HeartbeatInterval time.Duration
	ElectionTimeout   time.Duration
	// PeerTLSCertFile, PeerTLSKeyFile and PeerTLSCAFile turn on mutual TLS for
	// Raft between nodes (PEM files, all three or none).
	PeerTLSCertFile, PeerTLSKeyFile, PeerTLSCAFile string
}

// Node is a proglog node embedded in this process. Safe for concurrent use.
type Node struct {
	mu         sync.RWMutex // held for reading by calls, for writing by Close
	node       *C.proglog_node
	addr       string
	gossipAddr string
}

// OpenNode opens (or recovers) the log in cfg.DataDir and starts serving.
func OpenNode(cfg NodeConfig) (*Node, error) {
	var opts C.proglog_node_options
	C.proglog_node_options_init(&opts, C.PROGLOG_NODE_OPTIONS_VERSION)
	var strs cStrings
	defer func() { strs.free() }()
	cstr := strs.of
	opts.data_dir = cstr(cfg.DataDir)
	opts.node_name = cstr(cfg.Name)
	opts.rpc_host = cstr(cfg.Host)
	opts.rpc_port = C.int(cfg.Port)
	opts.max_store_bytes = C.uint64_t(cfg.MaxStoreBytes)
	opts.max_index_bytes = C.uint64_t(cfg.MaxIndexBytes)
	opts.max_record_bytes = C.uint64_t(cfg.MaxRecordBytes)
	opts.durability = cstr(cfg.Durability)
	if c := cfg.Cluster; c != nil {
		opts.cluster = 1
		opts.bind_addr = cstr(c.BindAddr)
		opts.advertise_host = cstr(c.AdvertiseHost)
		if n := len(c.StartJoinAddrs); n > 0 {
			// The array lives in C memory: it holds C pointers only.
			carr := (**C.char)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
			defer C.free(unsafe.Pointer(carr))
			slots := unsafe.Slice(carr, n)
			for i, a := range c.StartJoinAddrs {
				// Through C.CString, not strs.of: an empty address must reach
				// the C API (which rejects it) rather than become NULL.
				slots[i] = C.CString(a)
				strs = append(strs, slots[i])
			}
			opts.start_join_addrs = carr
			opts.start_join_addr_count = C.size_t(n)
		}
		if c.Bootstrap {
			opts.bootstrap = 1
		}
		opts.gossip_key = cstr(c.GossipKey)
		opts.raft_heartbeat_interval_ms = C.int64_t(durationMs(c.HeartbeatInterval))
		opts.raft_election_timeout_ms = C.int64_t(durationMs(c.ElectionTimeout))
		opts.peer_tls_cert_file = cstr(c.PeerTLSCertFile)
		opts.peer_tls_key_file = cstr(c.PeerTLSKeyFile)
		opts.peer_tls_ca_file = cstr(c.PeerTLSCAFile)
	}

	if s := cfg.Security; s != nil {
		opts.server_tls_cert_file = cstr(s.ServerTLSCertFile)
		opts.server_tls_key_file = cstr(s.ServerTLSKeyFile)
		opts.server_tls_ca_file = cstr(s.ServerTLSCAFile)
		opts.acl_model_file = cstr(s.ACLModelFile)
		opts.acl_policy_file = cstr(s.ACLPolicyFile)
	}

	var cnode *C.proglog_node
	var cerr *C.proglog_error
	if err := fromC(C.proglog_node_open(&cnode, &opts, &cerr), &cerr); err != nil {
		return nil, err
	}
	n := &Node{
		node:       cnode,
		addr:       C.GoString(C.proglog_node_address(cnode)),
		gossipAddr: C.GoString(C.proglog_node_gossip_address(cnode)),
	}
	runtime.SetFinalizer(n, func(n *Node) { n.Close() })
	return n, nil
}

// durationMs is d in whole milliseconds for the C API, rounded away from zero
// so that only d == 0 becomes 0 (the library default); the C API rejects
// negative values.
func durationMs(d time.Duration) int64 {
	ms := d.Milliseconds()
	if d%time.Millisecond != 0 {
		if d > 0 {
			ms++
		} else {
			ms--
		}
	}
	return ms
}

// Addr is the "host:port" the node serves on (for a cluster node, as
// advertised to the others).
func (n *Node) Addr() string { return n.addr }

// GossipAddr is the gossip "ip:port" of a cluster node, what other members put
// in their StartJoinAddrs; "" for a node without NodeConfig.Cluster.
func (n *Node) GossipAddr() string { return n.gossipAddr }

// Append appends a record locally and returns its offset once it is durable
// (on a cluster node: once Raft committed it; a follower refuses with
// ErrNotLeader).
func (n *Node) Append(ctx context.Context, value []byte) (uint64, error) {
	var offset uint64
	err := call(ctx, func() error {
		n.mu.RLock()
		defer n.mu.RUnlock()
		if n.node == nil {
			return closedError()
		}
		var out C.uint64_t
		var cerr *C.proglog_error
		rc := C.proglog_node_append(&out, n.node, bytesPtr(value), C.size_t(len(value)), &cerr)
		runtime.KeepAlive(value)
		offset = uint64(out)
		return fromC(rc, &cerr)
	})
	return offset, err
}

// Read reads the record at offset locally; ErrOffsetOutOfRange if there is none.
func (n *Node) Read(ctx context.Context, offset uint64) (Record, error) {
	var record Record
	err := call(ctx, func() error {
		n.mu.RLock()
		defer n.mu.RUnlock()
		if n.node == nil {
			return closedError()
		}
		var rec *C.proglog_record
		var cerr *C.proglog_error
		if err := fromC(C.proglog_node_read(&rec, n.node, C.uint64_t(offset), &cerr), &cerr); err != nil {
			return err
		}
		record = takeRecord(rec)
		return nil
	})
	return record, err
}

// ReloadACL re-reads the ACL files, as `proglog serve` does on SIGHUP. A
// policy that does not parse fails with ErrInvalidArgument and the policy in
// force stays; so does a node opened without an ACL.
func (n *Node) ReloadACL() error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.node == nil {
		return closedError()
	}
	var cerr *C.proglog_error
	return fromC(C.proglog_node_reload_acl(n.node, &cerr), &cerr)
}

// Close stops serving, closes the log and frees the node. Idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.node == nil {
		return nil
	}
	var cerr *C.proglog_error
	err := fromC(C.proglog_node_close(n.node, &cerr), &cerr)
	C.proglog_node_free(n.node)
	n.node = nil
	runtime.SetFinalizer(n, nil)
	return err
}

func closedError() error {
	return &Error{Code: C.PROGLOG_ECLOSED, Message: "closed"}
}

// logger receives the library's log records; nil discards them.
var logger atomic.Pointer[slog.Logger]

// SetLogger sends what the library logs (the embedded node, the clients and
// gRPC inside them) to l at Info level and above: a failed TLS handshake is
// the warning "TLS handshake failed" with "reason" and "peer" attributes. nil, the
// default, discards it; the library never writes to stdout or stderr itself.
// Records arrive in order on a library thread.
func SetLogger(l *slog.Logger) {
	logger.Store(l)
	if l == nil {
		C.proglog_set_log_handler(nil, 0, nil)
		return
	}
	C.proglog_set_log_handler(C.proglog_log_fn(unsafe.Pointer(C.goProglogLog)), C.PROGLOG_LOG_INFO, nil)
}

//export goProglogLog
func goProglogLog(_ unsafe.Pointer, level C.int, message *C.char, keys, values **C.char, count C.size_t) {
	l := logger.Load()
	if l == nil {
		return
	}
	n := int(count)
	var attrs []any
	if n > 0 {
		ks := unsafe.Slice(keys, n)
		vs := unsafe.Slice(values, n)
		for i := 0; i < n; i++ {
			attrs = append(attrs, slog.String(C.GoString(ks[i]), C.GoString(vs[i])))
		}
	}
	l.Log(context.Background(), slogLevel(int(level)), C.GoString(message), attrs...)
}

// slogLevel maps PROGLOG_LOG_* (Python's numbers) to slog's levels.
func slogLevel(level int) slog.Level {
	switch {
	case level >= int(C.PROGLOG_LOG_ERROR):
		return slog.LevelError
	case level >= int(C.PROGLOG_LOG_WARN):
		return slog.LevelWarn
	case level >= int(C.PROGLOG_LOG_INFO):
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}
