package proglog_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	proglog "github.com/proglog/proglog/bindings/go"
)

// syncBuffer is a bytes.Buffer safe for the library's log thread and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestFailedHandshakesReachTheSlogLogger(t *testing.T) {
	p := testPKI(t)
	var out syncBuffer
	proglog.SetLogger(slog.New(slog.NewJSONHandler(&out, nil)))
	defer proglog.SetLogger(nil)
	node, err := proglog.OpenNode(proglog.NodeConfig{
		DataDir: filepath.Join(t.TempDir(), "data"),
		Security: &proglog.SecurityConfig{
			ServerTLSCertFile: p.server.cert, ServerTLSKeyFile: p.server.key,
			ServerTLSCAFile: p.ca.cert,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), tlsCallTimeout)
	defer cancel()
	client, err := proglog.Dial(ctx, []string{node.Addr()}) // plaintext: the handshake fails
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Produce(ctx, []byte("x")); err == nil {
		t.Fatal("a plaintext produce to a TLS node succeeded")
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), `"msg":"TLS handshake failed"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no failed handshake in the log:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), `"level":"WARN"`) || !strings.Contains(out.String(), `"reason":`) {
		t.Fatalf("the failed handshake is not a warning with a reason:\n%s", out.String())
	}
}

func TestSecondNodeOnADataDirInUseIsErrBusy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	node, err := proglog.OpenNode(proglog.NodeConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	second, err := proglog.OpenNode(proglog.NodeConfig{DataDir: dir})
	if !errors.Is(err, proglog.ErrBusy) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("second node on %s: got %v, want ErrBusy", dir, err)
	}
	if !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("the error does not say the dir is in use: %v", err)
	}
}
