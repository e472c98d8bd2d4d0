package ec2sim_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
	"github.com/ec2ha/ec2ha/internal/clock"
)

func fakeClockEnv(t *testing.T) (*simtest.Env, *clock.Fake) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return simtest.Start(t, ec2sim.Options{Clock: fc}), fc
}

func TestTokenBucketThrottles(t *testing.T) {
	env, fc := fakeClockEnv(t)
	if err := env.Sim.SetFaults(ec2sim.Faults{Bucket: &ec2sim.TokenBucket{Rate: 2, Burst: 3}}); err != nil {
		t.Fatal(err)
	}
	call := func() error {
		_, err := env.Client.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{}, noRetry)
		return err
	}
	for i := range 3 {
		if err := call(); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	wantErr(t, call(), "RequestLimitExceeded", 503)
	fc.Advance(500 * time.Millisecond) // one token at 2/s
	if err := call(); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	wantErr(t, call(), "RequestLimitExceeded", 503)
}

func TestFaultsLimitedToActions(t *testing.T) {
	env := start(t)
	if err := env.Sim.SetFaults(ec2sim.Faults{InternalErrorRate: 1, Actions: []string{"StopInstances"}}); err != nil {
		t.Fatal(err)
	}
	id := *launch(t, env.Client, 1, "")[0].InstanceId
	_, err := env.Client.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{id}}, noRetry)
	wantErr(t, err, "InternalError", 500)
	if describe(t, env.Client, id).State.Name != types.InstanceStateNameRunning {
		t.Fatal("a failed StopInstances must not stop the instance")
	}
}

func TestDroppedConnection(t *testing.T) {
	env := start(t)
	if err := env.Sim.SetFaults(ec2sim.Faults{DropRate: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := env.Client.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{}, noRetry)
	var ae smithy.APIError
	if err == nil || errors.As(err, &ae) {
		t.Fatalf("want a transport error, got %v", err)
	}
}

func TestLatencyWaitsOnTheClock(t *testing.T) {
	env, fc := fakeClockEnv(t)
	if err := env.Sim.SetFaults(ec2sim.Faults{Latency: map[string]time.Duration{"DescribeVpcs": 3 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := env.Client.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{}, noRetry)
		done <- err
	}()
	if err := fc.BlockUntilWaiting(ctx, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("answered before its latency passed: %v", err)
	default:
	}
	fc.Advance(3 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Actions without an entry are not delayed.
	mustOK(env.Client.DescribeSubnets(ctx, &awsec2.DescribeSubnetsInput{}))
}

func TestStaleReads(t *testing.T) {
	env, fc := fakeClockEnv(t)
	c := env.Client
	id := *launch(t, c, 1, "")[0].InstanceId
	if err := env.Sim.SetFaults(ec2sim.Faults{StaleReads: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Second)
	mustOK(c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{id}}))
	if s := describe(t, c, id).State.Name; s != types.InstanceStateNameRunning {
		t.Fatalf("right after the write a stale read shows %s, want running", s)
	}
	fc.Advance(2 * time.Second)
	if s := describe(t, c, id).State.Name; s != types.InstanceStateNameStopped {
		t.Fatalf("after the lag: %s, want stopped", s)
	}
	// Writes see the live world: starting a stopped instance works even
	// while reads lag.
	mustOK(c.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: []string{id}}))
	if s := describe(t, c, id).State.Name; s != types.InstanceStateNameStopped {
		t.Fatalf("stale read after start: %s", s)
	}
}

func TestMachineGoneEvent(t *testing.T) {
	env := start(t)
	evs := events(env)
	id := *launch(t, env.Client, 1, "")[0].InstanceId
	if err := env.Sim.SetMachineGone(id, true); err != nil {
		t.Fatal(err)
	}
	for e := range evs {
		if e.Type == ec2sim.EventMachineGone {
			if e.InstanceID != id || !e.Gone || e.State != "running" {
				t.Fatalf("event %+v", e)
			}
			break
		}
	}
	if err := env.Sim.SetMachineGone("i-0123456789abcdef0", true); err == nil {
		t.Fatal("unknown instance accepted")
	}
}

func TestAdminAPI(t *testing.T) {
	env := start(t)
	// Event stream first, so it sees what follows.
	resp, err := http.Get(env.URL + "/admin/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)

	req, _ := http.NewRequest(http.MethodPut, env.URL+"/admin/faults", strings.NewReader(`{"throttleRate":1,"latency":{"*":"1ms"}}`))
	put, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	put.Body.Close()
	if put.StatusCode != 200 || env.Sim.Faults().ThrottleRate != 1 || env.Sim.Faults().Latency["*"] != time.Millisecond {
		t.Fatalf("PUT /admin/faults: %d, %+v", put.StatusCode, env.Sim.Faults())
	}
	_, err = env.Client.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{}, noRetry)
	wantErr(t, err, "RequestLimitExceeded", 503)

	bad, _ := http.NewRequest(http.MethodPut, env.URL+"/admin/faults", strings.NewReader(`{"dropRate":2}`))
	badResp, err := http.DefaultClient.Do(bad)
	if err != nil {
		t.Fatal(err)
	}
	badResp.Body.Close()
	if badResp.StatusCode != 400 {
		t.Fatalf("dropRate 2 accepted: %d", badResp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPut, env.URL+"/admin/faults", strings.NewReader(`{}`))
	if r, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		r.Body.Close()
	}

	id := *launch(t, env.Client, 1, "")[0].InstanceId
	gone, err := http.Post(env.URL+"/admin/instances/"+id+"/machine-gone", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	gone.Body.Close()
	if gone.StatusCode != 204 {
		t.Fatalf("machine-gone: %d", gone.StatusCode)
	}
	var seen []string
	for len(seen) < 3 && lines.Scan() {
		var e ec2sim.Event
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("event line %q: %v", lines.Text(), err)
		}
		seen = append(seen, string(e.Type)+":"+e.State)
	}
	world, err := http.Get(env.URL + "/admin/world")
	if err != nil {
		t.Fatal(err)
	}
	dump, _ := io.ReadAll(world.Body)
	world.Body.Close()
	if !strings.Contains(string(dump), id) || !strings.Contains(string(dump), `"MachineGone": true`) {
		t.Fatalf("GET /admin/world does not show the instance gone:\n%.400s", dump)
	}
	want := "launch:pending state:running machine-gone:running"
	if got := strings.Join(seen, " "); got != want {
		t.Fatalf("event stream %q, want %q", got, want)
	}
}
