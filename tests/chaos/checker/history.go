package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/anishathalye/porcupine"
)

// Record is one line of the harness's history file.
type Record struct {
	Op       string   `json:"op"`     // append, read, final
	Status   string   `json:"status"` // ok, failed, unknown
	Client   int      `json:"client"`
	Value    string   `json:"value"`
	Offset   *int64   `json:"offset"` // append: acknowledged offset; read: the offset read
	Found    bool     `json:"found"`
	Values   []string `json:"values"` // final
	Invoke   int64    `json:"invoke"` // nanoseconds, one monotonic clock for all clients
	Complete int64    `json:"complete"`
}

// ReadHistory parses JSON lines.
func ReadHistory(r io.Reader) ([]Record, error) {
	var records []Record
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 1<<20), 1<<30)
	for line := 1; scanner.Scan(); line++ {
		if len(scanner.Bytes()) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(scanner.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("history line %d: %w", line, err)
		}
		switch rec.Op {
		case kindAppend, kindFinal:
		case kindRead:
			if rec.Offset == nil {
				return nil, fmt.Errorf("history line %d: a read without an offset", line)
			}
		default:
			return nil, fmt.Errorf("history line %d: unknown op %q", line, rec.Op)
		}
		if rec.Status != "ok" && rec.Status != "failed" && rec.Status != "unknown" {
			return nil, fmt.Errorf("history line %d: unknown status %q", line, rec.Status)
		}
		records = append(records, rec)
	}
	return records, scanner.Err()
}

// observedOffsets maps each value that a read or the final log showed to the first offset
// it was seen at.
func observedOffsets(records []Record) map[string]int64 {
	seen := map[string]int64{}
	note := func(value string, offset int64) {
		if _, ok := seen[value]; !ok {
			seen[value] = offset
		}
	}
	for _, r := range records {
		if r.Op == kindFinal && r.Status == "ok" {
			for i, v := range r.Values {
				note(v, int64(i))
			}
		}
	}
	for _, r := range records {
		if r.Op == kindRead && r.Status == "ok" && r.Found {
			note(r.Value, *r.Offset)
		}
	}
	return seen
}

// ToOperations turns the history into porcupine operations. Failed operations did not take
// effect and are left out. An append with an unknown outcome that nobody ever observed is
// left out too: it may be linearized after everything else, where it changes nothing. One
// that was observed must sit where it was seen (appends are unique values), so it gets that
// offset and may take effect at any time after its invocation.
func ToOperations(records []Record) []porcupine.Operation {
	seen := observedOffsets(records)
	var ops []porcupine.Operation
	for _, r := range records {
		if r.Status == "failed" {
			continue
		}
		op := porcupine.Operation{ClientId: r.Client, Call: r.Invoke, Return: r.Complete}
		if r.Status == "unknown" {
			op.Return = neverReturned
		}
		switch r.Op {
		case kindAppend:
			op.Input = opInput{Kind: kindAppend, Value: r.Value}
			switch {
			case r.Status == "ok" && r.Offset != nil:
				op.Output = opOutput{Offset: *r.Offset}
			case r.Status == "unknown":
				offset, observed := seen[r.Value]
				if !observed {
					continue
				}
				op.Output = opOutput{Offset: offset}
			default:
				continue
			}
		case kindRead:
			if r.Status != "ok" {
				continue // a read that failed or timed out says nothing
			}
			op.Input = opInput{Kind: kindRead, Offset: *r.Offset}
			op.Output = opOutput{Found: r.Found, Value: r.Value}
		case kindFinal:
			if r.Status != "ok" {
				continue
			}
			op.Input = opInput{Kind: kindFinal}
			op.Output = opOutput{Values: r.Values}
		}
		ops = append(ops, op)
	}
	return ops
}
