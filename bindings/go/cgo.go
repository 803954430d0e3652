package proglog

// #cgo pkg-config: proglog
// #include <proglog/proglog.h>
// #include <stdlib.h>
import "C"

import (
	"context"
	"unsafe"
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

// call runs a blocking C call and returns its error, or ctx.Err() as soon as
// ctx is done. Without a cancellable context it runs inline, with no goroutine.
func call(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ctx.Done() == nil {
		return fn()
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
