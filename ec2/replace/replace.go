package replace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/internal/clock"
)

// Fate is what happens to the fenced instance once its replacement runs.
type Fate string

const (
	Terminate   Fate = "terminate"
	KeepStopped Fate = "keep-stopped"
	Restart     Fate = "restart"
)

// ReplacesTag names the tag a replacement carries with the id of the
// instance it replaces.
const ReplacesTag = "ec2ha:replaces"

// Config is the replacement policy of one cluster.
type Config struct {
	LaunchTemplateID string
	// LaunchTemplateName is used when LaunchTemplateID is empty.
	LaunchTemplateName string
	Version            string   // "$Default", "$Latest" or a number; "$Default" if empty
	Subnets            []string // where replacements may go; empty means the failed instance's subnet
	ClusterTagKey      string
	ClusterTagValue    string
	MaxPerHour         int           // launches allowed in any hour; 0 means 1
	BreakerFailures    int           // consecutive failures that open the breaker; 0 means 3
	BreakerCooldown    time.Duration // how long an open breaker refuses; 0 means 1h
	RunningTimeout     time.Duration // how long to wait for "running"; 0 means 10m
	PollInterval       time.Duration // between DescribeInstances polls; 0 means 5s
	Fate               Fate
}

// Validate names the first bad field and how to fix it.
func (c Config) Validate() error {
	switch {
	case c.LaunchTemplateID == "" && c.LaunchTemplateName == "":
		return errors.New("replacement.launch_template: neither id nor name is set: name the launch template to launch replacements from")
	case c.ClusterTagKey == "" || c.ClusterTagValue == "":
		return errors.New("replacement: the cluster tag key and value must be set so replacements join the cluster")
	case c.MaxPerHour < 0 || c.BreakerFailures < 0:
		return errors.New("replacement.max_per_hour and breaker_failures must not be negative")
	}
	switch c.Fate {
	case Terminate, KeepStopped, Restart:
		return nil
	}
	return fmt.Errorf("replacement.fenced_instance %q: use %q, %q or %q", c.Fate, Terminate, KeepStopped, Restart)
}

// Failed describes the fenced instance and the failover replacing it.
type Failed struct {
	InstanceID string
	SubnetID   string
	FailoverID string // identifies the failover; the same failover must always pass the same id
	// Tags are copied onto the replacement, e.g. the ec2ha:node tag so the
	// new instance joins under the failed member's name.
	Tags map[string]string
}

// ErrRefused is wrapped by errors from a rate limit or an open breaker.
var ErrRefused = errors.New("replacement refused")

// Replacer launches replacements. It is safe for concurrent use.
type Replacer struct {
	api ec2.API
	clk clock.Clock
	cfg Config

	mu        sync.Mutex
	launched  map[string]time.Time // client token -> first launch, within the last hour
	failures  int
	openUntil time.Time
}

// New returns a Replacer; cfg must be valid.
func New(api ec2.API, clk clock.Clock, cfg Config) (*Replacer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Version == "" {
		cfg.Version = "$Default"
	}
	cfg.MaxPerHour = max(cfg.MaxPerHour, 1)
	if cfg.BreakerFailures == 0 {
		cfg.BreakerFailures = 3
	}
	if cfg.BreakerCooldown == 0 {
		cfg.BreakerCooldown = time.Hour
	}
	if cfg.RunningTimeout == 0 {
		cfg.RunningTimeout = 10 * time.Minute
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Second
	}
	return &Replacer{api: api, clk: clk, cfg: cfg, launched: map[string]time.Time{}}, nil
}

// Token is the ClientToken of the replacement for f: the same cluster,
// failed instance and failover always give the same token (EC2 accepts
// up to 64 ASCII characters).
func (r *Replacer) Token(f Failed) string {
	sum := sha256.Sum256([]byte(r.cfg.ClusterTagValue + "\x00" + f.InstanceID + "\x00" + f.FailoverID))
	return "ec2ha-" + hex.EncodeToString(sum[:24])
}

// admit applies the breaker and the hourly limit. A token seen before is
// a repeat of a launch already counted and is always admitted: EC2 will
// answer it with the same instance.
func (r *Replacer) admit(token string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clk.Now()
	if _, ok := r.launched[token]; ok {
		return nil
	}
	if now.Before(r.openUntil) {
		return fmt.Errorf("%w: %d launches failed in a row; circuit breaker open until %s", ErrRefused, r.failures, r.openUntil.Format(time.RFC3339))
	}
	for t, at := range r.launched {
		if now.Sub(at) >= time.Hour {
			delete(r.launched, t)
		}
	}
	if len(r.launched) >= r.cfg.MaxPerHour {
		return fmt.Errorf("%w: %d replacements launched in the last hour, the limit is %d", ErrRefused, len(r.launched), r.cfg.MaxPerHour)
	}
	r.launched[token] = now
	return nil
}

func (r *Replacer) record(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.failures = 0
		return
	}
	r.failures++
	if r.failures >= r.cfg.BreakerFailures {
		r.openUntil = r.clk.Now().Add(r.cfg.BreakerCooldown)
	}
}

// Replace launches (or finds, on a repeat) the replacement for f, waits
// for it to run, then applies the configured fate to the fenced instance.
// It returns the replacement's instance id.
func (r *Replacer) Replace(ctx context.Context, f Failed) (string, error) {
	subnet := f.SubnetID
	if len(r.cfg.Subnets) > 0 {
		subnet = r.cfg.Subnets[0]
	}
	token := r.Token(f)
	if err := r.admit(token); err != nil {
		return "", err
	}
	id, err := r.launch(ctx, f, subnet, token)
	if err == nil {
		err = r.waitRunning(ctx, id)
	}
	r.record(err)
	if err != nil {
		return id, err
	}
	return id, r.applyFate(ctx, f.InstanceID)
}

func (r *Replacer) launch(ctx context.Context, f Failed, subnet, token string) (string, error) {
	tmpl := &types.LaunchTemplateSpecification{Version: aws.String(r.cfg.Version)}
	if r.cfg.LaunchTemplateID != "" {
		tmpl.LaunchTemplateId = aws.String(r.cfg.LaunchTemplateID)
	} else {
		tmpl.LaunchTemplateName = aws.String(r.cfg.LaunchTemplateName)
	}
	tags := []types.Tag{
		{Key: aws.String(r.cfg.ClusterTagKey), Value: aws.String(r.cfg.ClusterTagValue)},
		{Key: aws.String(ReplacesTag), Value: aws.String(f.InstanceID)},
	}
	keys := make([]string, 0, len(f.Tags))
	for k := range f.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(f.Tags[k])})
	}
	in := &awsec2.RunInstancesInput{
		LaunchTemplate:    tmpl,
		MinCount:          aws.Int32(1),
		MaxCount:          aws.Int32(1),
		ClientToken:       aws.String(token),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}},
	}
	if subnet != "" {
		in.SubnetId = aws.String(subnet)
	}
	out, err := r.api.RunInstances(ctx, in)
	if err != nil {
		return "", fmt.Errorf("launching a replacement for %s from %s: %w", f.InstanceID, r.launchTemplate(), err)
	}
	if len(out.Instances) != 1 {
		return "", fmt.Errorf("launching a replacement for %s: EC2 returned %d instances", f.InstanceID, len(out.Instances))
	}
	return aws.ToString(out.Instances[0].InstanceId), nil
}

func (r *Replacer) launchTemplate() string {
	if r.cfg.LaunchTemplateID != "" {
		return r.cfg.LaunchTemplateID
	}
	return r.cfg.LaunchTemplateName
}

func (r *Replacer) waitRunning(ctx context.Context, id string) error {
	deadline := r.clk.Now().Add(r.cfg.RunningTimeout)
	for {
		out, err := r.api.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
		// A just-launched id may not be visible yet (eventual consistency):
		// treat errors like "not running yet" until the deadline.
		if err == nil && len(out.Reservations) == 1 && len(out.Reservations[0].Instances) == 1 {
			switch s := out.Reservations[0].Instances[0].State; s.Name {
			case types.InstanceStateNameRunning:
				return nil
			case types.InstanceStateNamePending:
			default:
				return fmt.Errorf("replacement %s went %s instead of running", id, s.Name)
			}
		}
		if !r.clk.Now().Before(deadline) {
			return fmt.Errorf("replacement %s not running after %s (last error: %v)", id, r.cfg.RunningTimeout, err)
		}
		if err := clock.Sleep(ctx, r.clk, r.cfg.PollInterval); err != nil {
			return err
		}
	}
}

func (r *Replacer) applyFate(ctx context.Context, old string) error {
	var err error
	switch r.cfg.Fate {
	case Terminate:
		_, err = r.api.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{old}})
	case Restart:
		_, err = r.api.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: []string{old}})
	case KeepStopped:
	}
	if err != nil {
		return fmt.Errorf("replaced %s, but could not %s it: %w", old, r.cfg.Fate, err)
	}
	return nil
}
