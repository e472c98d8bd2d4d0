package fencing_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
	"github.com/ec2ha/ec2ha/fencing"
)

const cluster = "prod"

func quorate() fencing.Authority { return fencing.Authority{Quorate: true, Epoch: 7} }

// launch starts one running instance with the given tags.
func launch(tb testing.TB, c *awsec2.Client, tags map[string]string) string {
	tb.Helper()
	var tt []types.Tag
	for k, v := range tags {
		tt = append(tt, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	in := &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
	if len(tt) > 0 {
		in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tt}}
	}
	out, err := c.RunInstances(context.Background(), in)
	if err != nil {
		tb.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	waitState(tb, c, id, "running")
	return id
}

func member(tb testing.TB, c *awsec2.Client) string {
	return launch(tb, c, map[string]string{fencing.ClusterTag: cluster})
}

func state(tb testing.TB, c *awsec2.Client, id string) (types.InstanceStateName, []types.Tag) {
	tb.Helper()
	out, err := c.DescribeInstances(context.Background(), &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		tb.Fatal(err)
	}
	inst := out.Reservations[0].Instances[0]
	return inst.State.Name, inst.Tags
}

func waitState(tb testing.TB, c *awsec2.Client, id string, want types.InstanceStateName) {
	tb.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if s, _ := state(tb, c, id); s == want {
			return
		}
	}
	tb.Fatalf("%s never became %s", id, want)
}

func newFencer(tb testing.TB, c *awsec2.Client, self string, mod func(*fencing.Config)) *fencing.PowerFencer {
	tb.Helper()
	cfg := fencing.Config{Cluster: cluster, Self: self, PollInterval: 20 * time.Millisecond,
		Levels: []fencing.Level{{Method: fencing.StopForce, Timeout: 30 * time.Second}}}
	if mod != nil {
		mod(&cfg)
	}
	f, err := fencing.New(c, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func TestSimFenceConfirmedOnlyOnceStopped(t *testing.T) {
	env := simtest.Start(t, ec2sim.Options{Durations: ec2sim.Durations{Stopping: 300 * time.Millisecond}})
	self, target := member(t, env.Client), member(t, env.Client)
	var stoppedAt time.Time
	var mu sync.Mutex
	cancel := env.Sim.OnEvent(func(e ec2sim.Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.InstanceID == target && e.State == "stopped" && stoppedAt.IsZero() {
			stoppedAt = e.Time
		}
	})
	defer cancel()
	f := newFencer(t, env.Client, self, nil)
	rec, err := f.Fence(context.Background(), fencing.Request{Target: target, Requester: "node-a", Reason: "peer failed", Authority: quorate})
	if err != nil {
		t.Fatalf("Fence: %v", err)
	}
	mu.Lock()
	if stoppedAt.IsZero() || rec.End.Before(stoppedAt) {
		t.Errorf("fence confirmed at %v, EC2 stopped the target at %v", rec.End, stoppedAt)
	}
	mu.Unlock()
	if s, tags := state(t, env.Client, target); s != types.InstanceStateNameStopped {
		t.Fatalf("fence confirmed while EC2 shows %s", s)
	} else if got := tagMap(tags); got[fencing.FencedByTag] != "node-a" || got[fencing.FencedAtTag] == "" {
		t.Errorf("fence tags on target: %v", got)
	}
	if rec.Outcome != fencing.Confirmed || rec.Method != string(fencing.StopForce) || len(rec.RequestIDs) == 0 {
		t.Errorf("record %+v: want confirmed by stop-force with the StopInstances request id", rec)
	}
	if h := f.History().Records(); len(h) != 1 || h[0].Target != target {
		t.Errorf("history %+v", h)
	}
	// Fencing an already stopped target confirms at once, without a new stop.
	rec, err = f.Fence(context.Background(), fencing.Request{Target: target, Requester: "node-a", Authority: quorate})
	if err != nil || rec.Outcome != fencing.Confirmed || len(rec.RequestIDs) != 0 {
		t.Errorf("fencing a stopped target: %+v, %v", rec, err)
	}
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func TestSimSafetyChecksRefuse(t *testing.T) {
	env := simtest.Start(t, ec2sim.Options{})
	self, peer := member(t, env.Client), member(t, env.Client)
	foreign := launch(t, env.Client, map[string]string{fencing.ClusterTag: "other"})
	untagged := launch(t, env.Client, nil)
	stoppedSelf := member(t, env.Client)
	if _, err := env.Client.StopInstances(context.Background(), &awsec2.StopInstancesInput{InstanceIds: []string{stoppedSelf}}); err != nil {
		t.Fatal(err)
	}
	waitState(t, env.Client, stoppedSelf, "stopped")
	for _, tc := range []struct {
		name, self, target string
		auth               fencing.AuthorityFunc
		want               error
	}{
		{"foreign cluster", self, foreign, quorate, fencing.ErrNotClusterMember},
		{"untagged", self, untagged, quorate, fencing.ErrNotClusterMember},
		{"self", self, self, quorate, fencing.ErrSelf},
		{"not quorate", self, peer, func() fencing.Authority { return fencing.Authority{} }, fencing.ErrNotQuorate},
		{"no authority", self, peer, nil, fencing.ErrNotQuorate},
		{"self stopped", stoppedSelf, peer, quorate, fencing.ErrSelfNotRunning},
		{"self unknown to EC2", "i-0000000000000dead", peer, quorate, fencing.ErrSelfNotRunning},
		{"target unknown to EC2", self, "i-0000000000000beef", quorate, fencing.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFencer(t, env.Client, tc.self, nil)
			rec, err := f.Fence(context.Background(), fencing.Request{Target: tc.target, Requester: "t", Authority: tc.auth})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if rec.Outcome != fencing.Failed {
				t.Errorf("outcome %s, want failed", rec.Outcome)
			}
			for _, id := range []string{peer, foreign, untagged} {
				if s, _ := state(t, env.Client, id); s != types.InstanceStateNameRunning {
					t.Errorf("%s is %s after a refused fence", id, s)
				}
			}
		})
	}
}

func TestSimVanishedCountsOnlyWhenConfigured(t *testing.T) {
	env := simtest.Start(t, ec2sim.Options{})
	self := member(t, env.Client)
	f := newFencer(t, env.Client, self, func(c *fencing.Config) { c.VanishedIsFenced = true })
	rec, err := f.Fence(context.Background(), fencing.Request{Target: "i-0000000000000beef", Authority: quorate})
	if err != nil || rec.Outcome != fencing.Vanished {
		t.Fatalf("vanished target with VanishedIsFenced: %+v, %v", rec, err)
	}
}

func TestSimLevelsFallThroughOnTimeout(t *testing.T) {
	// The stop never completes: the stop level times out and terminate confirms.
	env := simtest.Start(t, ec2sim.Options{Durations: ec2sim.Durations{Stopping: time.Hour}})
	self, target := member(t, env.Client), member(t, env.Client)
	f := newFencer(t, env.Client, self, func(c *fencing.Config) {
		c.Levels = []fencing.Level{{Method: fencing.StopForce, Timeout: 300 * time.Millisecond}, {Method: fencing.Terminate, Timeout: 30 * time.Second}}
	})
	rec, err := f.Fence(context.Background(), fencing.Request{Target: target, Requester: "node-a", Authority: quorate})
	if err != nil {
		t.Fatalf("Fence: %v", err)
	}
	if rec.Method != string(fencing.Terminate) {
		t.Errorf("confirmed by %s, want terminate", rec.Method)
	}
	if s, _ := state(t, env.Client, target); s != types.InstanceStateNameTerminated {
		t.Errorf("target is %s", s)
	}

	// With only the stop level, the attempt ends timed out, not abandoned.
	target2 := member(t, env.Client)
	f = newFencer(t, env.Client, self, func(c *fencing.Config) {
		c.Levels = []fencing.Level{{Method: fencing.StopForce, Timeout: 300 * time.Millisecond}}
	})
	rec, err = f.Fence(context.Background(), fencing.Request{Target: target2, Authority: quorate})
	if !errors.Is(err, fencing.ErrTimedOut) || rec.Outcome != fencing.TimedOut {
		t.Fatalf("got %+v, %v; want timed out", rec, err)
	}
}

func TestSimTwoNodeRaceActiveWins(t *testing.T) {
	for run := range 5 {
		env := simtest.Start(t, ec2sim.Options{Durations: ec2sim.Durations{Stopping: 50 * time.Millisecond}})
		active, passive := member(t, env.Client), member(t, env.Client)
		race := func(holds bool) fencing.AuthorityFunc {
			return func() fencing.Authority {
				return fencing.Authority{Quorate: true, TwoNodeRace: true, HoldsResources: holds}
			}
		}
		delay := func(c *fencing.Config) { c.FencingDelay = 2 * time.Second }
		fa, fp := newFencer(t, env.Client, active, delay), newFencer(t, env.Client, passive, delay)
		var wg sync.WaitGroup
		var errA, errP error
		wg.Go(func() {
			_, errA = fa.Fence(context.Background(), fencing.Request{Target: passive, Requester: "active", Authority: race(true)})
		})
		wg.Go(func() {
			_, errP = fp.Fence(context.Background(), fencing.Request{Target: active, Requester: "passive", Authority: race(false)})
		})
		wg.Wait()
		if errA != nil || !errors.Is(errP, fencing.ErrSelfFenced) {
			t.Fatalf("run %d: active got %v, passive got %v; want active to fence and passive to stand down", run, errA, errP)
		}
		if s, _ := state(t, env.Client, active); s != types.InstanceStateNameRunning {
			t.Fatalf("run %d: active is %s", run, s)
		}
	}
}

// adaptive is a client like the agent's: adaptive retry mode with a
// bounded number of attempts, fast backoff for the test.
func adaptive(env *simtest.Env) *awsec2.Client {
	return env.NewClient(func(o *awsec2.Options) {
		o.Retryer = retry.NewAdaptiveMode(func(a *retry.AdaptiveModeOptions) {
			a.StandardOptions = append(a.StandardOptions, func(s *retry.StandardOptions) {
				s.MaxAttempts = 8
				s.MaxBackoff = 50 * time.Millisecond
				s.RateLimiter = ratelimit.None
			})
		})
	})
}

func TestSimThrottledAndFailingAPIStillFences(t *testing.T) {
	env := simtest.Start(t, ec2sim.Options{Seed: 42, Durations: ec2sim.Durations{Stopping: 100 * time.Millisecond}})
	c := adaptive(env)
	self := member(t, env.Client)
	targets := []string{member(t, env.Client), member(t, env.Client), member(t, env.Client)}
	if err := env.Sim.SetFaults(ec2sim.Faults{ThrottleRate: 0.2, InternalErrorRate: 0.05, UnavailableRate: 0.05,
		Bucket: &ec2sim.TokenBucket{Rate: 50, Burst: 5}}); err != nil {
		t.Fatal(err)
	}
	f := newFencer(t, c, self, nil)
	for _, target := range targets {
		rec, err := f.Fence(context.Background(), fencing.Request{Target: target, Requester: "node-a", Authority: quorate})
		if err != nil {
			t.Fatalf("fence of %s under throttling: %+v, %v", target, rec, err)
		}
	}
	if err := env.Sim.SetFaults(ec2sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	for _, target := range targets {
		if s, _ := state(t, env.Client, target); s != types.InstanceStateNameStopped {
			t.Errorf("%s is %s after a confirmed fence", target, s)
		}
	}
}

func TestSimUnfenceAndList(t *testing.T) {
	env := simtest.Start(t, ec2sim.Options{})
	self, target := member(t, env.Client), member(t, env.Client)
	foreign := launch(t, env.Client, map[string]string{fencing.ClusterTag: "other"})
	f := newFencer(t, env.Client, self, nil)
	if _, err := f.Fence(context.Background(), fencing.Request{Target: target, Authority: quorate}); err != nil {
		t.Fatal(err)
	}
	if err := f.Unfence(context.Background(), target); err != nil {
		t.Fatal(err)
	}
	waitState(t, env.Client, target, "running")
	if err := f.Unfence(context.Background(), foreign); !errors.Is(err, fencing.ErrNotClusterMember) {
		t.Errorf("unfence of a foreign instance: %v", err)
	}
	members, err := f.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 2 {
		t.Errorf("List = %+v, want the two members only", members)
	}
	if s, err := f.Status(context.Background(), target); err != nil || s != "running" {
		t.Errorf("Status = %q, %v", s, err)
	}
}

// BenchmarkFence measures "fence requested" to "confirmed" against the
// simulator, with stop latency 0 and a realistic one.
func BenchmarkFence(b *testing.B) {
	for _, tc := range []struct {
		name     string
		stopping time.Duration
	}{{"stop-0s", 0}, {"stop-2s", 2 * time.Second}} {
		b.Run(tc.name, func(b *testing.B) {
			env := simtest.Start(b, ec2sim.Options{Durations: ec2sim.Durations{Stopping: tc.stopping}})
			self := member(b, env.Client)
			f := newFencer(b, env.Client, self, func(c *fencing.Config) { c.PollInterval = 250 * time.Millisecond })
			for b.Loop() {
				b.StopTimer()
				target := member(b, env.Client)
				b.StartTimer()
				if _, err := f.Fence(context.Background(), fencing.Request{Target: target, Authority: quorate}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
