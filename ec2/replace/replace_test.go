package replace_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
	"github.com/ec2ha/ec2ha/ec2/replace"
	"github.com/ec2ha/ec2ha/internal/clock"
)

// must is for set-up in the test goroutine; the panic fails the test.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

type world struct {
	env    *simtest.Env
	cfg    replace.Config
	failed replace.Failed
}

func setup(t *testing.T) world {
	ctx := context.Background()
	env := simtest.Start(t, ec2sim.Options{})
	c := env.Client
	lt := must(c.CreateLaunchTemplate(ctx, &awsec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("node"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-12345678")}}))
	old := must(c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).Instances[0]
	must(c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{*old.InstanceId}, Force: aws.Bool(true)}))
	return world{
		env: env,
		cfg: replace.Config{LaunchTemplateID: *lt.LaunchTemplate.LaunchTemplateId, ClusterTagKey: "ec2ha:cluster", ClusterTagValue: "prod",
			MaxPerHour: 5, PollInterval: 10 * time.Millisecond, Fate: replace.Terminate},
		failed: replace.Failed{InstanceID: *old.InstanceId, SubnetID: *old.SubnetId, FailoverID: "failover-1"},
	}
}

func (w world) replacements(t *testing.T) []types.Instance {
	t.Helper()
	out := must(w.env.Client.DescribeInstances(context.Background(), &awsec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + replace.ReplacesTag), Values: []string{w.failed.InstanceID}}}}))
	var got []types.Instance
	for _, r := range out.Reservations {
		got = append(got, r.Instances...)
	}
	return got
}

func (w world) state(id string) types.InstanceStateName {
	out := must(w.env.Client.DescribeInstances(context.Background(), &awsec2.DescribeInstancesInput{InstanceIds: []string{id}}))
	return out.Reservations[0].Instances[0].State.Name
}

func TestRepeatedReplacementLaunchesOneInstance(t *testing.T) {
	ctx := context.Background()
	w := setup(t)
	// Two coordinators (each with its own Replacer, as after a crash and
	// takeover) ask at once, and then again.
	ids := make([]string, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range 4 {
		r := must(replace.New(w.env.Client, clock.Real{}, w.cfg))
		wg.Go(func() { ids[i], errs[i] = r.Replace(ctx, w.failed) })
	}
	wg.Wait()
	for i := range 4 {
		if errs[i] != nil {
			t.Fatalf("replacer %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("replacers got different instances %v", ids)
		}
	}
	got := w.replacements(t)
	if len(got) != 1 || got[0].State.Name != types.InstanceStateNameRunning {
		t.Fatalf("want one running replacement, got %d", len(got))
	}
	if *got[0].SubnetId != w.failed.SubnetID {
		t.Fatalf("replacement in %s, want the failed instance's subnet %s", *got[0].SubnetId, w.failed.SubnetID)
	}
	tagged := false
	for _, tag := range got[0].Tags {
		tagged = tagged || (*tag.Key == "ec2ha:cluster" && *tag.Value == "prod")
	}
	if !tagged {
		t.Fatal("replacement lacks the cluster tag")
	}
	if s := w.state(w.failed.InstanceID); s != types.InstanceStateNameTerminated && s != types.InstanceStateNameShuttingDown {
		t.Fatalf("fenced instance %s, want terminated", s)
	}
}

func TestReplacementResumesThroughFailures(t *testing.T) {
	ctx := context.Background()
	w := setup(t)
	w.cfg.BreakerFailures = 1000
	must(0, w.env.Sim.SetFaults(ec2sim.Faults{ThrottleRate: 0.5, InternalErrorRate: 0.2, Actions: []string{"RunInstances", "DescribeInstances"}}))
	noRetry := w.env.NewClient(func(o *awsec2.Options) { o.RetryMaxAttempts = 1 })
	var err error
	for attempt := 0; ; attempt++ {
		// A fresh Replacer each time, as a new coordinator would start.
		r := must(replace.New(noRetry, clock.Real{}, w.cfg))
		if _, err = r.Replace(ctx, w.failed); err == nil {
			break
		}
		if attempt > 300 {
			t.Fatalf("never completed: %v", err)
		}
	}
	must(0, w.env.Sim.SetFaults(ec2sim.Faults{}))
	if got := w.replacements(t); len(got) != 1 {
		t.Fatalf("%d replacements after retried requests, want 1", len(got))
	}
}

func TestRateLimitAndBreakerRefuseWithoutCallingEC2(t *testing.T) {
	ctx := context.Background()
	w := setup(t)
	var runs atomic.Int64
	api := ec2.Observed(w.env.Client, func(action string, _ time.Duration, _ error) {
		if action == "RunInstances" {
			runs.Add(1)
		}
	})
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := w.cfg
	cfg.MaxPerHour, cfg.Fate = 1, replace.KeepStopped
	r := must(replace.New(api, clk, cfg))
	must(r.Replace(ctx, w.failed))
	second := w.failed
	second.FailoverID = "failover-2"
	if _, err := r.Replace(ctx, second); !errors.Is(err, replace.ErrRefused) {
		t.Fatalf("second replacement within the hour: %v, want refused", err)
	}
	if runs.Load() != 1 {
		t.Fatalf("%d RunInstances calls, want 1", runs.Load())
	}
	if s := w.state(w.failed.InstanceID); s != types.InstanceStateNameStopped {
		t.Fatalf("kept-stopped instance is %s", s)
	}

	// Launches that keep failing open the breaker.
	must(0, w.env.Sim.SetFaults(ec2sim.Faults{Deny: []string{"RunInstances"}}))
	cfg.MaxPerHour, cfg.BreakerFailures = 100, 2
	r = must(replace.New(api, clk, cfg))
	runs.Store(0)
	for i := range 3 {
		f := w.failed
		f.FailoverID = string(rune('a' + i))
		_, err := r.Replace(ctx, f)
		if refused := errors.Is(err, replace.ErrRefused); err == nil || refused != (i == 2) {
			t.Fatalf("launch %d: %v", i, err)
		}
	}
	if runs.Load() != 2 {
		t.Fatalf("%d RunInstances calls, want 2 before the breaker opened", runs.Load())
	}
	clk.Advance(2 * time.Hour)
	must(0, w.env.Sim.SetFaults(ec2sim.Faults{}))
	if _, err := r.Replace(ctx, replace.Failed{InstanceID: w.failed.InstanceID, SubnetID: w.failed.SubnetID, FailoverID: "after"}); err != nil {
		t.Fatalf("after the cooldown: %v", err)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, c := range []struct {
		cfg  replace.Config
		want string
	}{
		{replace.Config{}, "launch_template"},
		{replace.Config{LaunchTemplateID: "lt-1"}, "cluster tag"},
		{replace.Config{LaunchTemplateID: "lt-1", ClusterTagKey: "k", ClusterTagValue: "v", Fate: "explode"}, "fenced_instance"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want mention of %q", c.cfg, err, c.want)
		}
	}
}

func TestReplacementByTemplateNameCarriesTheMembersName(t *testing.T) {
	w := setup(t)
	w.cfg.LaunchTemplateID, w.cfg.LaunchTemplateName = "", "node"
	w.failed.Tags = map[string]string{"ec2ha:node": "node-2"}
	r := must(replace.New(w.env.Client, clock.Real{}, w.cfg))
	if _, err := r.Replace(context.Background(), w.failed); err != nil {
		t.Fatal(err)
	}
	got := w.replacements(t)
	if len(got) != 1 {
		t.Fatalf("want one replacement, got %d", len(got))
	}
	name := ""
	for _, tag := range got[0].Tags {
		if *tag.Key == "ec2ha:node" {
			name = *tag.Value
		}
	}
	if name != "node-2" {
		t.Fatalf("replacement's ec2ha:node tag is %q, want node-2 so it joins as the member it replaces", name)
	}
}
