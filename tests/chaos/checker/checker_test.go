package main

import (
	"strings"
	"testing"
	"time"
)

func off(n int64) *int64 { return &n }

func appendOK(client int, value string, offset, invoke, complete int64) Record {
	return Record{Op: kindAppend, Status: "ok", Client: client, Value: value, Offset: off(offset),
		Invoke: invoke, Complete: complete}
}

func appendWith(status string, client int, value string, invoke, complete int64) Record {
	return Record{Op: kindAppend, Status: status, Client: client, Value: value, Invoke: invoke,
		Complete: complete}
}

func read(client int, offset int64, found bool, value string, invoke, complete int64) Record {
	return Record{Op: kindRead, Status: "ok", Client: client, Offset: off(offset), Found: found,
		Value: value, Invoke: invoke, Complete: complete}
}

func final(at int64, values ...string) Record {
	return Record{Op: kindFinal, Status: "ok", Client: 99, Values: values, Invoke: at, Complete: at}
}

func verdictOf(t *testing.T, records ...Record) string {
	t.Helper()
	return Check(records, time.Minute).Result
}

func TestAcceptsConcurrentAppendsReadsAndTheirFinalLog(t *testing.T) {
	got := verdictOf(t,
		appendOK(0, "a", 1, 0, 10), // overlapping appends may land in either order
		appendOK(1, "b", 0, 1, 9),
		read(2, 1, false, "", 2, 3), // before "a" was acknowledged, absent is fine
		read(2, 0, true, "b", 11, 12),
		appendWith("unknown", 0, "c", 20, 30), // seen in the final log: it happened
		appendWith("unknown", 1, "d", 21, 31), // never seen: may not have happened
		appendWith("failed", 1, "e", 22, 23),
		final(100, "b", "a", "c"))
	if got != "Ok" {
		t.Fatalf("want Ok, got %s", got)
	}
}

func TestRejectsALostAcknowledgedWrite(t *testing.T) {
	got := verdictOf(t,
		appendOK(0, "a", 0, 0, 10),
		appendOK(1, "b", 1, 11, 20),
		final(100, "a")) // "b" was acknowledged, then vanished
	if got != "Illegal" {
		t.Fatalf("want Illegal, got %s", got)
	}
}

func TestRejectsAStaleRead(t *testing.T) {
	got := verdictOf(t,
		appendOK(0, "a", 0, 0, 10),
		read(1, 0, false, "", 11, 12), // began after "a" was acknowledged, yet missed it
		final(100, "a"))
	if got != "Illegal" {
		t.Fatalf("want Illegal, got %s", got)
	}
}

func TestRejectsAReadOfAValueNobodySent(t *testing.T) {
	got := verdictOf(t,
		appendOK(0, "a", 0, 0, 10),
		read(1, 0, true, "z", 11, 12),
		final(100, "a"))
	if got != "Illegal" {
		t.Fatalf("want Illegal, got %s", got)
	}
}

func TestRejectsAppendsAcknowledgedOutOfRealTimeOrder(t *testing.T) {
	got := verdictOf(t,
		appendOK(0, "a", 1, 0, 10),  // finished first...
		appendOK(1, "b", 0, 11, 20), // ...yet the later append got the lower offset
		final(100, "b", "a"))
	if got != "Illegal" {
		t.Fatalf("want Illegal, got %s", got)
	}
}

func TestRejectsAFailedAppendThatTookEffect(t *testing.T) {
	got := verdictOf(t,
		appendWith("failed", 0, "a", 0, 10),
		final(100, "a"))
	if got != "Illegal" {
		t.Fatalf("want Illegal, got %s", got)
	}
}

func TestReadHistoryRefusesBadLines(t *testing.T) {
	for _, bad := range []string{`{"op":"delete","status":"ok"}`, `{"op":"read","status":"ok"}`,
		`{"op":"append","status":"maybe"}`, `not json`} {
		if _, err := ReadHistory(strings.NewReader(bad + "\n")); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestReadHistoryParsesWhatTheHarnessWrites(t *testing.T) {
	lines := `{"op":"append","status":"ok","client":1,"value":"p1-0","offset":0,"invoke":5,"complete":9}
{"op":"final","status":"ok","client":9,"values":["p1-0"],"invoke":20,"complete":21}
`
	records, err := ReadHistory(strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	if got := Check(records, time.Minute).Result; got != "Ok" {
		t.Fatalf("want Ok, got %s", got)
	}
}
