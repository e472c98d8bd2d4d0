package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ec2ha/ec2ha/ec2"
)

// run executes the CLI in-process and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestKeygenPrintsA32ByteKey(t *testing.T) {
	out, _, err := run(t, "keygen")
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil || len(key) != 32 {
		t.Fatalf("keygen printed %q: %d bytes, %v", out, len(key), err)
	}
	again, _, _ := run(t, "keygen")
	if again == out {
		t.Fatal("two keygen runs printed the same key")
	}
}

func TestKeygenWritesA0600File(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gossip.key")
	if _, _, err := run(t, "keygen", "--out", path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	data, _ := os.ReadFile(path)
	if key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data))); err != nil || len(key) != 32 {
		t.Fatalf("key file holds %d bytes, %v", len(key), err)
	}
	if _, _, err := run(t, "keygen", "--out", path); err == nil {
		t.Fatal("keygen overwrote an existing key file")
	}
}

func TestConfigValidateReportsProblemsAndExitStatus(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "gossip.key")
	if _, _, err := run(t, "keygen", "--out", key); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EC2HA_GOSSIP_KEY_FILE", key)
	out, _, err := run(t, "config", "validate", "--config", "../../examples/three-node.yaml")
	if err != nil || !strings.Contains(out, "is valid") {
		t.Fatalf("valid example: %q, %v", out, err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("cluster: {name: x}\nnodes: [{name: a}]\ngroups: [{name: g, nodes: [b], resources: {elastic_ips: [{allocation_id: 1.2.3.4}]}}]\nlogs: {}\n"), 0o644)
	_, errOut, err := run(t, "config", "validate", "--config", bad)
	if err == nil {
		t.Fatal("invalid configuration exited 0")
	}
	for _, want := range []string{"groups[0].nodes[0]", "allocation_id", "eipalloc-", "logs", `did you mean "log"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("output lacks %q:\n%s", want, errOut)
		}
	}
}

func TestConfigValidatePrintShowsFlagOverrides(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "gossip.key")
	run(t, "keygen", "--out", key)
	out, _, err := run(t, "config", "validate", "--print", "--config", "../../examples/three-node.yaml",
		"--gossip.key_file", key, "--gossip.bind_port", "7000")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "bind_port: 7000") || !strings.Contains(out, "probe_interval: 0s") {
		t.Fatalf("--print should show the flag's value and defaults:\n%s", out)
	}
}

func TestIAMPolicyIsJSONWithTheCodesActions(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte(`cluster: {name: web}
nodes: [{name: a}, {name: b}, {name: c}]
gossip: {key_file: /not/on/this/workstation}
fencing: {levels: [{method: stop, timeout: 30s}, {method: terminate, timeout: 60s}]}
groups:
  - name: web
    nodes: [a, b, c]
    resources:
      elastic_ips: [{allocation_id: eipalloc-0123456789abcdef0}]
      secondary_ips: [{address: 10.0.1.5}]
      overlay_ips: [{address: 192.168.1.1, route_tables: [rtb-0123456789abcdef0]}]
replacement: {enabled: true, launch_template: {id: lt-0123456789abcdef0}}
`), 0o644)
	out, _, err := run(t, "iam-policy", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Action    []string
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("iam-policy output is not JSON: %v\n%s", err, out)
	}
	var got []string
	tagged := false
	for _, s := range doc.Statement {
		for _, a := range s.Action {
			if strings.HasPrefix(a, "ec2:") && !slices.Contains(got, a) {
				got = append(got, a)
			}
			if a == "ec2:StopInstances" && s.Condition["StringEquals"]["aws:ResourceTag/ec2ha:cluster"] == "web" {
				tagged = true
			}
		}
	}
	var want []string
	for _, a := range ec2.Actions {
		want = append(want, "ec2:"+a.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("EC2 actions\n got %v\nwant %v", got, want)
	}
	if !tagged {
		t.Error("StopInstances is not conditioned on aws:ResourceTag/ec2ha:cluster = web")
	}
}

func TestOperatorCommandsWithoutAnAgentSaySo(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, args := range [][]string{{"status"}, {"members"}, {"history"}, {"failover", "web"}, {"standby", "a"}, {"maintenance", "on"}, {"fence", "a", "--yes"}} {
		_, _, err := run(t, append(args, "--socket", sock)...)
		if err == nil || !strings.Contains(err.Error(), "is `ec2ha agent` running") {
			t.Errorf("ec2ha %v: %v, want to be asked whether the agent runs", args, err)
		}
	}
}

func TestCompletionAndVersion(t *testing.T) {
	out, _, err := run(t, "completion", "bash")
	if err != nil || !strings.Contains(out, "ec2ha") {
		t.Fatalf("completion bash: %v", err)
	}
	out, _, err = run(t, "version")
	if err != nil || !strings.HasPrefix(out, "ec2ha ") {
		t.Fatalf("version: %q %v", out, err)
	}
}
