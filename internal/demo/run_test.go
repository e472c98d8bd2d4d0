package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
)

// A demo whose agents never become ready fails with a clear message after
// the step timeout, and leaves nothing behind: no process, no files.
// The agents and applications are fake children (see TestMain); the
// simulator, the world and the supervision are real.
func TestRunFailsCleanlyWhenAgentsNeverAnswer(t *testing.T) {
	pidDir := t.TempDir()
	t.Setenv("FAKECHILD_DIR", pidDir)
	t.Setenv("FAKECHILD_MODE", "polite")
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	var out, errOut bytes.Buffer
	start := time.Now()
	err := Run(context.Background(), Options{
		Nodes: 3, Exe: os.Args[0], StepTimeout: 2 * time.Second,
		Durations: ec2sim.Durations{Pending: time.Millisecond},
		Out:       &out, Err: &errOut,
	})
	if err == nil || !strings.Contains(err.Error(), "was not ready within 2s") {
		t.Fatalf("Run: %v, want a readiness timeout", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Run took %s to give up", d)
	}
	pids := fakePids(t, pidDir)
	if len(pids) != 6 {
		t.Fatalf("%d children started, want 3 agents and 3 apps\n%s", len(pids), out.String())
	}
	var args []string
	for _, pid := range pids {
		b, _ := os.ReadFile(filepath.Join(pidDir, itoa(pid)+".pid"))
		args = append(args, string(b))
	}
	joined := strings.Join(args, "\n")
	for _, want := range []string{"agent --config ", "demo app --node node-3 --listen 127.0.0.13:"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no child started with %q:\n%s", want, joined)
		}
	}
	waitGone(t, pids)

	m := regexp.MustCompile(`files in (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("output names no directory:\n%s", out.String())
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("%s still exists after the demo: %v", m[1], err)
	}
	if !strings.Contains(errOut.String(), "--- last lines of node-1-") {
		t.Errorf("the agents' logs were not shown on failure:\n%s", errOut.String())
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Nodes: 2}, {Fault: "flood"}} {
		if err := Run(context.Background(), o); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
