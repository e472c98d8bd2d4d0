package demo

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func fakeEnv(dir, mode string) []string {
	// A race-enabled child would sleep a second at exit by default.
	return append(os.Environ(), "FAKECHILD_DIR="+dir, "FAKECHILD_MODE="+mode, "GORACE=atexit_sleep_ms=0")
}

func waitPids(t *testing.T, dir string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := fakePids(t, dir)
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d fake children started, want %d", len(pids), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStopAllLeavesNothingRunning(t *testing.T) {
	dir := t.TempDir()
	var s Supervisor
	polite, err := s.Start("polite", []string{os.Args[0], "agent"}, fakeEnv(dir, "polite"), filepath.Join(dir, "polite.log"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start("stubborn", []string{os.Args[0], "app"}, fakeEnv(dir, "stubborn"), filepath.Join(dir, "stubborn.log")); err != nil {
		t.Fatal(err)
	}
	pids := waitPids(t, dir, 3) // polite, stubborn and its grandchild
	if len(s.Running()) != 2 {
		t.Fatalf("%d children running, want 2", len(s.Running()))
	}
	start := time.Now()
	killed := s.StopAll(500 * time.Millisecond)
	if !slices.Equal(killed, []string{"stubborn"}) {
		t.Errorf("killed %v, want only the child that ignores SIGTERM", killed)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("StopAll took %s with a 500ms grace", time.Since(start))
	}
	if polite.Alive() || len(s.Running()) != 0 {
		t.Error("children still running after StopAll")
	}
	waitGone(t, pids)
}

func TestKillPauseResume(t *testing.T) {
	dir := t.TempDir()
	p, err := Start("child", []string{os.Args[0]}, fakeEnv(dir, "polite"), filepath.Join(dir, "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	pids := waitPids(t, dir, 1)
	p.Pause()
	// A paused process still leaves on Stop: it is continued first.
	if !p.Stop(5 * time.Second) {
		t.Fatal("a paused child that handles SIGTERM had to be killed")
	}
	waitGone(t, pids)

	dir2 := t.TempDir()
	p, err = Start("child", []string{os.Args[0]}, fakeEnv(dir2, "stubborn"), filepath.Join(dir2, "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	pids = waitPids(t, dir2, 2)
	p.Kill()
	if p.Alive() {
		t.Fatal("alive after Kill")
	}
	waitGone(t, pids) // the grandchild went with the process group
	p.Kill()          // a second kill is harmless
	if !p.Stop(time.Second) {
		t.Error("Stop of an exited process should report a clean exit")
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Start("x", nil, nil, filepath.Join(dir, "x.log")); err == nil {
		t.Error("no command: want an error")
	}
	if _, err := Start("x", []string{filepath.Join(dir, "missing")}, nil, filepath.Join(dir, "x.log")); err == nil {
		t.Error("missing program: want an error")
	}
	if _, err := Start("x", []string{os.Args[0]}, nil, filepath.Join(dir, "no", "such", "x.log")); err == nil {
		t.Error("unwritable log: want an error")
	}
}
