package fencing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	smithymiddleware "github.com/aws/smithy-go/middleware"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/internal/clock"
)

// ClusterTag is the tag key whose value names the cluster an instance
// belongs to. FencedByTag and FencedAtTag record the last fence on the target.
const (
	ClusterTag  = "ec2ha:cluster"
	FencedByTag = "ec2ha:fenced-by"
	FencedAtTag = "ec2ha:fenced-at"
)

// Safety refusals and end states; test with errors.Is.
var (
	ErrNotQuorate       = errors.New("fencing: caller is not quorate")
	ErrSelf             = errors.New("fencing: target is the caller's own instance")
	ErrSelfNotRunning   = errors.New("fencing: caller's own instance is not running according to EC2")
	ErrNotClusterMember = errors.New("fencing: target does not carry this cluster's tag")
	ErrNotFound         = errors.New("fencing: target instance does not exist")
	ErrSelfFenced       = errors.New("fencing: caller was fenced during the two-node fencing delay")
	ErrTimedOut         = errors.New("fencing: no level confirmed the target stopped in time")
	ErrFailed           = errors.New("fencing: every level failed")
)

// Method is a way to take an instance's power away.
type Method string

const (
	StopForce Method = "stop-force" // StopInstances with Force; confirmed at stopped (or terminated)
	Terminate Method = "terminate"  // TerminateInstances; confirmed at terminated
)

// Level is one rung of the fencing topology.
type Level struct {
	Method  Method
	Timeout time.Duration // from the request to confirmation
}

// Authority is the caller's standing when it asks for a fence, as
// failover/ and membership/ decided it. The fencer calls the AuthorityFunc
// again before acting (and after the race delay), so a node that lost
// quorum meanwhile does not fence.
type Authority struct {
	Quorate bool
	// TwoNodeRace says quorum holds only by the two-node rule, so both
	// halves of a partition may be quorate at once.
	TwoNodeRace bool
	// HoldsResources says the caller holds the group's resources; in a
	// two-node race only the other node waits the fencing delay.
	HoldsResources bool
	// Epoch identifies the membership view the decision was made in; it
	// is logged for tracing only.
	Epoch uint64
}

// AuthorityFunc returns the caller's current authority.
type AuthorityFunc func() Authority

// Request asks for one fence.
type Request struct {
	Target    string // instance id
	Requester string // who asked: a node name or "operator:<user>"
	Reason    string
	Authority AuthorityFunc
}

// Member is a cluster instance as EC2 reports it.
type Member struct {
	InstanceID string `json:"instanceId"`
	State      string `json:"state"`
	Name       string `json:"name,omitempty"`
}

// Fencer fences, reports and lists cluster instances.
type Fencer interface {
	Fence(ctx context.Context, req Request) (Record, error)
	Status(ctx context.Context, instanceID string) (string, error)
	List(ctx context.Context) ([]Member, error)
}

// Config configures a PowerFencer.
type Config struct {
	Cluster string // value of ClusterTag on members
	Self    string // the caller's own instance id
	// Levels are tried in order until one confirms; default stop-force
	// for 60s, then terminate for 60s.
	Levels []Level
	// PollInterval between DescribeInstances while waiting; default 1s.
	PollInterval time.Duration
	// FencingDelay is waited by the node without the resources in a
	// two-node race.
	FencingDelay time.Duration
	// VanishedIsFenced counts a target EC2 does not know as fenced.
	VanishedIsFenced bool
	HistorySize      int // default 100
	Clock            clock.Clock
	Logger           *slog.Logger
}

// PowerFencer fences through EC2's power controls.
type PowerFencer struct {
	api     ec2.API
	cfg     Config
	clk     clock.Clock
	log     *slog.Logger
	history *History
}

var _ Fencer = (*PowerFencer)(nil)

// New checks cfg and returns a fencer using api.
func New(api ec2.API, cfg Config) (*PowerFencer, error) {
	if api == nil {
		return nil, errors.New("fencing: no EC2 client")
	}
	if cfg.Cluster == "" {
		return nil, errors.New("fencing: Config.Cluster is empty: set it to the cluster name carried in the ec2ha:cluster tag")
	}
	if cfg.Self == "" {
		return nil, errors.New("fencing: Config.Self is empty: set it to this node's instance id")
	}
	if len(cfg.Levels) == 0 {
		cfg.Levels = []Level{{StopForce, time.Minute}, {Terminate, time.Minute}}
	}
	for i, l := range cfg.Levels {
		if l.Method != StopForce && l.Method != Terminate {
			return nil, fmt.Errorf("fencing: Config.Levels[%d].Method is %q: use %q or %q", i, l.Method, StopForce, Terminate)
		}
		if l.Timeout <= 0 {
			return nil, fmt.Errorf("fencing: Config.Levels[%d].Timeout must be positive", i)
		}
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.FencingDelay < 0 {
		return nil, errors.New("fencing: Config.FencingDelay is negative")
	}
	if cfg.HistorySize <= 0 {
		cfg.HistorySize = 100
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &PowerFencer{api: api, cfg: cfg, clk: cfg.Clock, log: cfg.Logger.With("component", "fencing"),
		history: NewHistory(cfg.HistorySize)}, nil
}

// History returns the fence history.
func (f *PowerFencer) History() *History { return f.history }

// Fence runs the safety checks, then the levels in order, and returns the
// record of the attempt. The error is nil only when the target is fenced.
func (f *PowerFencer) Fence(ctx context.Context, req Request) (Record, error) {
	rec := Record{Target: req.Target, Requester: req.Requester, Reason: req.Reason, Start: f.clk.Now()}
	log := f.log.With("target", req.Target, "requester", req.Requester, "reason", req.Reason)
	outcome, err := f.fence(ctx, req, &rec, log)
	rec.Outcome, rec.End = outcome, f.clk.Now()
	if err != nil {
		rec.Error = err.Error()
	}
	f.history.add(rec)
	log.Info("fence ended", "outcome", outcome, "method", rec.Method, "took", rec.End.Sub(rec.Start), "err", err)
	return rec, err
}

func (f *PowerFencer) fence(ctx context.Context, req Request, rec *Record, log *slog.Logger) (Outcome, error) {
	if req.Authority == nil {
		return Failed, fmt.Errorf("%w: the request carries no authority", ErrNotQuorate)
	}
	auth := req.Authority()
	if !auth.Quorate {
		return Failed, fmt.Errorf("%w (epoch %d)", ErrNotQuorate, auth.Epoch)
	}
	if req.Target == f.cfg.Self {
		return Failed, ErrSelf
	}
	if auth.TwoNodeRace && !auth.HoldsResources && f.cfg.FencingDelay > 0 {
		log.Info("two-node race: waiting the fencing delay", "delay", f.cfg.FencingDelay)
		if err := f.raceDelay(ctx); err != nil {
			return outcomeOf(err), err
		}
		if auth = req.Authority(); !auth.Quorate {
			return Failed, fmt.Errorf("%w after the fencing delay (epoch %d)", ErrNotQuorate, auth.Epoch)
		}
	}
	self, err := f.describeSteadily(ctx, f.cfg.Self)
	if err != nil {
		return Failed, fmt.Errorf("%w: cannot ask EC2 about %s: %w", ErrSelfNotRunning, f.cfg.Self, err)
	}
	if s := stateOf(self); s != types.InstanceStateNameRunning {
		return Failed, fmt.Errorf("%w: %s is %s", ErrSelfNotRunning, f.cfg.Self, s)
	}
	target, err := f.describeSteadily(ctx, req.Target)
	if errors.Is(err, ErrNotFound) && f.cfg.VanishedIsFenced {
		log.Warn("target unknown to EC2; counted as fenced by configuration")
		return Vanished, nil
	}
	if err != nil {
		return Failed, err
	}
	if tagValue(target, ClusterTag) != f.cfg.Cluster {
		return Failed, fmt.Errorf("%w: %s has %s=%q, this cluster is %q", ErrNotClusterMember, req.Target, ClusterTag, tagValue(target, ClusterTag), f.cfg.Cluster)
	}
	if fenced(stateOf(target), StopForce) {
		log.Info("target already down", "state", stateOf(target))
		return Confirmed, nil
	}
	var last error
	for _, lvl := range f.cfg.Levels {
		rec.Method = string(lvl.Method)
		log.Info("fencing level starts", "method", lvl.Method, "timeout", lvl.Timeout)
		err := f.runLevel(ctx, lvl, req.Target, rec)
		if err == nil {
			f.tag(ctx, req, log)
			return Confirmed, nil
		}
		log.Warn("fencing level did not confirm", "method", lvl.Method, "err", err)
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return outcomeOf(last), last
}

func outcomeOf(err error) Outcome {
	switch {
	case errors.Is(err, ErrSelfFenced):
		return Stood
	case errors.Is(err, ErrTimedOut), errors.Is(err, context.DeadlineExceeded):
		return TimedOut
	}
	return Failed
}

// raceDelay waits FencingDelay, watching the caller's own instance: if EC2
// shows it leaving running, the peer fenced it first.
func (f *PowerFencer) raceDelay(ctx context.Context) error {
	end := f.clk.Now().Add(f.cfg.FencingDelay)
	for {
		if inst, err := f.describe(ctx, f.cfg.Self); err == nil && stateOf(inst) != types.InstanceStateNameRunning {
			return fmt.Errorf("%w: %s is %s", ErrSelfFenced, f.cfg.Self, stateOf(inst))
		}
		left := end.Sub(f.clk.Now())
		if left <= 0 {
			return nil
		}
		if err := clock.Sleep(ctx, f.clk, min(left, f.cfg.PollInterval)); err != nil {
			return err
		}
	}
}

var errLevelTimeout = errors.New("level timeout")

// runLevel issues the level's call and polls until EC2 confirms or the
// level's timeout, measured on the fencer's clock, passes.
func (f *PowerFencer) runLevel(ctx context.Context, lvl Level, id string, rec *Record) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deadline := f.clk.After(lvl.Timeout)
	go func() {
		select {
		case <-deadline:
			cancel(errLevelTimeout)
		case <-ctx.Done():
		}
	}()
	err := f.runLevelUntil(ctx, lvl, id, rec)
	if err != nil && errors.Is(context.Cause(ctx), errLevelTimeout) {
		return fmt.Errorf("%w: %s did not confirm %s within %v (last: %v)", ErrTimedOut, lvl.Method, id, lvl.Timeout, err)
	}
	return err
}

func (f *PowerFencer) runLevelUntil(ctx context.Context, lvl Level, id string, rec *Record) error {
	// The SDK's retryer gives up after its attempts or when its retry
	// budget is spent; under sustained throttling or 5xx answers the call
	// is sent again every poll interval until the level's timeout instead,
	// so a throttled stop never escalates to the next level (terminate)
	// before its time, and ends timed out with the last answer if EC2
	// never takes it.
	for {
		err := f.powerCall(ctx, lvl, id, rec)
		if err == nil {
			break
		}
		if ctx.Err() != nil || !transient(err) {
			return classify(id, err)
		}
		f.log.Warn("fencing call not taken by EC2; sending it again", "target", id, "method", lvl.Method, "err", err)
		if serr := clock.Sleep(ctx, f.clk, f.cfg.PollInterval); serr != nil {
			return fmt.Errorf("%w; last EC2 answer: %v", serr, err)
		}
	}
	for {
		inst, err := f.describe(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound) && f.cfg.VanishedIsFenced:
			return nil
		case err == nil && fenced(stateOf(inst), lvl.Method):
			return nil
		case err == nil:
			f.log.Debug("waiting for target to stop", "target", id, "state", stateOf(inst))
		case ctx.Err() != nil:
			return err
		default:
			f.log.Warn("describing target while fencing", "target", id, "err", err)
		}
		if err := clock.Sleep(ctx, f.clk, f.cfg.PollInterval); err != nil {
			return err
		}
	}
}

// powerCall sends the level's StopInstances or TerminateInstances once and
// records its request id, or the failed attempt's.
func (f *PowerFencer) powerCall(ctx context.Context, lvl Level, id string, rec *Record) error {
	var meta smithymiddleware.Metadata
	switch lvl.Method {
	case StopForce:
		out, err := f.api.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{id}, Force: aws.Bool(true)})
		if err != nil {
			rec.RequestIDs = appendErrRequestID(rec.RequestIDs, err)
			return err
		}
		meta = out.ResultMetadata
	case Terminate:
		out, err := f.api.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			rec.RequestIDs = appendErrRequestID(rec.RequestIDs, err)
			return err
		}
		meta = out.ResultMetadata
	}
	if rid, ok := awsmiddleware.GetRequestIDMetadata(meta); ok {
		rec.RequestIDs = append(rec.RequestIDs, rid)
	}
	return nil
}

// transient reports whether EC2 may take the same call later: throttling,
// a 5xx answer or a connection failure, as the SDK's retryer judges them.
// A context's end is not transient.
func transient(err error) bool {
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

func fenced(s types.InstanceStateName, m Method) bool {
	if s == types.InstanceStateNameTerminated {
		return true
	}
	return m == StopForce && s == types.InstanceStateNameStopped
}

func appendErrRequestID(ids []string, err error) []string {
	var re interface{ ServiceRequestID() string }
	if errors.As(err, &re) && re.ServiceRequestID() != "" {
		return append(ids, re.ServiceRequestID())
	}
	return ids
}

// classify turns EC2's "no such instance" into ErrNotFound.
func classify(id string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "InvalidInstanceID.NotFound" || ae.ErrorCode() == "InvalidInstanceID.Malformed") {
		return fmt.Errorf("%w: %s (%s)", ErrNotFound, id, ae.ErrorCode())
	}
	return err
}

// describeSteadily is describe for the safety checks: while EC2 throttles
// or fails with 5xx it asks again every poll interval, for at most the
// first level's timeout, so a throttling storm during a failover delays
// the fence instead of failing it. Any other answer is final.
func (f *PowerFencer) describeSteadily(ctx context.Context, id string) (types.Instance, error) {
	deadline := f.clk.Now().Add(f.cfg.Levels[0].Timeout)
	for {
		inst, err := f.describe(ctx, id)
		if err == nil || !transient(err) || !f.clk.Now().Before(deadline) {
			return inst, err
		}
		f.log.Warn("describing an instance for the fence's safety checks; asking again", "instance", id, "err", err)
		if serr := clock.Sleep(ctx, f.clk, f.cfg.PollInterval); serr != nil {
			return inst, fmt.Errorf("%w; last EC2 answer: %v", serr, err)
		}
	}
}

func (f *PowerFencer) describe(ctx context.Context, id string) (types.Instance, error) {
	out, err := f.api.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return types.Instance{}, classify(id, err)
	}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			if aws.ToString(inst.InstanceId) == id {
				return inst, nil
			}
		}
	}
	return types.Instance{}, fmt.Errorf("%w: %s", ErrNotFound, id)
}

// tag records the fence on the target so it outlives this agent. A failure
// is logged, not fatal: the target is already fenced.
func (f *PowerFencer) tag(ctx context.Context, req Request, log *slog.Logger) {
	_, err := f.api.CreateTags(ctx, &awsec2.CreateTagsInput{Resources: []string{req.Target}, Tags: []types.Tag{
		{Key: aws.String(FencedByTag), Value: aws.String(req.Requester)},
		{Key: aws.String(FencedAtTag), Value: aws.String(f.clk.Now().UTC().Format(time.RFC3339))},
	}})
	if err != nil {
		log.Warn("recording the fence in tags failed", "err", err)
	}
}

func stateOf(inst types.Instance) types.InstanceStateName {
	if inst.State == nil {
		return ""
	}
	return inst.State.Name
}

func tagValue(inst types.Instance, key string) string {
	for _, t := range inst.Tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// Status returns the instance's state as EC2 reports it.
func (f *PowerFencer) Status(ctx context.Context, instanceID string) (string, error) {
	inst, err := f.describe(ctx, instanceID)
	if err != nil {
		return "", err
	}
	return string(stateOf(inst)), nil
}

// List returns every instance carrying this cluster's tag.
func (f *PowerFencer) List(ctx context.Context) ([]Member, error) {
	var members []Member
	p := awsec2.NewDescribeInstancesPaginator(f.api, &awsec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + ClusterTag), Values: []string{f.cfg.Cluster}}}})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range out.Reservations {
			for _, inst := range r.Instances {
				members = append(members, Member{InstanceID: aws.ToString(inst.InstanceId), State: string(stateOf(inst)), Name: tagValue(inst, "Name")})
			}
		}
	}
	return members, nil
}

// Unfence starts a stopped cluster instance again. It refuses instances
// without this cluster's tag.
func (f *PowerFencer) Unfence(ctx context.Context, instanceID string) error {
	inst, err := f.describe(ctx, instanceID)
	if err != nil {
		return err
	}
	if tagValue(inst, ClusterTag) != f.cfg.Cluster {
		return fmt.Errorf("%w: %s", ErrNotClusterMember, instanceID)
	}
	if _, err := f.api.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: []string{instanceID}}); err != nil {
		return classify(instanceID, err)
	}
	f.log.Info("unfenced", "target", instanceID)
	return nil
}
