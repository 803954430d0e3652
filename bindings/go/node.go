package proglog

// #include <proglog/proglog.h>
// #include <stdlib.h>
import "C"

import (
	"context"
	"runtime"
	"sync"
)

// NodeConfig configures an embedded node. Zero values take the defaults.
type NodeConfig struct {
	DataDir        string // required; created if missing
	Name           string // node id in Servers; default "node"
	Host           string // listen host; default "127.0.0.1"
	Port           int    // listen port; 0 picks a free one (see Addr)
	MaxStoreBytes  uint64 // segment store size; default 64 MiB
	MaxIndexBytes  uint64 // segment index size; default 1 MiB
	MaxRecordBytes uint64 // largest record; default 1 MiB
	Durability     string // "always" (default), "never" or "interval:<ms>"
}

// Node is a proglog node embedded in this process. Safe for concurrent use.
type Node struct {
	mu   sync.RWMutex // held for reading by calls, for writing by Close
	node *C.proglog_node
	addr string
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

	var cnode *C.proglog_node
	var cerr *C.proglog_error
	if err := fromC(C.proglog_node_open(&cnode, &opts, &cerr), &cerr); err != nil {
		return nil, err
	}
	n := &Node{node: cnode, addr: C.GoString(C.proglog_node_address(cnode))}
	runtime.SetFinalizer(n, func(n *Node) { n.Close() })
	return n, nil
}

// Addr is the "host:port" the node serves on.
func (n *Node) Addr() string { return n.addr }

// Append appends a record locally and returns its offset once it is durable.
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
