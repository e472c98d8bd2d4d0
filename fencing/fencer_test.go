package fencing

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/internal/clock"
)

// fakeEC2 holds instance states; a stop moves the target to stopAs (for
// example "stopping" forever), a terminate to terminated.
type fakeEC2 struct {
	ec2.API
	mu     sync.Mutex
	states map[string]types.InstanceStateName
	stopAs types.InstanceStateName
	calls  []string
	// throttleStops answers that many StopInstances calls with EC2's
	// throttling error; stopErr, if set, answers every one with it.
	throttleStops int
	stopErr       error
	// throttleDescribes answers that many DescribeInstances calls with
	// EC2's throttling error.
	throttleDescribes int
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *awsec2.DescribeInstancesInput, _ ...func(*awsec2.Options)) (*awsec2.DescribeInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.throttleDescribes > 0 {
		f.throttleDescribes--
		return nil, &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Fault: smithy.FaultClient}
	}
	id := in.InstanceIds[0]
	s, ok := f.states[id]
	if !ok {
		return &awsec2.DescribeInstancesOutput{}, nil
	}
	inst := types.Instance{InstanceId: aws.String(id), State: &types.InstanceState{Name: s},
		Tags: []types.Tag{{Key: aws.String(ClusterTag), Value: aws.String("c")}}}
	return &awsec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: []types.Instance{inst}}}}, nil
}

func (f *fakeEC2) StopInstances(_ context.Context, in *awsec2.StopInstancesInput, _ ...func(*awsec2.Options)) (*awsec2.StopInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !aws.ToBool(in.Force) {
		return nil, errors.New("fencing must stop with Force")
	}
	if f.stopErr != nil {
		f.calls = append(f.calls, "stop refused")
		return nil, f.stopErr
	}
	if f.throttleStops > 0 {
		f.throttleStops--
		f.calls = append(f.calls, "stop throttled")
		return nil, &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Fault: smithy.FaultClient}
	}
	f.calls = append(f.calls, "stop")
	f.states[in.InstanceIds[0]] = f.stopAs
	return &awsec2.StopInstancesOutput{}, nil
}

func (f *fakeEC2) TerminateInstances(_ context.Context, in *awsec2.TerminateInstancesInput, _ ...func(*awsec2.Options)) (*awsec2.TerminateInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "terminate")
	f.states[in.InstanceIds[0]] = types.InstanceStateNameTerminated
	return &awsec2.TerminateInstancesOutput{}, nil
}

func (f *fakeEC2) CreateTags(context.Context, *awsec2.CreateTagsInput, ...func(*awsec2.Options)) (*awsec2.CreateTagsOutput, error) {
	return &awsec2.CreateTagsOutput{}, nil
}

func (f *fakeEC2) callList() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ",")
}

// fenceOnFakeClock runs a fence while advancing the fake clock one poll
// interval at a time until it returns.
func fenceOnFakeClock(t *testing.T, f *PowerFencer, clk *clock.Fake, req Request) (Record, error) {
	t.Helper()
	type result struct {
		rec Record
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := f.Fence(context.Background(), req)
		done <- result{rec, err}
	}()
	for {
		select {
		case r := <-done:
			return r.rec, r.err
		case <-time.After(time.Millisecond):
			clk.Advance(f.cfg.PollInterval)
		}
	}
}

func newFake(t *testing.T, api *fakeEC2, mod func(*Config)) (*PowerFencer, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := Config{Cluster: "c", Self: "i-self", PollInterval: time.Second, Clock: clk,
		Levels: []Level{{StopForce, 10 * time.Second}, {Terminate, 10 * time.Second}}}
	if mod != nil {
		mod(&cfg)
	}
	f, err := New(api, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f, clk
}

func running() map[string]types.InstanceStateName {
	return map[string]types.InstanceStateName{"i-self": "running", "i-peer": "running"}
}

func TestStuckStopFallsThroughToTerminate(t *testing.T) {
	api := &fakeEC2{states: running(), stopAs: types.InstanceStateNameStopping}
	f, clk := newFake(t, api, nil)
	rec, err := fenceOnFakeClock(t, f, clk, Request{Target: "i-peer", Requester: "a", Authority: func() Authority { return Authority{Quorate: true} }})
	if err != nil || rec.Method != string(Terminate) || rec.Outcome != Confirmed {
		t.Fatalf("got %+v, %v; want confirmed by terminate", rec, err)
	}
	if got := api.callList(); got != "stop,terminate" {
		t.Errorf("calls %s, want stop,terminate", got)
	}
	if took := rec.End.Sub(rec.Start); took < 10*time.Second {
		t.Errorf("terminate started after %v on the fake clock, before the stop level's 10s timeout", took)
	}
}

// A stop that EC2 throttles past the SDK's retries is sent again within the
// stop level's timeout; it must not escalate to terminating the instance.
func TestThrottledStopIsSentAgainNotEscalated(t *testing.T) {
	api := &fakeEC2{states: running(), stopAs: types.InstanceStateNameStopped, throttleStops: 3}
	f, clk := newFake(t, api, nil)
	rec, err := fenceOnFakeClock(t, f, clk, Request{Target: "i-peer", Requester: "a", Authority: func() Authority { return Authority{Quorate: true} }})
	if err != nil || rec.Method != string(StopForce) || rec.Outcome != Confirmed {
		t.Fatalf("got %+v, %v; want confirmed by stop-force", rec, err)
	}
	if got, want := api.callList(), "stop throttled,stop throttled,stop throttled,stop"; got != want {
		t.Errorf("calls %s, want %s", got, want)
	}

	// Throttled for longer than the level's timeout: the level ends timed
	// out with EC2's answer, then the next level runs.
	api = &fakeEC2{states: running(), stopAs: types.InstanceStateNameStopped, throttleStops: 1000}
	f, clk = newFake(t, api, func(c *Config) { c.Levels = []Level{{StopForce, 10 * time.Second}} })
	rec, err = fenceOnFakeClock(t, f, clk, Request{Target: "i-peer", Authority: func() Authority { return Authority{Quorate: true} }})
	if !errors.Is(err, ErrTimedOut) || rec.Outcome != TimedOut || !strings.Contains(err.Error(), "RequestLimitExceeded") {
		t.Fatalf("got %+v, %v; want timed out naming the throttling", rec, err)
	}
}

// The safety checks' DescribeInstances, throttled past the SDK's retries,
// are asked again instead of failing the fence; throttled for longer than
// the first level's timeout, the fence fails naming the throttling.
func TestThrottledSafetyChecksDelayTheFence(t *testing.T) {
	api := &fakeEC2{states: running(), stopAs: types.InstanceStateNameStopped, throttleDescribes: 4}
	f, clk := newFake(t, api, nil)
	rec, err := fenceOnFakeClock(t, f, clk, Request{Target: "i-peer", Authority: func() Authority { return Authority{Quorate: true} }})
	if err != nil || rec.Outcome != Confirmed || api.callList() != "stop" {
		t.Fatalf("got %+v, %v, calls %s; want one stop, confirmed", rec, err, api.callList())
	}

	api = &fakeEC2{states: running(), stopAs: types.InstanceStateNameStopped, throttleDescribes: 1000}
	f, clk = newFake(t, api, nil)
	rec, err = fenceOnFakeClock(t, f, clk, Request{Target: "i-peer", Authority: func() Authority { return Authority{Quorate: true} }})
	if !errors.Is(err, ErrSelfNotRunning) || rec.Outcome != Failed || !strings.Contains(err.Error(), "RequestLimitExceeded") || api.callList() != "" {
		t.Fatalf("got %+v, %v, calls %s; want a failed fence naming the throttling, no stop", rec, err, api.callList())
	}
}

// A stop EC2 refuses for good (here a missing permission) is not retried:
// the next level runs at once.
func TestRefusedStopFallsThroughAtOnce(t *testing.T) {
	api := &fakeEC2{states: running(), stopErr: &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation.", Fault: smithy.FaultClient}}
	f, clk := newFake(t, api, nil)
	rec, err := fenceOnFakeClock(t, f, clk, Request{Target: "i-peer", Authority: func() Authority { return Authority{Quorate: true} }})
	if err != nil || rec.Method != string(Terminate) {
		t.Fatalf("got %+v, %v; want confirmed by terminate", rec, err)
	}
	if got := api.callList(); got != "stop refused,terminate" {
		t.Errorf("calls %s, want one refused stop then terminate", got)
	}
	if took := rec.End.Sub(rec.Start); took >= 10*time.Second {
		t.Errorf("terminate came after %v; a refused stop should not wait out its level", took)
	}
}

func TestTwoNodeRaceDelay(t *testing.T) {
	race := func() Authority { return Authority{Quorate: true, TwoNodeRace: true} }
	t.Run("fenced during the delay stands down", func(t *testing.T) {
		api := &fakeEC2{states: map[string]types.InstanceStateName{"i-self": "stopping", "i-peer": "running"}}
		f, clk := newFake(t, api, func(c *Config) { c.FencingDelay = 15 * time.Second })
		rec, err := fenceOnFakeClock(t, f, clk, Request{Target: "i-peer", Authority: race})
		if !errors.Is(err, ErrSelfFenced) || rec.Outcome != Stood {
			t.Fatalf("got %+v, %v; want stood down", rec, err)
		}
		if got := api.callList(); got != "" {
			t.Errorf("a fenced node called %s", got)
		}
	})
	t.Run("still running after the delay fences", func(t *testing.T) {
		api := &fakeEC2{states: running(), stopAs: types.InstanceStateNameStopped}
		f, clk := newFake(t, api, func(c *Config) { c.FencingDelay = 15 * time.Second })
		rec, err := fenceOnFakeClock(t, f, clk, Request{Target: "i-peer", Authority: race})
		if err != nil || rec.Outcome != Confirmed {
			t.Fatalf("got %+v, %v", rec, err)
		}
		if took := rec.End.Sub(rec.Start); took < 15*time.Second {
			t.Errorf("fenced after %v, before the 15s fencing delay", took)
		}
	})
	t.Run("the node holding the resources does not wait", func(t *testing.T) {
		api := &fakeEC2{states: running(), stopAs: types.InstanceStateNameStopped}
		f, _ := newFake(t, api, func(c *Config) { c.FencingDelay = 15 * time.Hour })
		rec, err := f.Fence(context.Background(), Request{Target: "i-peer",
			Authority: func() Authority { return Authority{Quorate: true, TwoNodeRace: true, HoldsResources: true} }})
		if err != nil || !rec.End.Equal(rec.Start) {
			t.Fatalf("got %+v, %v; want an immediate fence", rec, err)
		}
	})
}

func TestHistoryKeepsTheNewest(t *testing.T) {
	h := NewHistory(2)
	for _, id := range []string{"a", "b", "c"} {
		h.add(Record{Target: id})
	}
	got := h.Records()
	if len(got) != 2 || got[0].Target != "b" || got[1].Target != "c" {
		t.Fatalf("records %+v, want b then c", got)
	}
}

func TestNewNamesTheBadField(t *testing.T) {
	api := &fakeEC2{}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Self: "i-1"}, "Config.Cluster"},
		{Config{Cluster: "c"}, "Config.Self"},
		{Config{Cluster: "c", Self: "i-1", Levels: []Level{{"reboot", time.Second}}}, "Config.Levels[0].Method"},
		{Config{Cluster: "c", Self: "i-1", Levels: []Level{{StopForce, 0}}}, "Config.Levels[0].Timeout"},
		{Config{Cluster: "c", Self: "i-1", FencingDelay: -1}, "Config.FencingDelay"},
	} {
		if _, err := New(api, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}
