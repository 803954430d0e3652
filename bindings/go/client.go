package proglog

// #include <proglog/proglog.h>
// #include <stdlib.h>
//
// int produce_concatenated(uint64_t *out, proglog_client *client, const char *buf,
//                          const size_t *lens, size_t count,
//                          const proglog_call_options *call, proglog_error **err);
import "C"

import (
	"context"
	"errors"
	"runtime"
	"strconv"
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

// BalancePolicy says which servers serve reads. Writes always go to the
// leader, wherever the client was pointed.
type BalancePolicy int

// The balance policies, as the C library numbers them.
const (
	// DefaultBalance is the library default (FollowerReads).
	DefaultBalance BalancePolicy = C.PROGLOG_BALANCE_DEFAULT
	// FollowerReads rotates reads over the followers (the leader when it is
	// alone). A follower that has not yet applied an acknowledged record
	// answers out of range, and the client then asks the leader.
	FollowerReads BalancePolicy = C.PROGLOG_BALANCE_FOLLOWER_READS
	// LeaderReads sends reads to the leader too.
	LeaderReads BalancePolicy = C.PROGLOG_BALANCE_LEADER
	// Pinned sends every call to the given addresses only, the first
	// reachable first: no discovery, and a follower's refusal of a write is
	// ErrNotLeader naming the leader (in (*Error).Leader), not followed. For
	// talking to one particular node.
	Pinned BalancePolicy = C.PROGLOG_BALANCE_PINNED
)

func (p BalancePolicy) String() string {
	switch p {
	case DefaultBalance:
		return "DefaultBalance"
	case FollowerReads:
		return "FollowerReads"
	case LeaderReads:
		return "LeaderReads"
	case Pinned:
		return "Pinned"
	}
	return "BalancePolicy(" + strconv.Itoa(int(p)) + ")"
}

// dialOptions mirrors proglog_client_options; zero values are passed to C as
// 0, which means the library default.
type dialOptions struct {
	timeout         time.Duration
	policy          BalancePolicy
	refreshInterval time.Duration
	maxAttempts     int
	initialBackoff  time.Duration
	maxBackoff      time.Duration
	tls             *TLSConfig
}

// Option configures Dial. Options left out, or given zero, take the library
// defaults, which proglog.h states beside each field.
type Option func(*dialOptions)

// WithTimeout sets the deadline of a call whose context has none, retries
// included (0: the library default; negative: none). A context with a
// deadline sets that call's deadline instead.
func WithTimeout(d time.Duration) Option { return func(o *dialOptions) { o.timeout = d } }

// WithBalancePolicy chooses the servers that serve reads (default:
// FollowerReads), or pins every call to the given addresses (Pinned).
func WithBalancePolicy(p BalancePolicy) Option { return func(o *dialOptions) { o.policy = p } }

// WithRoundRobin rotates reads over the followers.
//
// Deprecated: use WithBalancePolicy(FollowerReads), the default.
func WithRoundRobin() Option { return WithBalancePolicy(FollowerReads) }

// WithRefreshInterval sets how often the client refreshes its list of the
// cluster's servers while calls are made (0: the library default;
// negative: only after failures). It also refreshes at once when a server is
// unreachable, refuses a write or knows no leader.
func WithRefreshInterval(d time.Duration) Option {
	return func(o *dialOptions) { o.refreshInterval = d }
}

// WithMaxAttempts sets the retry budget: attempts per call, the first
// included (0: the library default; 1: never retry). Retries also stop at
// the call's deadline.
func WithMaxAttempts(n int) Option { return func(o *dialOptions) { o.maxAttempts = n } }

// WithBackoff sets the first and the longest pause between attempts; pauses
// grow exponentially with jitter (0: the library defaults).
func WithBackoff(initial, max time.Duration) Option {
	return func(o *dialOptions) { o.initialBackoff, o.maxBackoff = initial, max }
}

// WithTLS uses TLS for every connection.
func WithTLS(cfg TLSConfig) Option { return func(o *dialOptions) { o.tls = &cfg } }

// Client talks to proglog servers. Safe for concurrent use.
type Client struct {
	mu     sync.RWMutex // held for reading by calls, for writing by Close
	client *C.proglog_client
	addrs  []string
}

// Dial creates a client of the cluster that the servers at addrs
// ("host:port") belong to: one address is enough, the client learns the other
// servers from it (GetServers) and keeps that view fresh. It does not wait for
// a connection; the first call makes one.
func Dial(ctx context.Context, addrs []string, opts ...Option) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var o dialOptions
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
	copts.timeout_ms = C.int64_t(durationMs(o.timeout))
	copts.balance_policy = C.int(o.policy)
	copts.refresh_interval_ms = C.int64_t(durationMs(o.refreshInterval))
	copts.max_attempts = C.int(o.maxAttempts)
	copts.initial_backoff_ms = C.int64_t(durationMs(o.initialBackoff))
	copts.max_backoff_ms = C.int64_t(durationMs(o.maxBackoff))
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

// withContext runs fn, a C call on the open client, with ctx's deadline and
// cancellation (see callWithContext).
func (c *Client) withContext(ctx context.Context,
	fn func(*C.proglog_client, *C.proglog_call_options) error) error {
	return callWithContext(ctx, func(opts *C.proglog_call_options) error {
		return c.with(func(cc *C.proglog_client) error { return fn(cc, opts) })
	})
}

// Produce appends one record and returns its offset. It goes to the leader,
// and is retried (within the deadline and the retry budget) when a server is
// unreachable or the leader changes. If it fails after an attempt whose answer
// was lost, (*Error).OutcomeUnknown is set: the record may be in the log, and
// producing it again may append it twice.
func (c *Client) Produce(ctx context.Context, value []byte) (uint64, error) {
	var offset uint64
	err := c.withContext(ctx, func(cc *C.proglog_client, opts *C.proglog_call_options) error {
		var out C.uint64_t
		var cerr *C.proglog_error
		rc := C.proglog_client_produce_ex(&out, cc, bytesPtr(value), C.size_t(len(value)), opts, &cerr)
		runtime.KeepAlive(value)
		offset = uint64(out)
		return fromC(rc, &cerr)
	})
	return offset, err
}

// ProduceBatch appends records in order over one stream and returns their
// offsets. Every value is checked against the server's maximum record size
// first: if one is too large, the error is ErrMessageTooLarge and nothing is
// appended. If the server fails the batch after appending some records, the
// *Error's Written lists their offsets; OutcomeUnknown says the ones after
// them may have been appended too.
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
	err := c.withContext(ctx, func(cc *C.proglog_client, opts *C.proglog_call_options) error {
		var cerr *C.proglog_error
		rc := C.produce_concatenated((*C.uint64_t)(unsafe.Pointer(&offsets[0])), cc,
			(*C.char)(bytesPtr(buf)), &lens[0], C.size_t(len(values)), opts, &cerr)
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
	if err != nil {
		return nil, err
	}
	return offsets, nil
}

// Consume reads the record at offset; ErrOffsetOutOfRange if there is none
// yet. Which server serves it follows the client's BalancePolicy.
func (c *Client) Consume(ctx context.Context, offset uint64) (Record, error) {
	var record Record
	err := c.withContext(ctx, func(cc *C.proglog_client, opts *C.proglog_call_options) error {
		var rec *C.proglog_record
		var cerr *C.proglog_error
		if err := fromC(C.proglog_client_consume_ex(&rec, cc, C.uint64_t(offset), opts, &cerr), &cerr); err != nil {
			return err
		}
		record = takeRecord(rec)
		return nil
	})
	return record, err
}

// Servers lists the cluster's servers as one of them sees them now, with the
// leader flagged.
func (c *Client) Servers(ctx context.Context) ([]Server, error) {
	var servers []Server
	err := c.withContext(ctx, func(cc *C.proglog_client, opts *C.proglog_call_options) error {
		var list *C.proglog_server_list
		var cerr *C.proglog_error
		if err := fromC(C.proglog_client_servers_ex(&list, cc, opts, &cerr), &cerr); err != nil {
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
	return servers, err
}

// Stream follows the log from offset (inclusive). When the server it reads
// from goes away, it carries on from the next offset on another server (no
// gap, no duplicate), within the client's retry budget. It ends when ctx is
// cancelled, when Close is called, or when the client is closed.
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

// ContextError is the error of a call that its context ended: errors.Is
// matches both Context (context.Canceled or context.DeadlineExceeded) and Err
// (ErrCancelled or ErrTimeout), and errors.As finds Err, whose OutcomeUnknown
// tells whether a produce may have been appended all the same. The call had
// returned in C before this error was made: nothing of it is left running.
type ContextError struct {
	Context error  // the context's error
	Err     *Error // the C library's account of the call
}

func (e *ContextError) Error() string { return e.Context.Error() + ": " + e.Err.Error() }

// Unwrap returns both errors, for errors.Is and errors.As.
func (e *ContextError) Unwrap() []error { return []error{e.Context, e.Err} }

// Stream is a subscription that follows the log's tail. One goroutine reads
// it with Next; Close may be called from any goroutine.
type Stream struct {
	mu        sync.RWMutex // held for reading by Next and cancel, for writing by Close
	sub       *C.proglog_subscription
	ctx       context.Context
	done      chan struct{}
	closeOnce sync.Once
}

// Next blocks until the next record arrives, at most until ctx's deadline:
// then it returns an error matching context.DeadlineExceeded and ErrTimeout,
// and the stream stays usable. Cancelling ctx, before or during Next, ends
// the stream (the C library cannot abandon one wait otherwise), as does
// cancelling the stream's own context; Next then returns an error matching
// context.Canceled. It returns ErrCancelled after Close, and ErrUnavailable
// if no server could carry the stream on. Next returns only once the C
// library's wait has returned.
func (s *Stream) Next(ctx context.Context) (Record, error) {
	if err := s.ctx.Err(); err != nil {
		return Record{}, err
	}
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.Canceled) {
			s.cancel() // cancelled before the wait began: the same outcome as during it
		}
		return Record{}, err
	}
	timeout, hasDeadline := timeoutOf(ctx)
	if !hasDeadline {
		timeout = -1 // wait forever
	} else if timeout <= 0 {
		return Record{}, context.DeadlineExceeded
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sub == nil {
		return Record{}, &Error{Code: C.PROGLOG_ECANCELLED, Message: "stream closed"}
	}
	stop := onCancel(ctx, func() { C.proglog_subscription_cancel(s.sub) })
	var rec *C.proglog_record
	var cerr *C.proglog_error
	err := fromC(C.proglog_subscription_next(&rec, s.sub, C.int64_t(timeout), &cerr), &cerr)
	stop() // before the read lock is released: s.sub stays valid for cancel
	if err != nil {
		if streamErr := s.ctx.Err(); streamErr != nil {
			ctx = s.ctx // the stream's context ended it, not the wait's
		}
		return Record{}, contextError(ctx, hasDeadline, err)
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
