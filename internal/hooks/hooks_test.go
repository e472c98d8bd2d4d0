package hooks_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/internal/hooks"
)

func TestRun(t *testing.T) {
	tr := hooks.Transition{Group: "web", Kind: hooks.Start, Node: "i-new", From: "i-old", To: "i-new", Reason: "fenced",
		Extra: map[string]string{"EC2HA_VIP": "172.31.10.9"}}
	for _, c := range []struct {
		name     string
		hook     hooks.Hook
		code     int // -1: timed out; 0: success
		wantLogs []string
	}{
		{"env and output reach the log", hooks.Hook{Command: []string{"sh", "-c", `echo "$EC2HA_GROUP $EC2HA_HOOK $EC2HA_FROM->$EC2HA_TO $EC2HA_REASON $EC2HA_VIP"; echo oops >&2`}},
			0, []string{`msg="web start i-old->i-new fenced 172.31.10.9"`, `level=WARN msg=oops`}},
		{"exit status is reported", hooks.Hook{Command: []string{"sh", "-c", "echo not running; exit 7"}}, 7, []string{"not running"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := hooks.Run(context.Background(), slog.New(slog.NewTextHandler(&buf, nil)), c.hook, tr)
			var exit *hooks.ExitError
			switch {
			case c.code == 0 && err != nil:
				t.Fatalf("error %v", err)
			case c.code != 0 && (!errors.As(err, &exit) || exit.Code != c.code || exit.TimedOut != (c.code == -1)):
				t.Fatalf("error %v, want exit code %d", err, c.code)
			}
			for _, want := range c.wantLogs {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, buf.String())
				}
			}
		})
	}
}

func TestRunWithoutCommandNamesTheSetting(t *testing.T) {
	err := hooks.Run(context.Background(), slog.Default(), hooks.Hook{}, hooks.Transition{Group: "web", Kind: hooks.Monitor})
	if err == nil || !strings.Contains(err.Error(), "groups.web.monitor") {
		t.Fatalf("error %v should name groups.web.monitor", err)
	}
}

func TestTimeoutKillsWhatTheHookStarted(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	h := hooks.Hook{Command: []string{"sh", "-c", `sleep 600 & echo $! > "$1"; wait`, "sh", pidFile}, Timeout: 300 * time.Millisecond}
	err := hooks.Run(context.Background(), slog.New(slog.DiscardHandler), h, hooks.Transition{Group: "web", Kind: hooks.Stop})
	var exit *hooks.ExitError
	if !errors.As(err, &exit) || !exit.TimedOut {
		t.Fatalf("error %v, want a timeout", err)
	}
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	stat := "/proc/" + strings.TrimSpace(string(pid)) + "/stat"
	for range 200 { // the kill is delivered at once; reaping may lag
		b, err := os.ReadFile(stat)
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the hook's background child survived the timeout")
}
