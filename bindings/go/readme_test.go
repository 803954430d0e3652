package proglog_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeExampleRuns runs the README's Go example as written, in a module of
// its own that points at this one.
func TestReadmeExampleRuns(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(text)
	begin, end := strings.Index(s, "<!-- sdk:begin"), strings.Index(s, "<!-- sdk:end -->")
	if begin < 0 || end < begin {
		t.Fatal("README.md has no sdk region")
	}
	blocks := regexp.MustCompile("(?ms)^```go\n(.*?)^```$").FindAllStringSubmatch(s[begin:end], -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no Go example in the sdk region")
	}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range blocks {
		dir := t.TempDir()
		goMod := "module example\n\ngo 1.22\n\nrequire github.com/proglog/proglog/bindings/go v0.0.0\n\n" +
			"replace github.com/proglog/proglog/bindings/go => " + here + "\n"
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(block[1]), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("go", "run", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go run of the README example: %v\n%s", err, out)
		}
		for _, want := range []string{"consumed hello at 0", "not there yet:", "streamed b at 2"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("README example output lacks %q:\n%s", want, out)
			}
		}
	}
}
