package ec2sim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
)

// TestServe runs the server as `ec2ha sim` does: it prints its endpoint,
// answers the SDK, and on cancellation (SIGINT/SIGTERM in the command)
// stops and leaves its state file behind.
func TestServe(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	pr, pw := io.Pipe()
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ec2sim.Serve(runCtx, ec2sim.ServeConfig{Listen: "127.0.0.1:0", Out: pw, Options: ec2sim.Options{StatePath: state}})
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatal("no banner")
	}
	banner := lines.Text()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	endpoint := strings.Fields(strings.SplitAfter(banner, "listening on ")[1])[0]
	c := awsec2.New(awsec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("any", "thing", "")})
	run := mustOK(c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not stop")
	}
	b, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(b), *run.Instances[0].InstanceId) {
		t.Fatalf("state file after stop: %v", err)
	}
}

func TestParseLatency(t *testing.T) {
	cases := []struct {
		spec string
		want map[string]time.Duration
		err  string
	}{
		{"", map[string]time.Duration{}, ""},
		{"200ms", map[string]time.Duration{"*": 200 * time.Millisecond}, ""},
		{"StopInstances=2s,*=50ms", map[string]time.Duration{"StopInstances": 2 * time.Second, "*": 50 * time.Millisecond}, ""},
		{"StopInstances=soon", nil, "not a duration"},
		{"Reboot=1s", nil, "not an action"},
	}
	for _, tc := range cases {
		got, err := ec2sim.ParseLatency(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.spec, got, err, tc.want)
		}
	}
}

func TestFaultsJSON(t *testing.T) {
	in := ec2sim.Faults{Latency: map[string]time.Duration{"*": 250 * time.Millisecond}, ThrottleRate: 0.5,
		Bucket: &ec2sim.TokenBucket{Rate: 10, Burst: 20}, StaleReads: 2 * time.Second, Deny: []string{"StopInstances"}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"250ms"`) || !strings.Contains(string(b), `"staleReads":"2s"`) {
		t.Fatalf("durations not human-readable: %s", b)
	}
	var out ec2sim.Faults
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %+v %v", out, err)
	}
	for _, bad := range []string{`{"throttleRate":1.5}`, `{"staleReads":"soon"}`, `{"tokenBucket":{"rate":0,"burst":1}}`} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
