package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/metrics"
)

// The TCP API refuses a token file others can read, and says how to fix it.
func TestTCPAPIRefusesAReadableTokenFile(t *testing.T) {
	token := filepath.Join(t.TempDir(), "api.token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.API.Socket = ""
	cfg.API.Listen = "127.0.0.1:0"
	cfg.API.TokenFile = token
	cfg.Metrics.Listen = ""
	_, err := startServers(&cfg, &backend{}, metrics.New(), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "api.token_file") || !strings.Contains(err.Error(), "chmod 0600 "+token) {
		t.Fatalf("a 0644 token file: %v, want an error naming api.token_file and the fix", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatal("the error shows the token")
	}
}
