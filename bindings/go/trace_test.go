package proglog_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// otlpReceiver is an OTLP/HTTP traces receiver (JSON encoding) keeping every span.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []map[string]any
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var request struct {
		ResourceSpans []struct {
			ScopeSpans []struct {
				Spans []map[string]any `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	}
	if json.Unmarshal(body, &request) != nil {
		http.Error(w, "not OTLP JSON", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, resource := range request.ResourceSpans {
		for _, scope := range resource.ScopeSpans {
			r.spans = append(r.spans, scope.Spans...)
		}
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte("{}"))
}

// waitFor returns the span named name in trace traceID, waiting up to 30 s.
func (r *otlpReceiver) waitFor(t *testing.T, traceID, name string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, span := range r.spans {
			if span["traceId"] == traceID && span["name"] == name {
				r.mu.Unlock()
				return span
			}
		}
		r.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s span in trace %s within 30s", name, traceID)
	return nil
}

// callerContext is ctx carrying a sampled span of trace 4bf9...4736 with the
// given span id and a tracestate, as an instrumented caller's context would.
func callerContext(t *testing.T, spanID string) context.Context {
	t.Helper()
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex(spanID)
	state, err := trace.ParseTraceState("vendor=value")
	if err != nil {
		t.Fatal(err)
	}
	span := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: state,
	})
	return trace.ContextWithSpanContext(context.Background(), span)
}

// Without a global propagator set, calls send their context's span as W3C
// Trace Context, and the server's span of each call is its child.
func TestCallsContinueTheSpanInTheirContext(t *testing.T) {
	receiver := &otlpReceiver{}
	collector := httptest.NewServer(receiver)
	defer collector.Close()
	server := startBinary(t, "--otel-exporter-otlp-endpoint", collector.URL)
	if server == nil {
		t.Skip("needs the proglog binary (PROGLOG_BIN) to export server spans")
	}
	client := dial(t, server.addr)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	calls := []struct {
		name, spanID string
		call         func(ctx context.Context) error
	}{
		{"log.v1.Log/Produce", "00f067aa0ba902b1", func(ctx context.Context) error {
			_, err := client.Produce(ctx, []byte("traced"))
			return err
		}},
		{"log.v1.Batch/ProduceBatch", "00f067aa0ba902b2", func(ctx context.Context) error {
			_, err := client.ProduceBatch(ctx, [][]byte{[]byte("a"), []byte("b")})
			return err
		}},
		{"log.v1.Log/Consume", "00f067aa0ba902b3", func(ctx context.Context) error {
			_, err := client.Consume(ctx, 0)
			return err
		}},
		{"log.v1.Log/GetServers", "00f067aa0ba902b4", func(ctx context.Context) error {
			_, err := client.Servers(ctx)
			return err
		}},
	}
	for _, c := range calls {
		if err := c.call(callerContext(t, c.spanID)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		span := receiver.waitFor(t, traceID, c.name)
		if span["parentSpanId"] != c.spanID {
			t.Errorf("%s: parentSpanId %v, want the caller's %s", c.name, span["parentSpanId"], c.spanID)
		}
		if span["traceState"] != "vendor=value" {
			t.Errorf("%s: traceState %v, want the caller's", c.name, span["traceState"])
		}
	}
}
