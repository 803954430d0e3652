package proglog

// #include <proglog/proglog.h>
// #include <stdlib.h>
//
// int produce_concatenated(uint64_t *out, proglog_client *client, const char *buf,
//                          const size_t *lens, size_t count, proglog_error **err);
import "C"

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Server is one server of the cluster, as GetServers reports it.
type Server struct {
	ID       string
	RPCAddr  string
	IsLeader bool
}

// TLSConfig names the PEM files for TLS. With no CAFile the system roots are
// used; CertFile and KeyFile (both or neither) present a client certificate.
type TLSConfig struct {
	CAFile, CertFile, KeyFile string
	ServerName                string // name to verify instead of the address's host
}

type dialOptions struct {
	timeout    time.Duration
	roundRobin bool
	tls        *TLSConfig
}

// Option configures Dial.
type Option func(*dialOptions)

// WithTimeout sets the deadline of each call (default 10s; 0 or less: none).
// A context deadline shortens it further.
func WithTimeout(d time.Duration) Option { return func(o *dialOptions) { o.timeout = d } }

// WithRoundRobin spreads reads over all addresses; writes go to the leader.
func WithRoundRobin() Option { return func(o *dialOptions) { o.roundRobin = true } }

// WithTLS uses TLS for every connection.
func WithTLS(cfg TLSConfig) Option { return func(o *dialOptions) { o.tls = &cfg } }

// Client talks to proglog servers. Safe for concurrent use.
type Client struct {
	mu     sync.RWMutex // held for reading by calls, for writing by Close
	client *C.proglog_client
	addrs  []string
}

// Dial creates a client of the servers at addrs ("host:port"). It does not
// wait for a connection; the first call makes one.
func Dial(ctx context.Context, addrs []string, opts ...Option) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := dialOptions{timeout: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	var copts C.proglog_client_options
	C.proglog_client_options_init(&copts, C.PROGLOG_CLIENT_OPTIONS_VERSION)
	var strs cStrings
	defer func() { strs.free() }()
	cstr := strs.of
	// The address array lives in C memory: it holds C pointers only.
	n := len(addrs)
	carr := (**C.char)(C.malloc(C.size_t(max(n, 1)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(carr))
	slots := unsafe.Slice(carr, max(n, 1))
	for i, a := range addrs {
		slots[i] = C.CString(a)
		strs = append(strs, slots[i])
	}
	copts.addresses = carr
	copts.address_count = C.size_t(n)
	copts.timeout_ms = C.int64_t(-1)
	if o.timeout > 0 {
		copts.timeout_ms = C.int64_t(max(o.timeout.Milliseconds(), 1))
	}
	if o.roundRobin {
		copts.balance_policy = C.PROGLOG_BALANCE_ROUND_ROBIN
	}
	if o.tls != nil {
		copts.tls = 1
		copts.tls_ca_file = cstr(o.tls.CAFile)
		copts.tls_cert_file = cstr(o.tls.CertFile)
		copts.tls_key_file = cstr(o.tls.KeyFile)
		copts.tls_server_name = cstr(o.tls.ServerName)
	}
	var cclient *C.proglog_client
	var cerr *C.proglog_error
	if err := fromC(C.proglog_client_open(&cclient, &copts, &cerr), &cerr); err != nil {
		return nil, err
	}
	c := &Client{client: cclient, addrs: append([]string(nil), addrs...)}
	runtime.SetFinalizer(c, func(c *Client) { c.Close() })
	return c, nil
}

// with runs fn on the open C client under the read lock, or fails with ErrClosed.
func (c *Client) with(fn func(*C.proglog_client) error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.client == nil {
		return closedError()
	}
	return fn(c.client)
}

// Produce appends one record and returns its offset.
func (c *Client) Produce(ctx context.Context, value []byte) (uint64, error) {
	var offset uint64
	err := call(ctx, func() error {
		return c.with(func(cc *C.proglog_client) error {
			var out C.uint64_t
			var cerr *C.proglog_error
			rc := C.proglog_client_produce(&out, cc, bytesPtr(value), C.size_t(len(value)), &cerr)
			runtime.KeepAlive(value)
			offset = uint64(out)
			return fromC(rc, &cerr)
		})
	})
	return offset, err
}

// ProduceBatch appends records in order over one stream and returns their
// offsets. Every value is checked against the server's maximum record size
// first: if one is too large, the error is ErrMessageTooLarge and nothing is
// appended. If the server fails the batch after appending some records, the
// *Error's Written lists their offsets.
func (c *Client) ProduceBatch(ctx context.Context, values [][]byte) ([]uint64, error) {
	if len(values) == 0 {
		return nil, ctx.Err()
	}
	total := 0
	for _, v := range values {
		total += len(v)
	}
	buf := make([]byte, 0, total)
	lens := make([]C.size_t, len(values))
	for i, v := range values {
		buf = append(buf, v...)
		lens[i] = C.size_t(len(v))
	}
	offsets := make([]uint64, len(values))
	err := call(ctx, func() error {
		return c.with(func(cc *C.proglog_client) error {
			var cerr *C.proglog_error
			rc := C.produce_concatenated((*C.uint64_t)(unsafe.Pointer(&offsets[0])), cc,
				(*C.char)(bytesPtr(buf)), &lens[0], C.size_t(len(values)), &cerr)
			runtime.KeepAlive(buf)
			written := 0
			if cerr != nil {
				written = min(int(C.proglog_error_written(cerr)), len(offsets))
			}
			err := fromC(rc, &cerr)
			var e *Error
			if errors.As(err, &e) && written > 0 {
				e.Written = append([]uint64(nil), offsets[:written]...)
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return offsets, nil
}

// Consume reads the record at offset; ErrOffsetOutOfRange if there is none yet.
func (c *Client) Consume(ctx context.Context, offset uint64) (Record, error) {
	var record Record
	err := call(ctx, func() error {
		return c.with(func(cc *C.proglog_client) error {
			var rec *C.proglog_record
			var cerr *C.proglog_error
			if err := fromC(C.proglog_client_consume(&rec, cc, C.uint64_t(offset), &cerr), &cerr); err != nil {
				return err
			}
			record = takeRecord(rec)
			return nil
		})
	})
	return record, err
}

// Servers lists the cluster's servers.
func (c *Client) Servers(ctx context.Context) ([]Server, error) {
	var servers []Server
	err := call(ctx, func() error {
		return c.with(func(cc *C.proglog_client) error {
			var list *C.proglog_server_list
			var cerr *C.proglog_error
			if err := fromC(C.proglog_client_servers(&list, cc, &cerr), &cerr); err != nil {
				return err
			}
			defer C.proglog_server_list_free(list)
			n := int(C.proglog_server_list_count(list))
			for i := 0; i < n; i++ {
				servers = append(servers, Server{
					ID:       C.GoString(C.proglog_server_list_id(list, C.size_t(i))),
					RPCAddr:  C.GoString(C.proglog_server_list_rpc_addr(list, C.size_t(i))),
					IsLeader: C.proglog_server_list_is_leader(list, C.size_t(i)) != 0,
				})
			}
			return nil
		})
	})
	return servers, err
}

// Stream follows the log from offset (inclusive). It ends when ctx is
// cancelled (Next then returns ctx.Err()), when Close is called, or when the
// client is closed.
func (c *Client) Stream(ctx context.Context, offset uint64) (*Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var sub *C.proglog_subscription
	err := c.with(func(cc *C.proglog_client) error {
		var cerr *C.proglog_error
		return fromC(C.proglog_client_subscribe(&sub, cc, C.uint64_t(offset), &cerr), &cerr)
	})
	if err != nil {
		return nil, err
	}
	s := &Stream{sub: sub, ctx: ctx, done: make(chan struct{})}
	// Cancelling the context cancels the subscription, which wakes a blocked Next.
	go func() {
		select {
		case <-ctx.Done():
			s.cancel()
		case <-s.done:
		}
	}()
	runtime.SetFinalizer(s, func(s *Stream) { s.Close() })
	return s, nil
}

// Close ends open streams and frees the client; later calls fail with
// ErrClosed. It waits for calls in flight (each bounded by its deadline).
// Idempotent.
func (c *Client) Close() error {
	c.mu.RLock()
	if c.client != nil {
		C.proglog_client_close(c.client) // thread-safe: may race with calls in flight
	}
	c.mu.RUnlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		C.proglog_client_free(c.client)
		c.client = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// Stream is a subscription that follows the log's tail. One goroutine reads
// it with Next; Close may be called from any goroutine.
type Stream struct {
	mu        sync.RWMutex // held for reading by Next and cancel, for writing by Close
	sub       *C.proglog_subscription
	ctx       context.Context
	done      chan struct{}
	closeOnce sync.Once
}

// Next blocks until the next record arrives. It returns ctx.Err() once the
// stream's context is done, ErrCancelled after Close, and ErrUnavailable if the
// server went away.
func (s *Stream) Next() (Record, error) {
	if err := s.ctx.Err(); err != nil {
		return Record{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sub == nil {
		return Record{}, &Error{Code: C.PROGLOG_ECANCELLED, Message: "stream closed"}
	}
	var rec *C.proglog_record
	var cerr *C.proglog_error
	if err := fromC(C.proglog_subscription_next(&rec, s.sub, -1, &cerr), &cerr); err != nil {
		if ctxErr := s.ctx.Err(); ctxErr != nil {
			return Record{}, ctxErr
		}
		return Record{}, err
	}
	return takeRecord(rec), nil
}

func (s *Stream) cancel() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sub != nil {
		C.proglog_subscription_cancel(s.sub)
	}
}

// Close ends the stream and frees it. Idempotent; any goroutine.
func (s *Stream) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	s.cancel() // wakes a Next holding the read lock
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sub != nil {
		C.proglog_subscription_free(s.sub)
		s.sub = nil
		runtime.SetFinalizer(s, nil)
	}
	return nil
}
