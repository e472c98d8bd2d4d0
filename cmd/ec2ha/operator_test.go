package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/internal/api"
)

// switchoverBackend plays an agent that carries out a planned switchover
// in three steps.
type switchoverBackend struct {
	mu     sync.Mutex
	events []api.Event
	fail   bool
}

func (b *switchoverBackend) add(kind, outcome, msg string) {
	b.events = append(b.events, api.Event{Seq: uint64(len(b.events) + 1), Time: time.Now(), Kind: kind, Group: "web", Outcome: outcome, Message: msg})
}

func (b *switchoverBackend) Status(context.Context) (api.Status, error) {
	return api.Status{Cluster: "web", Node: "node-1", Quorum: api.Quorum{Quorate: true, Votes: 3, Expected: 3, Needed: 2},
		Members: []api.Member{{Name: "node-1", State: "alive"}}}, nil
}

func (b *switchoverBackend) History(_ context.Context, after uint64, limit int) ([]api.Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []api.Event
	for _, e := range b.events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (b *switchoverBackend) Move(_ context.Context, group string, req api.MoveRequest) (api.MoveTicket, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	after := uint64(len(b.events))
	b.add(api.KindSwitchover, api.OutcomeStarted, "to "+req.To)
	b.add("stop", api.OutcomeOK, "stop hook on node-1")
	b.add("move", api.OutcomeOK, "eipalloc-01 to node-2")
	if b.fail {
		b.add(api.KindSwitchover, api.OutcomeFailed, "start hook failed on node-2")
	} else {
		b.add(api.KindSwitchover, api.OutcomeOK, "web runs on node-2")
	}
	return api.MoveTicket{Group: group, To: req.To, AfterSeq: after}, nil
}

func (b *switchoverBackend) SetStandby(context.Context, string, bool) error { return nil }
func (b *switchoverBackend) SetMaintenance(context.Context, bool) error     { return nil }
func (b *switchoverBackend) Fence(context.Context, string) (api.FenceResult, error) {
	return api.FenceResult{Node: "node-2", Instance: "i-02", Outcome: "confirmed", Duration: time.Second}, nil
}
func (b *switchoverBackend) Unfence(_ context.Context, node string) (api.FenceResult, error) {
	if node != "node-2" {
		return api.FenceResult{}, api.ConflictError{Reason: node + " is alive (on i-01): nothing to unfence"}
	}
	return api.FenceResult{Node: "node-2", Instance: "i-02", Outcome: "started", Message: "StartInstances accepted"}, nil
}
func (b *switchoverBackend) Keyring(context.Context, api.KeyringRequest) (api.KeyringResponse, error) {
	return api.KeyringResponse{}, nil
}
func (b *switchoverBackend) Ready() error { return nil }

func serve(t *testing.T, b api.Backend) string {
	sock := filepath.Join(t.TempDir(), "a.sock")
	l, err := api.ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.Handler(b, "", slog.New(slog.DiscardHandler))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestFailoverWaitFollowsEachStep(t *testing.T) {
	sock := serve(t, &switchoverBackend{})
	out, _, err := run(t, "failover", "web", "--to", "node-2", "--wait", "--socket", sock)
	if err != nil {
		t.Fatalf("failover --wait: %v\n%s", err, out)
	}
	for _, want := range []string{"switching web over to node-2", "stop hook on node-1", "eipalloc-01 to node-2", "web runs on node-2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	sock = serve(t, &switchoverBackend{fail: true})
	_, _, err = run(t, "failover", "web", "--to", "node-2", "--wait", "--socket", sock)
	if err == nil || !strings.Contains(err.Error(), "start hook failed") {
		t.Fatalf("a failed switchover must exit non-zero with the reason: %v", err)
	}
}

func TestFenceAsksForConfirmation(t *testing.T) {
	sock := serve(t, &switchoverBackend{})
	cmd := newRootCmd()
	cmd.SetArgs([]string{"fence", "node-2", "--socket", sock})
	cmd.SetIn(strings.NewReader("no\n"))
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "no confirmation") {
		t.Fatalf("fence without yes: %v", err)
	}
	got, _, err := run(t, "fence", "node-2", "--yes", "--socket", sock)
	if err != nil || !strings.Contains(got, "confirmed") {
		t.Fatalf("fence --yes: %q %v", got, err)
	}
}

func TestUnfenceStartsTheNodeAndSaysWhyNot(t *testing.T) {
	sock := serve(t, &switchoverBackend{})
	cmd := newRootCmd()
	cmd.SetArgs([]string{"unfence", "node-2", "--socket", sock})
	cmd.SetIn(strings.NewReader("\n"))
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "no confirmation") {
		t.Fatalf("unfence without yes: %v", err)
	}
	got, _, err := run(t, "unfence", "node-2", "--yes", "--socket", sock)
	if err != nil || !strings.Contains(got, "node-2 (i-02): started") {
		t.Fatalf("unfence --yes: %q %v", got, err)
	}
	if _, _, err := run(t, "unfence", "node-1", "--yes", "--socket", sock); err == nil || !strings.Contains(err.Error(), "nothing to unfence") {
		t.Fatalf("unfence of a live node: %v", err)
	}
}

func TestStatusJSON(t *testing.T) {
	sock := serve(t, &switchoverBackend{})
	out, _, err := run(t, "status", "--json", "--socket", sock)
	if err != nil || !strings.Contains(out, `"quorate": true`) {
		t.Fatalf("status --json: %q %v", out, err)
	}
	out, _, err = run(t, "status", "--socket", sock)
	if err != nil || !strings.Contains(out, "Quorum:  yes, 3 of 3 votes") {
		t.Fatalf("status: %q %v", out, err)
	}
}

// Every operator command prints only JSON with --json, so scripts can
// parse whatever they run (failover --wait prints one object per step).
func TestEveryOperatorCommandSpeaksJSON(t *testing.T) {
	sock := serve(t, &switchoverBackend{})
	for _, args := range [][]string{
		{"status"}, {"members"}, {"history"}, {"failover", "web", "--to", "node-2"}, {"failover", "web", "--to", "node-2", "--wait"},
		{"standby", "node-2"}, {"unstandby", "node-2"}, {"maintenance", "on"}, {"maintenance", "off"},
		{"fence", "node-2", "--yes"}, {"keyring", "list"},
	} {
		out, _, err := run(t, append(args, "--json", "--socket", sock)...)
		if err != nil {
			t.Errorf("%v --json: %v", args, err)
			continue
		}
		dec := json.NewDecoder(strings.NewReader(out))
		n := 0
		for {
			var v any
			if err := dec.Decode(&v); err == io.EOF {
				break
			} else if err != nil {
				t.Errorf("%v --json printed something that is not JSON: %v\n%s", args, err, out)
				break
			}
			if v == nil {
				t.Errorf("%v --json printed null", args)
			}
			n++
		}
		if n == 0 {
			t.Errorf("%v --json printed nothing", args)
		}
	}
}

// A long history shows its newest events, not its oldest.
func TestHistoryShowsTheNewestEvents(t *testing.T) {
	b := &switchoverBackend{}
	for i := 1; i <= 2500; i++ {
		b.add("decision", "", fmt.Sprintf("event number %d.", i))
	}
	sock := serve(t, b)
	out, _, err := run(t, "history", "--limit", "100", "--socket", sock)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "event number 2500.") || !strings.Contains(out, "event number 2401.") || strings.Contains(out, "event number 2400.") || strings.Contains(out, "event number 1.") {
		t.Errorf("history --limit 100 of 2500 events does not show exactly the newest 100:\n%.300s…", out)
	}
}
