package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSecretsAreRedacted(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("loaded", "key", "c2VjcmV0", "api_token", "t0ken", "aws_secret_access_key", "AKIA", "key_file", "/etc/ec2ha/gossip.key")
	out := buf.String()
	for _, secret := range []string{"c2VjcmV0", "t0ken", "AKIA"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line contains secret %q: %s", secret, out)
		}
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("json format is not JSON: %v", err)
	}
	if line["key_file"] != "/etc/ec2ha/gossip.key" {
		t.Errorf("file paths are not secrets and must stay readable: %v", line["key_file"])
	}
}

func TestFormatAndLevel(t *testing.T) {
	var buf bytes.Buffer
	t.Setenv("JOURNAL_STREAM", "")
	log, _ := New(&buf, "warn", "auto")
	log.Info("hidden")
	log.Warn("shown", "node", "a")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "level=WARN msg=shown node=a") {
		t.Fatalf("auto on a terminal should be text at warn level, got %q", buf.String())
	}
	t.Setenv("JOURNAL_STREAM", "8:1234")
	buf.Reset()
	log, _ = New(&buf, "info", "auto")
	log.Info("x")
	if !strings.HasPrefix(buf.String(), "{") {
		t.Fatalf("auto under systemd should be JSON, got %q", buf.String())
	}
	if _, err := New(&buf, "loud", "text"); err == nil {
		t.Fatal("accepted log level loud")
	}
}
