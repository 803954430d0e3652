// Package main checks a history recorded by the chaos harness for linearizability
// against a model of an append-only log, using porcupine.
//
// Operations: an append of a unique value (ok with its offset, unknown, or failed), a read of
// one offset (found with a value, or absent), and one final read of the whole healed log.
package main

import (
	"hash/fnv"
	"math"

	"github.com/anishathalye/porcupine"
)

// logState is an immutable log: each append makes a new cell pointing at the previous one,
// so the checker's search can keep many states cheaply. nil is the empty log.
type logState struct {
	prev  *logState
	value string
	size  int64  // records in the log, this one included
	hash  uint64 // hash of every value in order
}

func (s *logState) length() int64 {
	if s == nil {
		return 0
	}
	return s.size
}

func (s *logState) hashValue() uint64 {
	if s == nil {
		return 0
	}
	return s.hash
}

func (s *logState) append(value string) *logState {
	h := fnv.New64a()
	var prev [8]byte
	for i, x := 0, s.hashValue(); i < 8; i, x = i+1, x>>8 {
		prev[i] = byte(x)
	}
	h.Write(prev[:])
	h.Write([]byte(value))
	return &logState{prev: s, value: value, size: s.length() + 1, hash: h.Sum64()}
}

// at returns the value at offset (which must be below the length).
func (s *logState) at(offset int64) string {
	cell := s
	for cell.size-1 > offset {
		cell = cell.prev
	}
	return cell.value
}

func equalLogs(a, b *logState) bool {
	for a != b {
		if a.length() != b.length() || a.hashValue() != b.hashValue() || a.value != b.value {
			return false
		}
		a, b = a.prev, b.prev
	}
	return true
}

// Operation kinds.
const (
	kindAppend = "append"
	kindRead   = "read"
	kindFinal  = "final"
)

type opInput struct {
	Kind   string
	Value  string // append
	Offset int64  // read
}

type opOutput struct {
	Offset int64    // append: where it landed
	Found  bool     // read
	Value  string   // read, when found
	Values []string // final: the whole log
}

// appendOnlyLog is the sequential specification. Appends land at the end; a read of an
// offset below the length returns the value there, one at or past it returns absent; the
// final read returns the whole log.
var appendOnlyLog = porcupine.Model{
	Init: func() interface{} { return (*logState)(nil) },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		log := state.(*logState)
		in, out := input.(opInput), output.(opOutput)
		switch in.Kind {
		case kindAppend:
			return out.Offset == log.length(), log.append(in.Value)
		case kindRead:
			if !out.Found {
				return in.Offset >= log.length(), log
			}
			return in.Offset < log.length() && log.at(in.Offset) == out.Value, log
		case kindFinal:
			if int64(len(out.Values)) != log.length() {
				return false, log
			}
			cell := log
			for i := len(out.Values) - 1; i >= 0; i-- {
				if cell.value != out.Values[i] {
					return false, log
				}
				cell = cell.prev
			}
			return true, log
		}
		return false, log
	},
	Equal: func(a, b interface{}) bool { return equalLogs(a.(*logState), b.(*logState)) },
	Hash:  func(s interface{}) uint64 { return s.(*logState).hashValue() },
}

// neverReturned is the return time of an operation whose outcome is unknown: it may take
// effect at any time after its invocation.
const neverReturned = math.MaxInt64
