package demo

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAppAnswersFromItsStateFile(t *testing.T) {
	state := filepath.Join(t.TempDir(), "node-1.active")
	srv := httptest.NewServer(AppHandler("node-1", state))
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	hook := func(cmd string) error {
		c := exec.Command("/bin/sh", "-c", cmd)
		c.Env = append(os.Environ(), "DEMO_STATE_FILE="+state)
		return c.Run()
	}
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("before start: %d, want 503", code)
	}
	if hook(MonitorHook) == nil {
		t.Error("monitor succeeds before start")
	}
	if err := hook(StartHook); err != nil {
		t.Fatal(err)
	}
	if code, body := get(); code != http.StatusOK || body != "web active on node-1" {
		t.Fatalf("after start: %d %q", code, body)
	}
	if err := hook(MonitorHook); err != nil {
		t.Errorf("monitor fails while active: %v", err)
	}
	if err := hook(StopHook); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("after stop: %d, want 503", code)
	}
	if err := hook(StopHook); err != nil {
		t.Errorf("a second stop must succeed too: %v", err)
	}
}

func TestRunAppStopsWithItsContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunApp(ctx, "n", addr, filepath.Join(t.TempDir(), "x")) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := RunApp(context.Background(), "n", "256.0.0.1:1", "x"); err == nil {
		t.Error("bad listen address: want an error")
	}
}
