package proglog_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	proglog "github.com/proglog/proglog/bindings/go"
)

// produceOutcome is what one Produce call returned.
type produceOutcome struct {
	value  string
	offset uint64
	err    error
}

// produceUnderCancel runs workers x perWorker produces; call runs each one
// (do) under a context it makes. It returns what each produce returned.
func produceUnderCancel(t *testing.T, client *proglog.Client, tag string,
	call func(rng *rand.Rand, do func(context.Context))) []produceOutcome {
	t.Helper()
	const workers, perWorker = 8, 40
	var mu sync.Mutex
	var outcomes []produceOutcome
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for i := 0; i < perWorker; i++ {
				value := fmt.Sprintf("%s-%d-%d", tag, w, i)
				call(rng, func(ctx context.Context) {
					offset, err := client.Produce(ctx, []byte(value))
					mu.Lock()
					outcomes = append(outcomes, produceOutcome{value, offset, err})
					mu.Unlock()
				})
			}
		}(w)
	}
	wg.Wait()
	return outcomes
}

// checkOutcomes reads the whole log and checks each produce against it: a
// success holds its value at its offset; a failure whose outcome is known
// appended nothing; only a failure with OutcomeUnknown may or may not have.
// Every failure is the context's doing, and says so through errors.Is. It
// returns how many produces were cancelled once their C call had begun.
func checkOutcomes(t *testing.T, client *proglog.Client, outcomes []produceOutcome) int {
	t.Helper()
	ctx := context.Background()
	offsetsOf := map[string][]uint64{}
	for off := uint64(0); ; off++ {
		rec, err := client.Consume(ctx, off)
		if errors.Is(err, proglog.ErrOffsetOutOfRange) {
			break
		}
		if err != nil {
			t.Fatalf("Consume(%d): %v", off, err)
		}
		offsetsOf[string(rec.Value)] = append(offsetsOf[string(rec.Value)], off)
	}
	var ok, beforeSending, midFlight, unknown, unknownAppended int
	for _, o := range outcomes {
		held := offsetsOf[o.value]
		if o.err == nil {
			ok++
			if len(held) != 1 || held[0] != o.offset {
				t.Errorf("%s succeeded at offset %d; the log holds it at %v", o.value, o.offset, held)
			}
			continue
		}
		if !errors.Is(o.err, context.Canceled) && !errors.Is(o.err, context.DeadlineExceeded) {
			t.Errorf("%s failed without the context's error: %v", o.value, o.err)
			continue
		}
		var perr *proglog.Error
		switch {
		case !errors.As(o.err, &perr):
			beforeSending++ // the context was done before the C call began
		case !errors.Is(o.err, proglog.ErrCancelled) && !errors.Is(o.err, proglog.ErrTimeout):
			t.Errorf("%s: the C error is neither ErrCancelled nor ErrTimeout: %v", o.value, o.err)
		case perr.OutcomeUnknown:
			unknown++
			if len(held) > 0 {
				unknownAppended++
			}
			continue
		default:
			midFlight++
		}
		if len(held) != 0 {
			t.Errorf("%s failed with a known outcome (%v), yet the log holds it at %v", o.value,
				o.err, held)
		}
	}
	t.Logf("%d produces: %d succeeded, %d stopped before the C call, %d cancelled in C with "+
		"nothing appended, %d with an unknown outcome (%d of them appended)", len(outcomes), ok,
		beforeSending, midFlight, unknown, unknownAppended)
	return midFlight + unknown
}

// cancelInFlight runs a phase of produces whose contexts end within `window`
// (phase builds one produce's context from it), checks them, and fails the
// test unless some were cancelled inside their C call. A window measured at a
// slow moment lets every produce finish first, so the window is halved and the
// phase run again, at most four times.
func cancelInFlight(t *testing.T, client *proglog.Client, tag string, window time.Duration,
	phase func(window time.Duration) func(rng *rand.Rand, do func(context.Context))) {
	t.Helper()
	for round := 1; round <= 4; round++ {
		outcomes := produceUnderCancel(t, client, fmt.Sprintf("%s%d", tag, round), phase(window))
		if checkOutcomes(t, client, outcomes) > 0 {
			return
		}
		window /= 2
	}
	t.Errorf("%s: no produce was cancelled while in C: the test proved nothing", tag)
}

// TestCancelledProducesReportTheirOutcome cancels produces mid-flight. A call
// returns only after its C call did, so each result agrees with the log, and
// no goroutine of the call outlives it (the race detector watches the rest).
func TestCancelledProducesReportTheirOutcome(t *testing.T) {
	addr, _ := serverAddr(t)
	client := dial(t, addr)
	warmCtx, warmCancel := context.WithCancel(context.Background())
	if _, err := client.Produce(warmCtx, []byte("warm-up")); err != nil {
		t.Fatal(err)
	}
	warmCancel()
	// Cancel within twice a produce's usual time, so that about half are cancelled
	// in flight whatever this machine's speed.
	started := time.Now()
	for i := 0; i < 20; i++ {
		if _, err := client.Produce(context.Background(), []byte("timing")); err != nil {
			t.Fatal(err)
		}
	}
	window := 2 * time.Since(started) / 20
	baseline := runtime.NumGoroutine()

	cancelInFlight(t, client, "cancel", window,
		func(window time.Duration) func(rng *rand.Rand, do func(context.Context)) {
			return func(rng *rand.Rand, do func(context.Context)) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				delay := time.Duration(rng.Int63n(int64(window)))
				canceller := make(chan struct{})
				go func() {
					defer close(canceller)
					time.Sleep(delay)
					cancel()
				}()
				do(ctx)
				<-canceller // joined, so that the goroutine count below is exact
			}
		})
	if n := runtime.NumGoroutine(); n > baseline {
		t.Errorf("%d goroutines after every produce returned, %d before: a call left one running",
			n, baseline)
	}

	cancelInFlight(t, client, "deadline", window,
		func(window time.Duration) func(rng *rand.Rand, do func(context.Context)) {
			return func(rng *rand.Rand, do func(context.Context)) {
				ctx, cancel := context.WithTimeout(context.Background(),
					time.Duration(1+rng.Int63n(int64(window))))
				defer cancel()
				do(ctx)
			}
		})
}

func TestStreamNextDeadlineKeepsTheStream(t *testing.T) {
	addr, _ := serverAddr(t)
	client := dial(t, addr)
	ctx := context.Background()
	stream, err := client.Stream(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = stream.Next(short)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, proglog.ErrTimeout) {
		t.Fatalf("Next on an empty log with a deadline: %v; want DeadlineExceeded and ErrTimeout", err)
	}
	if _, err := client.Produce(ctx, []byte("after the timeout")); err != nil {
		t.Fatal(err)
	}
	rec, err := stream.Next(ctx)
	if err != nil || string(rec.Value) != "after the timeout" || rec.Offset != 0 {
		t.Fatalf("Next after a timed-out Next: %+v, %v", rec, err)
	}
}

func TestStreamNextCancelEndsTheStream(t *testing.T) {
	addr, _ := serverAddr(t)
	client := dial(t, addr)
	for _, tc := range []struct {
		name string
		next func(*proglog.Stream) error
	}{
		{"CancelledBefore", func(stream *proglog.Stream) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := stream.Next(ctx)
			return err
		}},
		{"CancelledBeforeOrDuring", func(stream *proglog.Stream) error {
			ctx, cancel := context.WithCancel(context.Background())
			result := make(chan error, 1)
			go func() {
				_, err := stream.Next(ctx)
				result <- err
			}()
			cancel()
			return <-result
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream, err := client.Stream(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if err := tc.next(stream); !errors.Is(err, context.Canceled) {
				t.Fatalf("Next whose context was cancelled: %v; want context.Canceled", err)
			}
			if _, err := stream.Next(context.Background()); !errors.Is(err, proglog.ErrCancelled) {
				t.Fatalf("Next after a cancelled Next: %v; want ErrCancelled (the stream ended)", err)
			}
		})
	}
}

func TestDialRejectsBadOptionsNamingThem(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  proglog.Option
		want string
	}{
		{"unknown policy", proglog.WithBalancePolicy(proglog.BalancePolicy(99)), "balance_policy"},
		{"negative attempts", proglog.WithMaxAttempts(-1), "max_attempts"},
		{"negative backoff", proglog.WithBackoff(-time.Millisecond, 0), "backoff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := proglog.Dial(context.Background(), []string{"127.0.0.1:1"}, tc.opt)
			if err == nil {
				client.Close()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, proglog.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial: %v; want ErrInvalidArgument naming %s", err, tc.want)
			}
		})
	}
}
