package proglog

// #include <proglog/proglog.h>
import "C"

import "errors"

// Sentinel errors, one per C API code; match them with errors.Is.
var (
	ErrInvalidArgument  = errors.New("proglog: invalid argument")
	ErrOffsetOutOfRange = errors.New("proglog: offset out of range")
	ErrNotLeader        = errors.New("proglog: not the leader")
	ErrUnavailable      = errors.New("proglog: unavailable")
	ErrPermissionDenied = errors.New("proglog: permission denied")
	ErrUnauthenticated  = errors.New("proglog: unauthenticated")
	ErrTimeout          = errors.New("proglog: timeout")
	ErrCancelled        = errors.New("proglog: cancelled")
	ErrClosed           = errors.New("proglog: closed")
	ErrNotFound         = errors.New("proglog: not found")
	ErrIO               = errors.New("proglog: I/O error")
	ErrOutOfMemory      = errors.New("proglog: out of memory")
	ErrInternal         = errors.New("proglog: internal error")
	// ErrMessageTooLarge: a record over the server's maximum record size.
	// ProduceBatch checks every value first and then appends none.
	ErrMessageTooLarge = errors.New("proglog: message too large")
)

var sentinels = map[int]error{
	C.PROGLOG_EINVAL:           ErrInvalidArgument,
	C.PROGLOG_EOUTOFRANGE:      ErrOffsetOutOfRange,
	C.PROGLOG_ENOTLEADER:       ErrNotLeader,
	C.PROGLOG_EUNAVAILABLE:     ErrUnavailable,
	C.PROGLOG_EPERM:            ErrPermissionDenied,
	C.PROGLOG_EUNAUTHENTICATED: ErrUnauthenticated,
	C.PROGLOG_ETIMEOUT:         ErrTimeout,
	C.PROGLOG_ECANCELLED:       ErrCancelled,
	C.PROGLOG_ECLOSED:          ErrClosed,
	C.PROGLOG_ENOTFOUND:        ErrNotFound,
	C.PROGLOG_EIO:              ErrIO,
	C.PROGLOG_ENOMEM:           ErrOutOfMemory,
	C.PROGLOG_EINTERNAL:        ErrInternal,
	C.PROGLOG_ETOOLARGE:        ErrMessageTooLarge,
}

// Error is a failure reported by libproglog.
type Error struct {
	Code      int    // the C API code (negative)
	Message   string // what went wrong
	Retryable bool   // whether the same call may succeed later
	Leader    string // for ErrNotLeader: the leader's address, if known
	// For a failed ProduceBatch: the offsets of the records appended before the
	// failure, in order (a retry sends only the values after them).
	Written []uint64
	// OutcomeUnknown: a produce that failed after an attempt reached a server
	// whose answer was lost (connection broken, deadline passed, cancelled),
	// so its record(s) may have been appended all the same. Read the log
	// before producing again if a duplicate matters.
	OutcomeUnknown bool
}

func (e *Error) Error() string {
	return "proglog: " + C.GoString(C.proglog_code_name(C.int(e.Code))) + ": " + e.Message
}

// Is makes errors.Is(err, ErrOffsetOutOfRange) and the like work.
func (e *Error) Is(target error) bool {
	return sentinels[e.Code] == target
}

// Unwrap returns the sentinel error of the code.
func (e *Error) Unwrap() error {
	return sentinels[e.Code]
}

// fromC turns a code and an optional C error object into an *Error and frees
// the object. A zero code gives nil. It takes the object's address, not its
// value: in fromC(C.call(&cerr), cerr) Go leaves open whether cerr is read
// before or after the call sets it.
func fromC(code C.int, errp **C.proglog_error) error {
	if code == C.PROGLOG_OK {
		return nil
	}
	cerr := *errp
	e := &Error{Code: int(code)}
	if cerr != nil {
		e.Message = C.GoString(C.proglog_error_message(cerr))
		e.Retryable = C.proglog_error_retryable(cerr) != 0
		e.OutcomeUnknown = C.proglog_error_outcome_unknown(cerr) != 0
		if leader := C.proglog_error_leader(cerr); leader != nil {
			e.Leader = C.GoString(leader)
		}
		C.proglog_error_free(cerr)
	} else {
		e.Message = C.GoString(C.proglog_code_name(code))
	}
	return e
}
