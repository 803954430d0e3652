package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is what the checker prints, as one JSON object.
type Verdict struct {
	Result     string  `json:"result"` // Ok, Illegal, Unknown (timed out)
	Operations int     `json:"operations"`
	Checked    int     `json:"checked"` // operations given to porcupine
	Seconds    float64 `json:"seconds"`
}

// Check runs porcupine on the history.
func Check(records []Record, timeout time.Duration) Verdict {
	start := time.Now()
	ops := ToOperations(records)
	result := porcupine.CheckOperationsTimeout(appendOnlyLog, ops, timeout)
	return Verdict{Result: string(result), Operations: len(records), Checked: len(ops),
		Seconds: time.Since(start).Seconds()}
}

func main() {
	timeout := flag.Duration("timeout", 5*time.Minute, "give up (exit 3) after this long")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: checker [--timeout D] HISTORY.jsonl\n"+
			"Exit 0: linearizable; 1: not linearizable; 2: bad input; 3: timed out.\n")
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	file, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "checker:", err)
		os.Exit(2)
	}
	defer file.Close()
	records, err := ReadHistory(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "checker:", err)
		os.Exit(2)
	}
	verdict := Check(records, *timeout)
	out, _ := json.Marshal(verdict)
	fmt.Println(string(out))
	switch verdict.Result {
	case string(porcupine.Ok):
		os.Exit(0)
	case string(porcupine.Illegal):
		os.Exit(1)
	default:
		fmt.Fprintf(os.Stderr, "checker: timed out after %v\n", *timeout)
		os.Exit(3)
	}
}
