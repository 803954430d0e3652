package proglog_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	proglog "github.com/proglog/proglog/bindings/go"
)

// One address of the cluster is enough. Every option is optional: left out
// (or zero) it takes the library default.
func ExampleDial() {
	client, err := proglog.Dial(context.Background(), []string{"10.0.0.1:8400"},
		proglog.WithBalancePolicy(proglog.FollowerReads),        // reads: followers in turn
		proglog.WithTimeout(5*time.Second),                      // per call, retries included
		proglog.WithMaxAttempts(20),                             // retry budget per call
		proglog.WithBackoff(50*time.Millisecond, 2*time.Second), // first and longest pause
		proglog.WithRefreshInterval(30*time.Second))             // server list refresh
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	fmt.Println("no connection is made before the first call")
	// Output: no connection is made before the first call
}

// A produce that fails may still have been appended when its outcome is
// unknown; one that fails otherwise appended nothing.
func ExampleClient_Produce() {
	dir, err := os.MkdirTemp("", "proglog-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	node, err := proglog.OpenNode(proglog.NodeConfig{DataDir: dir, Name: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	client, err := proglog.Dial(context.Background(), []string{node.Addr()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offset, err := client.Produce(ctx, []byte("hello"))
	var perr *proglog.Error
	switch {
	case err == nil:
		fmt.Println("appended at", offset)
	case errors.As(err, &perr) && perr.OutcomeUnknown:
		fmt.Println("maybe appended: read the log before producing it again")
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Println("not appended: the deadline passed first")
	default:
		fmt.Println("not appended:", err)
	}
	// Output: appended at 0
}

// An embedded node appends and reads its own log directly, and serves remote
// clients on Addr.
func ExampleOpenNode() {
	dir, err := os.MkdirTemp("", "proglog-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	node, err := proglog.OpenNode(proglog.NodeConfig{DataDir: dir, Name: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()

	ctx := context.Background()
	offset, err := node.Append(ctx, []byte("hello"))
	if err != nil {
		log.Fatal(err)
	}
	record, err := node.Read(ctx, offset)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d: %s\n", record.Offset, record.Value)
	// Output: 0: hello
}

// exampleNode opens a node embedded in this process, with its log in a
// temporary directory: the cluster the client examples talk to. The returned
// function closes it and removes the directory.
func exampleNode() (*proglog.Node, func()) {
	dir, err := os.MkdirTemp("", "proglog-example")
	if err != nil {
		log.Fatal(err)
	}
	node, err := proglog.OpenNode(proglog.NodeConfig{DataDir: dir, Name: "example"})
	if err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	return node, func() {
		node.Close()
		os.RemoveAll(dir)
	}
}

// Reading past the end of the log is ErrOffsetOutOfRange: the record is not
// there yet.
func ExampleClient_Consume() {
	node, closeNode := exampleNode()
	defer closeNode()
	client, err := proglog.Dial(context.Background(), []string{node.Addr()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx := context.Background()
	offset, err := client.Produce(ctx, []byte("first"))
	if err != nil {
		log.Fatal(err)
	}
	record, err := client.Consume(ctx, offset)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d: %s\n", record.Offset, record.Value)
	if _, err := client.Consume(ctx, offset+1); errors.Is(err, proglog.ErrOffsetOutOfRange) {
		fmt.Println("nothing at", offset+1, "yet")
	}
	// Output:
	// 0: first
	// nothing at 1 yet
}

// A batch is appended in order over one stream; its offsets are consecutive.
// When it fails part way, (*Error).Written holds the offsets of the records
// appended before the failure.
func ExampleClient_ProduceBatch() {
	node, closeNode := exampleNode()
	defer closeNode()
	client, err := proglog.Dial(context.Background(), []string{node.Addr()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	values := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	offsets, err := client.ProduceBatch(context.Background(), values)
	var perr *proglog.Error
	if errors.As(err, &perr) {
		log.Fatalf("appended %d of %d: %v", len(perr.Written), len(values), err)
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(offsets)
	// Output: [0 1 2]
}

// A stream follows the log from an offset: it returns the records already
// there, then waits for new ones. Next waits at most until its context's
// deadline; the stream stays usable after a timeout.
func ExampleClient_Stream() {
	node, closeNode := exampleNode()
	defer closeNode()
	client, err := proglog.Dial(context.Background(), []string{node.Addr()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx := context.Background()
	if _, err := client.Produce(ctx, []byte("already there")); err != nil {
		log.Fatal(err)
	}
	stream, err := client.Stream(ctx, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer stream.Close()
	next := func() {
		waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		record, err := stream.Next(waitCtx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d: %s\n", record.Offset, record.Value)
	}
	next()
	if _, err := client.Produce(ctx, []byte("appended later")); err != nil {
		log.Fatal(err)
	}
	next()
	// Output:
	// 0: already there
	// 1: appended later
}

// Servers lists the cluster as one of its servers sees it, with the leader
// flagged. A single node leads itself.
func ExampleClient_Servers() {
	node, closeNode := exampleNode()
	defer closeNode()
	client, err := proglog.Dial(context.Background(), []string{node.Addr()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	servers, err := client.Servers(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range servers {
		fmt.Println(s.ID, s.RPCAddr == node.Addr(), s.IsLeader)
	}
	// Output: example true true
}

// Errors match the package's sentinel errors with errors.Is, and errors.As
// gives the C library's details: code, message, whether a retry may help.
func ExampleError() {
	node, closeNode := exampleNode()
	defer closeNode()

	_, err := node.Read(context.Background(), 42)
	fmt.Println(errors.Is(err, proglog.ErrOffsetOutOfRange))
	var perr *proglog.Error
	if errors.As(err, &perr) {
		fmt.Println(perr.Retryable)
	}
	// Output:
	// true
	// false
}
