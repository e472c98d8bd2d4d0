package demo

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a fake child process (agent or app) when
// FAKECHILD_DIR is set: it records its pid in that directory, and its
// behaviour comes from FAKECHILD_MODE:
//
//	polite    exits on SIGTERM
//	stubborn  ignores SIGTERM and starts a grandchild in its process group
//	          that ignores it too
//
// so the supervisor's clean-up can be checked for leftovers.
func TestMain(m *testing.M) {
	if dir := os.Getenv("FAKECHILD_DIR"); dir != "" {
		fakeChild(dir, os.Getenv("FAKECHILD_MODE"))
		return
	}
	os.Exit(m.Run())
}

func fakeChild(dir, mode string) {
	sig := make(chan os.Signal, 1)
	switch mode {
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		if os.Getenv("FAKECHILD_GRANDCHILD") == "" {
			gc := exec.Command(os.Args[0], "grandchild")
			gc.Env = append(os.Environ(), "FAKECHILD_GRANDCHILD=1")
			_ = gc.Start()
		}
	default:
		signal.Notify(sig, syscall.SIGTERM)
	}
	_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.pid", os.Getpid())), []byte(strings.Join(os.Args[1:], " ")), 0o600)
	select {
	case <-sig:
		os.Exit(0)
	case <-time.After(2 * time.Minute):
		os.Exit(3)
	}
}

// fakePids returns the pids fake children recorded in dir.
func fakePids(t *testing.T, dir string) []int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	var pids []int
	for _, f := range files {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(f), "%d.pid", &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(stat)
	if i := strings.LastIndex(s, ")"); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// waitGone waits until none of pids is alive (a grandchild orphaned by a
// kill is reaped by init a moment later).
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d is still running", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
