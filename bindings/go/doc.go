// Package proglog is the Go SDK of proglog, a distributed commit log. It wraps
// the C library libproglog (found with pkg-config) through cgo.
//
// A Node embeds a proglog node in this process: Append and Read work locally
// and it serves remote clients on its address. A Client talks to a cluster:
// Produce, ProduceBatch, Consume, Stream (which follows the tail) and Servers.
//
// # Load balancing and failover
//
// Dial needs the address of any one server: the client learns the others
// from it (GetServers) and keeps that view fresh (WithRefreshInterval, and at
// once after an unreachable server, a redirect or an election). Writes go to
// the leader wherever the client was pointed; reads rotate over the followers
// (WithBalancePolicy(LeaderReads) sends them to the leader; Pinned sends every
// call to the given addresses only, to talk to one particular node). A call
// that meets an unreachable server or an election is retried with exponential
// backoff and jitter (WithBackoff), within its deadline and WithMaxAttempts
// attempts. A Stream whose server goes away carries on from the next offset
// on another server, with no gap and no duplicate. Options left out or zero
// take the library's defaults.
//
// # Duplicates after an unknown outcome
//
// A produce whose answer was lost (the connection broke, the deadline passed,
// the context was cancelled) may have been appended all the same; if the
// client retried it, or the caller does, the record may be in the log twice.
// A failed produce that may have been appended says so: its *Error has
// OutcomeUnknown set. A failure without it appended nothing. Where a
// duplicate matters, read the log (or give records ids) before producing
// again.
//
// # Deadlines and cancellation
//
// Blocking calls take a context: its deadline becomes the call's deadline
// (retries included; without one, WithTimeout's), and cancelling it cancels
// the call in the C library. A call always waits for the C library to return,
// so nothing of it runs on after it returned: its result is final. A call
// that its context ended returns a *ContextError, which matches both
// context.Canceled or context.DeadlineExceeded and ErrCancelled or ErrTimeout
// with errors.Is. Node.Append and Node.Read check their context only before
// they start, as the C library cannot interrupt them. Stream.Next(ctx) waits
// at most until ctx's deadline (the stream stays usable); cancelling ctx ends
// the stream.
//
// # Tracing
//
// Client calls carry the OpenTelemetry span in their context to the server
// (Stream excepted): Produce, ProduceBatch, Consume and Servers inject ctx's
// trace context with the global propagator (otel.GetTextMapPropagator) and
// send its W3C traceparent and tracestate, so the server's span of the call
// is a child of the caller's. With no global propagator set (OpenTelemetry's
// default is a no-op) they use propagation.TraceContext, as the server reads
// W3C Trace Context only; a propagator that writes no traceparent sends none.
// A context without a valid span sends nothing. Nothing needs configuring: an
// application instrumented with go.opentelemetry.io/otel gets the join as is.
//
// Nodes, clients and streams must be closed with Close; a finalizer releases
// them as a safety net only. Node and Client are safe for concurrent use; a
// Stream is read by one goroutine at a time.
//
// Errors are *Error values that match sentinel errors with errors.Is, such as
// ErrOffsetOutOfRange, ErrUnavailable and ErrClosed; their codes are the C
// library's.
package proglog
