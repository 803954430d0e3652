package proglog_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	proglog "github.com/proglog/proglog/bindings/go"
)

const maxRecordBytes = 4096

func openNode(t *testing.T) *proglog.Node {
	t.Helper()
	node, err := proglog.OpenNode(proglog.NodeConfig{
		DataDir: filepath.Join(t.TempDir(), "data"), Name: "go", MaxRecordBytes: maxRecordBytes,
	})
	if err != nil {
		t.Fatalf("OpenNode: %v", err)
	}
	t.Cleanup(func() { node.Close() })
	return node
}

func dial(t *testing.T, addrs ...string) *proglog.Client {
	t.Helper()
	client, err := proglog.Dial(context.Background(), addrs, proglog.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// deadAddr is an address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t, false))
}

// serverProcess is the real proglog binary, started when PROGLOG_BIN names it.
type serverProcess struct {
	cmd        *exec.Cmd
	addr       string
	gossipAddr string // from its `gossip started` line
}

// startBinary runs `proglog serve` with extra flags appended; nil without PROGLOG_BIN.
func startBinary(t *testing.T, extra ...string) *serverProcess {
	t.Helper()
	bin := os.Getenv("PROGLOG_BIN")
	if bin == "" {
		return nil
	}
	args := append([]string{"serve", "--bootstrap", "--data-dir", filepath.Join(t.TempDir(), "srv"),
		"--rpc-port", "0", "--node-name", "bin", "--log-format", "json",
		// Gossip on a free port too: the default 8401 may be taken by another test.
		"--bind-addr", "127.0.0.1:0",
		"--max-record-bytes", fmt.Sprint(maxRecordBytes)}, extra...)
	cmd := exec.Command(bin, args...)
	// Should this test process die without its cleanups (a timeout), so does the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &serverProcess{cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	addrs := make(chan [2]string, 1) // RPC and gossip address
	exited := make(chan struct{})
	var logMu sync.Mutex
	var logLines []string
	go func() {
		defer close(exited)
		scanner := bufio.NewScanner(stderr)
		gossip := ""
		for scanner.Scan() {
			logMu.Lock()
			logLines = append(logLines, scanner.Text())
			logMu.Unlock()
			var event map[string]any
			if json.Unmarshal(scanner.Bytes(), &event) != nil {
				continue
			}
			switch event["msg"] {
			case "gossip started":
				gossip = fmt.Sprint(event["bind_addr"])
			case "serving":
				addrs <- [2]string{fmt.Sprint(event["rpc_addr"]), gossip}
			}
		}
	}()
	log := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.Join(logLines, "\n")
	}
	select {
	case a := <-addrs:
		p.addr, p.gossipAddr = a[0], a[1]
	case <-exited:
		t.Fatalf("proglog exited before serving:\n%s", log())
	case <-time.After(30 * time.Second):
		t.Fatalf("proglog did not report serving within 30s:\n%s", log())
	}
	return p
}

// serverAddr is the binary if available, else an embedded node; the returned
// stop function makes the server go away.
func serverAddr(t *testing.T) (string, func()) {
	if p := startBinary(t); p != nil {
		return p.addr, func() { p.cmd.Process.Kill(); p.cmd.Wait() }
	}
	node := openNode(t)
	return node.Addr(), func() { node.Close() }
}

func TestNodeAppendsAndReadsLocally(t *testing.T) {
	node := openNode(t)
	ctx := context.Background()
	first, err := node.Append(ctx, []byte("alpha"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := node.Append(ctx, []byte("beta"))
	if err != nil || second != first+1 {
		t.Fatalf("second append: offset %d, err %v", second, err)
	}
	rec, err := node.Read(ctx, second)
	if err != nil || string(rec.Value) != "beta" || rec.Offset != second {
		t.Fatalf("Read: %+v, %v", rec, err)
	}
	if _, err := node.Read(ctx, second+1); !errors.Is(err, proglog.ErrOffsetOutOfRange) {
		t.Fatalf("read past end: %v", err)
	}
}

func TestClosedNodeReportsErrClosed(t *testing.T) {
	node := openNode(t)
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
	if err := node.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := node.Append(context.Background(), []byte("x")); !errors.Is(err, proglog.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func TestOpenNodeWithoutDataDirIsInvalid(t *testing.T) {
	_, err := proglog.OpenNode(proglog.NodeConfig{})
	var perr *proglog.Error
	if !errors.Is(err, proglog.ErrInvalidArgument) || !errors.As(err, &perr) || perr.Message == "" {
		t.Fatalf("OpenNode(empty): %v", err)
	}
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	addr, _ := serverAddr(t)
	client := dial(t, addr)
	ctx := context.Background()
	offset, err := client.Produce(ctx, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := client.Consume(ctx, offset)
	if err != nil || string(rec.Value) != "hello" || rec.Offset != offset {
		t.Fatalf("Consume: %+v, %v", rec, err)
	}
}

func TestProduceBatchGetsDenseOffsets(t *testing.T) {
	addr, _ := serverAddr(t)
	client := dial(t, addr)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(1))
	values := make([][]byte, 300)
	for i := range values {
		values[i] = []byte(strings.Repeat(string(rune('a'+i%26)), 1+rng.Intn(100)))
	}
	offsets, err := client.ProduceBatch(ctx, values)
	if err != nil || len(offsets) != len(values) {
		t.Fatalf("ProduceBatch: %d offsets, %v", len(offsets), err)
	}
	for i, off := range offsets {
		if off != offsets[0]+uint64(i) {
			t.Fatalf("offset %d is %d, want %d", i, off, offsets[0]+uint64(i))
		}
	}
	for i := 0; i < len(values); i += 29 {
		rec, err := client.Consume(ctx, offsets[i])
		if err != nil || string(rec.Value) != string(values[i]) {
			t.Fatalf("Consume(%d): %q, %v", offsets[i], rec.Value, err)
		}
	}
}

func TestErrorsMatchSentinels(t *testing.T) {
	addr, _ := serverAddr(t)
	client := dial(t, addr)
	ctx := context.Background()
	if _, err := client.Consume(ctx, 100); !errors.Is(err, proglog.ErrOffsetOutOfRange) {
		t.Fatalf("consume past end: %v", err)
	}
	kept, err := client.Produce(ctx, []byte("kept"))
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, maxRecordBytes+1)
	if _, err := client.Produce(ctx, big); !errors.Is(err, proglog.ErrMessageTooLarge) {
		t.Fatalf("oversized produce: %v", err)
	}
	if rec, err := client.Consume(ctx, kept); err != nil || string(rec.Value) != "kept" {
		t.Fatalf("record before the bad one: %q, %v", rec.Value, err)
	}
}

func TestUnreachableServerIsRetryableUnavailable(t *testing.T) {
	client := dial(t, deadAddr(t))
	_, err := client.Produce(context.Background(), []byte("x"))
	var perr *proglog.Error
	if !errors.Is(err, proglog.ErrUnavailable) || !errors.As(err, &perr) || !perr.Retryable ||
		perr.OutcomeUnknown {
		t.Fatalf("produce to nowhere: %v; want a retryable ErrUnavailable, known not appended", err)
	}
}

func TestDialWithoutAddressesIsInvalid(t *testing.T) {
	if _, err := proglog.Dial(context.Background(), nil); !errors.Is(err, proglog.ErrInvalidArgument) {
		t.Fatalf("Dial(nil): %v", err)
	}
}

func TestCancelledContextReturnsAtOnce(t *testing.T) {
	addr, _ := serverAddr(t)
	client := dial(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := client.Produce(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("produce with cancelled ctx: %v", err)
	}
}

func TestStreamFollowsTheTailUntilCancelled(t *testing.T) {
	addr, _ := serverAddr(t)
	client := dial(t, addr)
	ctx := context.Background()
	if _, err := client.Produce(ctx, []byte("r0")); err != nil {
		t.Fatal(err)
	}
	streamCtx, cancel := context.WithCancel(ctx)
	stream, err := client.Stream(streamCtx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if rec, err := stream.Next(ctx); err != nil || string(rec.Value) != "r0" {
		t.Fatalf("first Next: %+v, %v", rec, err)
	}
	// r1 does not exist yet: Next waits for it.
	go client.Produce(ctx, []byte("r1"))
	if rec, err := stream.Next(ctx); err != nil || string(rec.Value) != "r1" || rec.Offset != 1 {
		t.Fatalf("second Next: %+v, %v", rec, err)
	}
	result := make(chan error, 1)
	go func() {
		_, err := stream.Next(ctx)
		result <- err
	}()
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Next after cancel: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Next did not return after its context was cancelled")
	}
}

func TestServerGoingAwayEndsTheStream(t *testing.T) {
	addr, stop := serverAddr(t)
	client := dial(t, addr)
	ctx := context.Background()
	if _, err := client.Produce(ctx, []byte("r0")); err != nil {
		t.Fatal(err)
	}
	stream, err := client.Stream(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if _, err := stream.Next(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	result := make(chan error, 1)
	go func() {
		_, err := stream.Next(ctx)
		result <- err
	}()
	select {
	case err := <-result:
		if !errors.Is(err, proglog.ErrUnavailable) {
			t.Fatalf("Next after the server went away: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Next hung after the server went away")
	}
}

func TestServersListsTheServer(t *testing.T) {
	addr, _ := serverAddr(t)
	client := dial(t, addr)
	servers, err := client.Servers(context.Background())
	if err != nil || len(servers) != 1 || servers[0].RPCAddr != addr || !servers[0].IsLeader {
		t.Fatalf("Servers: %+v, %v", servers, err)
	}
}

func TestClosedClientReportsErrClosed(t *testing.T) {
	addr, _ := serverAddr(t)
	client := dial(t, addr)
	client.Close()
	if _, err := client.Produce(context.Background(), []byte("x")); !errors.Is(err, proglog.ErrClosed) {
		t.Fatalf("produce after close: %v", err)
	}
}

func TestManyGoroutinesShareOneClient(t *testing.T) {
	addr, _ := serverAddr(t)
	client := dial(t, addr)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8*30)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				value := fmt.Sprintf("%d/%d", g, i)
				off, err := client.Produce(ctx, []byte(value))
				if err == nil {
					var rec proglog.Record
					rec, err = client.Consume(ctx, off)
					if err == nil && string(rec.Value) != value {
						err = fmt.Errorf("offset %d holds %q, want %q", off, rec.Value, value)
					}
				}
				if err != nil {
					errs <- err
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
