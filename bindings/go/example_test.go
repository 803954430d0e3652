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
	node, err := proglog.OpenNode(proglog.NodeConfig{DataDir: dir})
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
