package proglog

// #cgo pkg-config: proglog
// #include <proglog/proglog.h>
// #include <stdlib.h>
import "C"

import (
	"context"
	"errors"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Record is one record of the log.
type Record struct {
	Value  []byte
	Offset uint64
}

// cStrings owns the C copies of the Go strings passed to one C call.
type cStrings []*C.char

// of returns a C copy of s (nil for ""), freed by free.
func (c *cStrings) of(s string) *C.char {
	if s == "" {
		return nil
	}
	p := C.CString(s)
	*c = append(*c, p)
	return p
}

// free releases every copy made by of.
func (c cStrings) free() {
	for _, p := range c {
		C.free(unsafe.Pointer(p))
	}
}

// bytesPtr is a pointer to the first byte of b, or nil for an empty slice.
func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// takeRecord copies a C record into Go memory and frees it.
func takeRecord(rec *C.proglog_record) Record {
	var n C.size_t
	value := C.proglog_record_value(rec, &n)
	out := Record{Value: C.GoBytes(value, C.int(n)), Offset: uint64(C.proglog_record_offset(rec))}
	C.proglog_record_free(rec)
	return out
}

// call runs a blocking C call that takes no deadline or cancellation (the
// embedded node's): it checks ctx first, then waits for the C call to return.
// Giving up early would leave the C call running and writing its results
// after this function returned.
func call(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn()
}

// traceHeaders is the W3C trace context (traceparent, tracestate) of the span
// in ctx, as the global OpenTelemetry propagator writes it; with no global
// propagator set, as propagation.TraceContext writes it (the server reads W3C
// Trace Context only). Empty when ctx has no valid span.
func traceHeaders(ctx context.Context) (traceparent, tracestate string) {
	propagator := otel.GetTextMapPropagator()
	if len(propagator.Fields()) == 0 { // the global default: a no-op
		propagator = propagation.TraceContext{}
	}
	carrier := propagation.MapCarrier{}
	propagator.Inject(ctx, carrier)
	return carrier.Get("traceparent"), carrier.Get("tracestate")
}

// callWithContext runs fn, a blocking C call taking proglog_call_options, with
// ctx's deadline as its timeout, a cancel token that ctx's cancellation
// triggers, and ctx's trace context (traceHeaders). It always waits for the C
// call to return. A call that failed because of ctx returns an error matching
// both ctx.Err() and the *Error.
func callWithContext(ctx context.Context, fn func(opts *C.proglog_call_options) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Go memory holding C pointers only, so it may be passed to C.
	var opts C.proglog_call_options
	opts.version = C.PROGLOG_CALL_OPTIONS_VERSION
	var strs cStrings
	defer strs.free()
	traceparent, tracestate := traceHeaders(ctx)
	opts.traceparent = strs.of(traceparent)
	opts.tracestate = strs.of(tracestate)
	timeout, hasDeadline := timeoutOf(ctx)
	if hasDeadline && timeout <= 0 {
		return context.DeadlineExceeded
	}
	opts.timeout_ms = C.int64_t(timeout)
	if ctx.Done() != nil {
		var token *C.proglog_cancel
		var cerr *C.proglog_error
		if err := fromC(C.proglog_cancel_new(&token, &cerr), &cerr); err != nil {
			return err
		}
		defer C.proglog_cancel_free(token) // runs after the watcher has exited
		opts.cancel = token
		stop := onCancel(ctx, func() { C.proglog_cancel_trigger(token) })
		defer stop()
	}
	return contextError(ctx, hasDeadline, fn(&opts))
}

// timeoutOf is the time left before ctx's deadline in whole milliseconds,
// rounded up so that the C deadline is never earlier than ctx's; false if ctx
// has no deadline.
func timeoutOf(ctx context.Context) (int64, bool) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	left := time.Until(deadline)
	if left <= 0 {
		return 0, true
	}
	return durationMs(left), true
}

// onCancel runs cancel on another goroutine if ctx is cancelled before the
// returned stop is called; stop returns once that goroutine has ended, so
// cancel never runs after stop. A passing deadline does not call cancel: the
// C call was given the same deadline and fails with PROGLOG_ETIMEOUT by
// itself, which keeps ErrTimeout and, for a stream, the subscription usable.
func onCancel(ctx context.Context, cancel func()) (stop func()) {
	stopped := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				cancel()
			}
		case <-stopped:
		}
	}()
	return func() {
		close(stopped)
		<-exited
	}
}

// contextError joins err, the result of a C call made under ctx, with
// ctx.Err() when ctx is why it failed: the C call was cancelled, or timed out
// on ctx's deadline (hasDeadline). Other errors are returned as they are.
func contextError(ctx context.Context, hasDeadline bool, err error) error {
	var perr *Error
	if !errors.As(err, &perr) {
		return err
	}
	var cause error
	switch perr.Code {
	case C.PROGLOG_ECANCELLED:
		cause = ctx.Err()
	case C.PROGLOG_ETIMEOUT:
		if hasDeadline {
			cause = context.DeadlineExceeded
		}
	}
	if cause == nil {
		return err
	}
	return &ContextError{Context: cause, Err: perr}
}
