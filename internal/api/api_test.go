package api

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fakeBackend struct {
	standby     map[string]bool
	maintenance bool
	moves       []string
}

func (f *fakeBackend) Status(context.Context) (Status, error) {
	return Status{
		Cluster: "web", Node: "node-1", Version: "test", Time: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		Quorum:      Quorum{Quorate: true, Votes: 2, Expected: 3, Needed: 2},
		Coordinator: "node-1",
		Maintenance: f.maintenance,
		Members: []Member{
			{Name: "node-1", InstanceID: "i-01", Zone: "us-east-1a", State: "alive", InstanceState: "running", Incarnation: 1},
			{Name: "node-2", InstanceID: "i-02", Zone: "us-east-1b", State: "dead", InstanceState: "stopped", Incarnation: 3},
		},
		Groups: []Group{{Name: "web", Owner: "node-1", State: "started", Failovers: 1, Resources: []Resource{
			{Kind: "elastic-ip", ID: "eipalloc-01", Address: "198.51.100.7", Holder: "node-1"},
		}}},
		Events: []Event{{Seq: 7, Time: time.Date(2026, 11, 24, 8, 59, 0, 0, time.UTC), Kind: "fence", Node: "node-2", Outcome: "ok", Message: "stopped after member failed", Duration: 1200 * time.Millisecond}},
	}, nil
}

func (f *fakeBackend) History(_ context.Context, after uint64, limit int) ([]Event, error) {
	st, _ := f.Status(context.Background())
	var out []Event
	for _, e := range st.Events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeBackend) SetStandby(_ context.Context, node string, on bool) error {
	if node != "node-1" && node != "node-2" {
		return NotFoundError{"node " + node}
	}
	f.standby[node] = on
	return nil
}

func (f *fakeBackend) SetMaintenance(_ context.Context, on bool) error {
	f.maintenance = on
	return nil
}

func (f *fakeBackend) Move(_ context.Context, group string, req MoveRequest) (MoveTicket, error) {
	if req.To == "node-2" {
		return MoveTicket{}, ConflictError{"node-2 is dead and cannot take web"}
	}
	f.moves = append(f.moves, group+"->"+req.To)
	return MoveTicket{Group: group, To: req.To, AfterSeq: 7}, nil
}

func (f *fakeBackend) Unfence(context.Context, string) (FenceResult, error) {
	return FenceResult{Outcome: "started"}, nil
}
func (f *fakeBackend) Fence(context.Context, string) (FenceResult, error) {
	return FenceResult{Outcome: "confirmed"}, nil
}

func (f *fakeBackend) Keyring(context.Context, KeyringRequest) (KeyringResponse, error) {
	return KeyringResponse{}, nil
}

func (f *fakeBackend) Ready() error { return nil }

func serveUnix(t *testing.T, b Backend) (*Client, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "ec2ha.sock")
	l, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(b, "", slog.New(slog.DiscardHandler))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return NewClient(sock, ""), sock
}

func TestOperatorRequestsOverTheSocket(t *testing.T) {
	b := &fakeBackend{standby: map[string]bool{}}
	c, sock := serveUnix(t, b)
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil || st.Cluster != "web" || len(st.Members) != 2 {
		t.Fatalf("status: %+v %v", st, err)
	}
	if err := c.SetStandby(ctx, "node-2", true); err != nil || !b.standby["node-2"] {
		t.Fatalf("standby: %v %v", err, b.standby)
	}
	if err := c.SetStandby(ctx, "node-9", true); err == nil || !strings.Contains(err.Error(), "node node-9 not found") {
		t.Fatalf("standby of an unknown node: %v", err)
	}
	if err := c.SetMaintenance(ctx, true); err != nil || !b.maintenance {
		t.Fatalf("maintenance: %v", err)
	}
	if _, err := c.Move(ctx, "web", MoveRequest{To: "node-2"}); err == nil || !strings.Contains(err.Error(), "dead") {
		t.Fatalf("move to a dead node should be refused with the reason: %v", err)
	}
	if _, err := c.Move(ctx, "web", MoveRequest{To: "node-3"}); err != nil || len(b.moves) != 1 {
		t.Fatalf("move: %v %v", err, b.moves)
	}
	ev, err := c.History(ctx, 0, 10)
	if err != nil || len(ev) != 1 || ev[0].Kind != "fence" {
		t.Fatalf("history: %v %v", ev, err)
	}
	st2, _ := os.Stat(sock)
	if st2.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600: only root may steer the cluster", st2.Mode().Perm())
	}
}

func TestSecondAgentCannotStealALiveSocket(t *testing.T) {
	_, sock := serveUnix(t, &fakeBackend{standby: map[string]bool{}})
	if _, err := ListenUnix(sock); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Fatalf("ListenUnix on a live socket: %v", err)
	}
	stale := filepath.Join(t.TempDir(), "stale.sock")
	l, _ := net.Listen("unix", stale)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	l2, err := ListenUnix(stale)
	if err != nil {
		t.Fatalf("a stale socket should be replaced: %v", err)
	}
	l2.Close()
}

func TestNoAgentGivesAUsefulError(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"), "")
	_, err := c.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is `ec2ha agent` running") {
		t.Fatalf("error %v should ask whether the agent runs", err)
	}
}

func TestTCPNeedsTheToken(t *testing.T) {
	srv := httptest.NewServer(Handler(&fakeBackend{standby: map[string]bool{}}, "s3cret", slog.New(slog.DiscardHandler)))
	defer srv.Close()
	if _, err := NewClient(srv.URL, "wrong").Status(context.Background()); err == nil || !strings.Contains(err.Error(), "bearer token") {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := NewClient(srv.URL, "s3cret").Status(context.Background()); err != nil {
		t.Fatalf("right token: %v", err)
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz must not need the token (load balancers probe it): %v %v", err, resp)
	}
}

func TestRenderStatusShowsWhatAnOperatorNeeds(t *testing.T) {
	b := &fakeBackend{maintenance: true}
	st, _ := b.Status(context.Background())
	var buf bytes.Buffer
	RenderStatus(&buf, st)
	out := buf.String()
	for _, want := range []string{"Cluster: web", "Quorum:  yes, 2 of 3 votes (2 needed)", "Coordinator: node-1", "MAINTENANCE MODE",
		"node-2", "DEAD", "stopped", "web: STARTED on node-1", "eipalloc-01 (198.51.100.7)", "-> node-1", "fence", "1.2s"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

func TestRenderHistoryIsByTime(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 11, 24, 9, 0, s, 0, time.UTC) }
	var buf bytes.Buffer
	// Numbered in the order they arrived, not the order they happened.
	RenderHistory(&buf, []Event{{Seq: 1, Time: at(3), Kind: "start"}, {Seq: 2, Time: at(1), Kind: "fence"}, {Seq: 3, Time: at(2), Kind: "move"}})
	out := buf.String()
	if f, m, s := strings.Index(out, "fence"), strings.Index(out, "move"), strings.Index(out, "start"); !(f < m && m < s) {
		t.Errorf("history not in time order:\n%s", out)
	}
}
