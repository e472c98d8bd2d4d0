package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeKey writes a valid gossip key with mode 0600 and returns its path.
func writeKey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gossip.key")
	if err := WriteKeyFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ec2ha.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func minimal(keyFile string) string {
	return fmt.Sprintf(`cluster:
  name: web
nodes:
  - {name: a, address: 10.0.1.10}
  - {name: b, address: 10.0.2.10}
  - {name: c, address: 10.0.3.10}
gossip:
  key_file: %s
groups:
  - name: web
    nodes: [a, b]
    resources:
      elastic_ips: [{allocation_id: eipalloc-0123456789abcdef0}]
`, keyFile)
}

// valueFor returns a value for key that differs from its default, as YAML,
// as an environment/flag string, and as the Go value it decodes to.
func valueFor(t *testing.T, key string, def any, variant int) (yamlText, text string, want any) {
	t.Helper()
	switch d := def.(type) {
	case string:
		// Keys with a fixed vocabulary get a valid alternative, others a
		// recognisable string; validation is not run in this test.
		s := fmt.Sprintf("v%d-%s", variant, strings.ReplaceAll(key, ".", "-"))
		return fmt.Sprintf("%q", s), s, s
	case int:
		n := d + 10 + variant
		return fmt.Sprint(n), fmt.Sprint(n), n
	case bool:
		// Only two values exist: the file sets !default, env and flag
		// alternate so each layer is observable.
		b := !d
		if variant == 1 {
			b = d
		}
		return fmt.Sprint(b), fmt.Sprint(b), b
	case time.Duration:
		v := d + time.Duration(variant+1)*time.Second
		return fmt.Sprintf("%q", v.String()), v.String(), v
	case []string:
		v := []string{fmt.Sprintf("10.9.%d.1", variant), fmt.Sprintf("10.9.%d.2", variant)}
		return fmt.Sprintf("[%q, %q]", v[0], v[1]), strings.Join(v, ","), v
	}
	t.Fatalf("no test value for %s (%T)", key, def)
	return "", "", nil
}

// nestedYAML writes a dotted key as nested YAML.
func nestedYAML(key, value string) string {
	parts := strings.Split(key, ".")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i == len(parts)-1 {
			b.WriteString(" " + value)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func fieldByKey(cfg *Config, key string) any {
	v := reflect.ValueOf(cfg).Elem()
	for _, part := range strings.Split(key, ".") {
		v = v.FieldByIndex(fieldsByKey(v.Type())[part].Index)
	}
	return v.Interface()
}

// Every scalar key is set by the file, overridden by EC2HA_..., and that
// is overridden by --key: the precedence an operator relies on when a
// systemd drop-in or a one-off flag must win over the file.
func TestEveryKeyFromFileEnvAndFlag(t *testing.T) {
	defaults := leafDefaults()
	keys := make([]string, 0, len(defaults))
	for k := range defaults {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) < 40 {
		t.Fatalf("only %d keys found; the schema walk is broken", len(keys))
	}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			fileYAML, _, fileWant := valueFor(t, key, defaults[key], 0)
			_, envText, envWant := valueFor(t, key, defaults[key], 1)
			_, flagText, flagWant := valueFor(t, key, defaults[key], 2)
			path := writeFile(t, nestedYAML(key, fileYAML))

			cfg, err := load(mustRead(t, path), false, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := fieldByKey(cfg, key); !reflect.DeepEqual(got, fileWant) {
				t.Fatalf("from file: %s = %#v, want %#v", key, got, fileWant)
			}

			t.Setenv(EnvName(key), envText)
			cfg, err = load(mustRead(t, path), true, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := fieldByKey(cfg, key); !reflect.DeepEqual(got, envWant) {
				t.Fatalf("env %s=%s: %s = %#v, want %#v", EnvName(key), envText, key, got, envWant)
			}

			flags := Flags()
			if err := flags.Parse([]string{"--" + key + "=" + flagText}); err != nil {
				t.Fatal(err)
			}
			cfg, err = load(mustRead(t, path), true, flags)
			if err != nil {
				t.Fatal(err)
			}
			if got := fieldByKey(cfg, key); !reflect.DeepEqual(got, flagWant) {
				t.Fatalf("flag --%s=%s: %s = %#v, want %#v", key, flagText, key, got, flagWant)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// An unset flag must not override the file with the flag's default.
func TestUnsetFlagsKeepFileValues(t *testing.T) {
	key := writeKey(t)
	cfg, err := Load(writeFile(t, strings.Replace(minimal(key), "gossip:\n", "gossip:\n  bind_port: 7000\n", 1)), Flags())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gossip.BindPort != 7000 {
		t.Fatalf("bind_port = %d, want 7000 from the file", cfg.Gossip.BindPort)
	}
}

func TestMinimalFileGetsDefaults(t *testing.T) {
	key := writeKey(t)
	cfg, err := Load(writeFile(t, minimal(key)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.ExpectedVotes != 3 {
		t.Errorf("expected_votes = %d, want 3 (the node count)", cfg.Cluster.ExpectedVotes)
	}
	if cfg.Gossip.BindPort != 7946 || cfg.Gossip.Profile != "fast" || cfg.Fencing.Action != "stop" {
		t.Errorf("defaults not applied: %+v %+v", cfg.Gossip, cfg.Fencing)
	}
	if cfg.Groups[0].MigrationThreshold != 3 {
		t.Errorf("group migration_threshold = %d, want default 3", cfg.Groups[0].MigrationThreshold)
	}
}

func TestMissingFileSaysWhatToDo(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("error %v should say the file does not exist and how to point at one", err)
	}
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *ValidationError", err)
	}
	return ve.Problems
}

func TestUnknownKeysAreRejectedWithASuggestion(t *testing.T) {
	key := writeKey(t)
	body := minimal(key) + "metric:\n  listen: 1.2.3.4:1\n"
	body = strings.Replace(body, "elastic_ips:", "elastic_ip:", 1)
	_, err := Load(writeFile(t, body), nil)
	ps := problemsOf(t, err)
	got := map[string]string{}
	for _, p := range ps {
		got[p.Key] = p.Fix
	}
	if fix := got["metric"]; !strings.Contains(fix, `"metrics"`) {
		t.Errorf("metric: fix %q should suggest metrics; all: %v", fix, ps)
	}
	if fix := got["groups[0].resources.elastic_ip"]; !strings.Contains(fix, "elastic_ips") {
		t.Errorf("groups[0].resources.elastic_ip: fix %q should suggest elastic_ips; all: %v", fix, ps)
	}
}

func TestWrongTypeNamesTheKey(t *testing.T) {
	_, err := Parse([]byte("gossip:\n  bind_port: many\n"))
	ps := problemsOf(t, err)
	if len(ps) != 1 || !strings.Contains(ps[0].Key, "bind_port") {
		t.Fatalf("problems %v should name gossip.bind_port", ps)
	}
}

func TestValidationRules(t *testing.T) {
	key := writeKey(t)
	groupReadable := filepath.Join(t.TempDir(), "loose.key")
	k, _ := NewKey()
	os.WriteFile(groupReadable, []byte(k), 0o640)
	short := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(short, []byte(base64.StdEncoding.EncodeToString(make([]byte, 10))), 0o600)
	// Reading a FIFO would block validation forever.
	fifo := filepath.Join(t.TempDir(), "fifo.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(t.TempDir(), "huge.key")
	os.WriteFile(huge, []byte(strings.Repeat("A", 1<<20)), 0o600)

	cases := []struct {
		name    string
		edit    func(string) string
		wantKey string
		wantMsg string
	}{
		{"missing key file", func(s string) string { return strings.Replace(s, key, "/nonexistent/gossip.key", 1) }, "gossip.key_file", "does not exist"},
		{"key file readable by group", func(s string) string { return strings.Replace(s, key, groupReadable, 1) }, "gossip.key_file", "readable by group or others"},
		{"key of the wrong length", func(s string) string { return strings.Replace(s, key, short, 1) }, "gossip.key_file", "10 bytes"},
		{"key file that is a FIFO", func(s string) string { return strings.Replace(s, key, fifo, 1) }, "gossip.key_file", "not a regular file"},
		{"key file far too large", func(s string) string { return strings.Replace(s, key, huge, 1) }, "gossip.key_file", "short line"},
		{"duplicate group names", func(s string) string {
			return s + "  - name: web\n    nodes: [c]\n"
		}, "groups[1].name", "another group"},
		{"EIP that is not an allocation id", func(s string) string {
			return strings.Replace(s, "eipalloc-0123456789abcdef0", "54.1.2.3", 1)
		}, "groups[0].resources.elastic_ips[0].allocation_id", "not an Elastic IP allocation id"},
		{"node in a group but unknown", func(s string) string { return strings.Replace(s, "nodes: [a, b]", "nodes: [a, x]", 1) }, "groups[0].nodes[1]", "not a node listed"},
		{"expected votes smaller than the node list", func(s string) string {
			return strings.Replace(s, "  name: web\n", "  name: web\n  expected_votes: 2\n", 1)
		}, "cluster.expected_votes", "smaller than the 3 nodes"},
		{"bad cluster name", func(s string) string { return strings.Replace(s, "  name: web\n", "  name: Web_Cluster\n", 1) }, "cluster.name", "lower-case"},
		{"two_node with three nodes", func(s string) string {
			return strings.Replace(s, "  name: web\n", "  name: web\n  two_node: true\n", 1)
		}, "cluster.two_node", "exactly 2"},
		{"bad fencing action", func(s string) string { return s + "fencing:\n  action: reboot\n" }, "fencing.action", "not one of"},
		{"bad profile", func(s string) string { return strings.Replace(s, "gossip:\n", "gossip:\n  profile: turbo\n", 1) }, "gossip.profile", "not one of"},
		{"bad secondary ip", func(s string) string {
			return strings.Replace(s, "      elastic_ips:", "      secondary_ips: [{address: 10.0.1}]\n      elastic_ips:", 1)
		}, "groups[0].resources.secondary_ips[0].address", "not an IPv4"},
		{"overlay without route tables", func(s string) string {
			return strings.Replace(s, "      elastic_ips:", "      overlay_ips: [{address: 192.168.0.1/32}]\n      elastic_ips:", 1)
		}, "groups[0].resources.overlay_ips[0].route_tables", "is empty"},
		{"replacement without template", func(s string) string { return s + "replacement:\n  enabled: true\n" }, "replacement.launch_template", "names no template"},
		{"bad template version", func(s string) string {
			return s + "replacement:\n  launch_template: {name: x, version: latest}\n"
		}, "replacement.launch_template.version", "not a version"},
		{"TCP API without token", func(s string) string { return s + "api:\n  listen: 0.0.0.0:9948\n" }, "api.token_file", "required"},
		{"bad region", func(s string) string { return s + "aws:\n  region: Ireland\n" }, "aws.region", "not a region"},
		{"bad endpoint", func(s string) string { return s + "aws:\n  endpoint: localhost:4566\n" }, "aws.endpoint", "not an http(s) URL"},
		{"witness hosting a group", func(s string) string {
			return strings.Replace(s, "{name: b, address: 10.0.2.10}", "{name: b, address: 10.0.2.10, witness: true}", 1)
		}, "groups[0].nodes[1]", "witness"},
		{"duplicate node", func(s string) string { return strings.Replace(s, "{name: c,", "{name: a,", 1) }, "nodes[2].name", "twice"},
		{"bad log level", func(s string) string { return s + "log:\n  level: loud\n" }, "log.level", "not one of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tc.edit(minimal(key))), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, p := range problemsOf(t, err) {
				if p.Key == tc.wantKey && strings.Contains(p.Message, tc.wantMsg) {
					if p.Fix == "" {
						t.Errorf("problem %v has no fix", p)
					}
					return
				}
			}
			t.Fatalf("no problem for %s containing %q in:\n%v", tc.wantKey, tc.wantMsg, err)
		})
	}
}

// All problems are reported at once, not one per run.
func TestEveryProblemReportedAtOnce(t *testing.T) {
	body := `cluster: {name: "", expected_votes: 1}
nodes: [{name: a}, {name: b}]
gossip: {key_file: /nonexistent, profile: turbo}
fencing: {action: reboot}
groups: [{name: g, nodes: [zz], resources: {elastic_ips: [{allocation_id: bad}]}}]
`
	_, err := Load(writeFile(t, body), nil)
	ps := problemsOf(t, err)
	want := []string{"cluster.name", "cluster.expected_votes", "gossip.key_file", "gossip.profile", "fencing.action", "groups[0].nodes[0]", "groups[0].resources.elastic_ips[0].allocation_id"}
	keys := map[string]bool{}
	for _, p := range ps {
		keys[p.Key] = true
	}
	for _, k := range want {
		if !keys[k] {
			t.Errorf("missing problem for %s in %v", k, err)
		}
	}
}

func TestExamplesValidate(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %d examples, want at least 3", len(files))
	}
	t.Setenv("EC2HA_GOSSIP_KEY_FILE", writeKey(t))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	path := writeKey(t)
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	key, err := ReadKeyFile(path)
	if err != nil || len(key) != KeySize {
		t.Fatalf("ReadKeyFile: %d bytes, %v", len(key), err)
	}
	if err := WriteKeyFile(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("overwriting a key file: %v, want a refusal", err)
	}
}

func FuzzLoad(f *testing.F) {
	for _, ex := range []string{"../../examples/demo.yaml", "../../examples/three-node.yaml"} {
		if data, err := os.ReadFile(ex); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("cluster: {name: x}\ngroups: [{name: g, nodes: [a]}]\n"))
	f.Add([]byte("gossip: [1, 2]\n"))
	f.Add([]byte("groups: {a: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("Parse returned %T, want *ValidationError", err)
			}
			return
		}
		_ = cfg.Validate()
	})
}

func TestValidateWithoutFilesSkipsOnlyFiles(t *testing.T) {
	body := strings.Replace(minimal("/nonexistent/gossip.key"), "nodes: [a, b]", "nodes: [a, x]", 1)
	cfg, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	ps := problemsOf(t, cfg.ValidateWithoutFiles())
	if len(ps) != 1 || ps[0].Key != "groups[0].nodes[1]" {
		t.Fatalf("problems %v: want only the unknown node, not the missing key file", ps)
	}
}

// What --print shows must load back to the same configuration.
func TestPrintedConfigurationRoundTrips(t *testing.T) {
	cfg, err := Read("../../examples/three-node.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "timeout: 1m0s") || !strings.Contains(string(out), "bind_port: 7946") {
		t.Errorf("printed configuration lacks readable durations or defaults:\n%s", out)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("printed configuration does not parse: %v\n%s", err, out)
	}
	again, _ := back.YAML()
	if string(again) != string(out) {
		t.Fatalf("round trip changed the configuration:\n%s\n---\n%s", out, again)
	}
}

// The README's configuration reference is the operator's manual: every key
// the loader knows must be in it.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for key := range leafDefaults() {
		if !strings.Contains(string(readme), "`"+key+"`") {
			t.Errorf("README.md does not document %s", key)
		}
	}
}
