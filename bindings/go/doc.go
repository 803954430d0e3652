// Package proglog is the Go SDK of proglog, a distributed commit log. It wraps
// the C library libproglog (found with pkg-config) through cgo.
//
// A Node embeds a proglog node in this process: Append and Read work locally
// and it serves remote clients on its address. A Client talks to one or more
// servers: Produce, ProduceBatch, Consume, Stream (which follows the tail until
// its context is cancelled) and Servers.
//
// Nodes, clients and streams must be closed with Close; a finalizer releases
// them as a safety net only. Node and Client are safe for concurrent use; a
// Stream is read by one goroutine at a time. Blocking calls honour their
// context: when it is cancelled or its deadline passes they return ctx.Err()
// at once (a produce that was already sent may still be appended).
//
// Errors are *Error values that match sentinel errors with errors.Is, such as
// ErrOffsetOutOfRange, ErrUnavailable and ErrClosed.
package proglog
