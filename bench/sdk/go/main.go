// Command sdkbench compares the Go binding (cgo over libproglog) with a pure-Go
// gRPC client (grpc-go) calling the same proglog server: mean and p99 latency
// per operation and the ratio ours/grpc-go.
//
// The grpc-go side encodes the few log.v1 messages by hand with protowire and
// sends them with a pass-through codec, which is cheaper than generated code,
// so the comparison is a strict one for the binding.
//
// Usage (see bench/sdk/run-go-bench.sh):
//
//	sdkbench -proglog-bin BUILD/server/proglog [-ops 3000] [-batch 1000]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"sort"
	"time"

	proglog "github.com/proglog/proglog/bindings/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawCodec passes already-encoded protobuf bytes through unchanged.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	p := v.(*[]byte)
	*p = append((*p)[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func produceRequest(value []byte) []byte {
	record := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), value)
	return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), record)
}

func consumeRequest(offset uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), offset)
}

// firstVarint returns the varint of field `field` at the top level of msg.
func firstVarint(msg []byte, field protowire.Number) uint64 {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		msg = msg[n:]
		if typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(msg)
			if num == field {
				return v
			}
			msg = msg[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			return 0
		}
		msg = msg[m:]
	}
	return 0
}

func startServer(bin, dir string) (*exec.Cmd, string) {
	cmd := exec.Command(bin, "serve", "--bootstrap", "--data-dir", dir, "--rpc-port", "0", "--node-name", "bench",
		"--log-format", "json", "--fsync", "never")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	addrs := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			var event map[string]any
			if json.Unmarshal(scanner.Bytes(), &event) == nil && event["msg"] == "serving" {
				addrs <- fmt.Sprint(event["rpc_addr"])
			}
		}
	}()
	select {
	case addr := <-addrs:
		return cmd, addr
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		log.Fatal("server did not start")
	}
	return nil, ""
}

func measure(n int, op func(i int)) []time.Duration {
	for i := 0; i < min(200, n); i++ {
		op(i)
	}
	samples := make([]time.Duration, n)
	for i := range samples {
		start := time.Now()
		op(i)
		samples[i] = time.Since(start)
	}
	return samples
}

// measurePair times two operations in alternating rounds, so that load from
// other processes on the machine falls on both alike.
func measurePair(n int, ours, theirs func(i int)) ([]time.Duration, []time.Duration) {
	const rounds = 10
	var a, b []time.Duration
	per := max(1, n/rounds)
	for r := 0; r < rounds; r++ {
		a = append(a, measure(per, func(i int) { ours(r*per + i) })...)
		b = append(b, measure(per, func(i int) { theirs(r*per + i) })...)
	}
	return a, b
}

func stats(samples []time.Duration, per int) (mean, p99 float64) {
	sorted := append([]time.Duration(nil), samples...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
	var total time.Duration
	for _, s := range samples {
		total += s
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 / float64(per) }
	return us(total / time.Duration(len(samples))), us(sorted[len(sorted)*99/100-1])
}

func row(name string, ours, theirs []time.Duration, per int) {
	om, op := stats(ours, per)
	tm, tp := stats(theirs, per)
	fmt.Printf("%-28s %10.1f %10.1f %10.1f %10.1f %7.2fx\n", name, om, op, tm, tp, om/tm)
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func main() {
	bin := flag.String("proglog-bin", "", "path of the proglog binary")
	ops := flag.Int("ops", 3000, "operations per measurement")
	batch := flag.Int("batch", 1000, "records per batch")
	flag.Parse()
	if *bin == "" {
		log.Fatal("-proglog-bin is required")
	}
	dir, err := os.MkdirTemp("", "sdkbench")
	must(err)
	defer os.RemoveAll(dir)
	server, addr := startServer(*bin, dir)
	defer func() { server.Process.Signal(os.Interrupt); server.Wait() }()

	ctx := context.Background()
	ours, err := proglog.Dial(ctx, []string{addr})
	must(err)
	defer ours.Close()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	must(err)
	defer conn.Close()

	value := make([]byte, 100)
	values := make([][]byte, *batch)
	for i := range values {
		values[i] = value
	}
	batches := max(20, *ops / *batch * 10)
	fmt.Printf("server %s (--fsync never), %d ops, 100-byte records; batch = %d records, "+
		"%d batches; times in microseconds\n", addr, *ops, *batch, batches)
	fmt.Printf("%-28s %10s %10s %10s %10s %8s\n", "operation", "ours mean", "ours p99",
		"grpc mean", "grpc p99", "ratio")

	oursProduce, grpcProduce := measurePair(*ops,
		func(int) { _, err := ours.Produce(ctx, value); must(err) },
		func(int) {
			req, resp := produceRequest(value), []byte(nil)
			must(conn.Invoke(ctx, "/log.v1.Log/Produce", &req, &resp))
		})
	row("produce", oursProduce, grpcProduce, 1)

	oursConsume, grpcConsume := measurePair(*ops,
		func(i int) { _, err := ours.Consume(ctx, uint64(i)); must(err) },
		func(i int) {
			req, resp := consumeRequest(uint64(i)), []byte(nil)
			must(conn.Invoke(ctx, "/log.v1.Log/Consume", &req, &resp))
		})
	row("consume", oursConsume, grpcConsume, 1)

	desc := &grpc.StreamDesc{StreamName: "ProduceStream", ServerStreams: true, ClientStreams: true}
	oursBatch, grpcBatch := measurePair(batches, func(int) {
		_, err := ours.ProduceBatch(ctx, values)
		must(err)
	}, func(int) {
		stream, err := conn.NewStream(ctx, desc, "/log.v1.Log/ProduceStream")
		must(err)
		go func() {
			for range values {
				req := produceRequest(value)
				must(stream.SendMsg(&req))
			}
			must(stream.CloseSend())
		}()
		offsets := make([]uint64, 0, len(values))
		for {
			var resp []byte
			if err := stream.RecvMsg(&resp); err == io.EOF {
				break
			} else {
				must(err)
			}
			offsets = append(offsets, firstVarint(resp, 1))
		}
		if len(offsets) != len(values) {
			log.Fatalf("grpc-go batch got %d offsets", len(offsets))
		}
	})
	row("batch produce (per record)", oursBatch, grpcBatch, *batch)

	// The same batch sent the way a plain client often does it: one unary call
	// per record.
	grpcLoop := measure(batches, func(int) {
		for range values {
			req, resp := produceRequest(value), []byte(nil)
			must(conn.Invoke(ctx, "/log.v1.Log/Produce", &req, &resp))
		}
	})
	row("batch vs unary loop (rec)", oursBatch, grpcLoop, *batch)
}
