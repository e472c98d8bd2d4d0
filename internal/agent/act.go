package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2/moves"
	"github.com/ec2ha/ec2ha/ec2/replace"
	"github.com/ec2ha/ec2ha/failover"
	"github.com/ec2ha/ec2ha/fencing"
	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/metrics"
	"github.com/ec2ha/ec2ha/membership"
)

// actor carries out the engine's actions. Each is idempotent: the EC2
// moves are compare-and-set, fences of a stopped instance succeed at once,
// hooks of a group already in the asked state are skipped, and launches
// carry a client token.
type actor struct{ a *Agent }

func (x *actor) Do(ctx context.Context, act failover.Action) error {
	a := x.a
	began := a.clk.Now()
	var err error
	switch act.Kind {
	case failover.Fence:
		return x.fence(ctx, act)
	case failover.StopGroup:
		// Local stops without quorum and remote stops are recorded by the
		// node that runs the hook.
		if !act.Local {
			a.beginFailover(act.Group, act.Node, began)
		}
		return a.runOn(ctx, act.Node, opStop, act.Group, act.Reason)
	case failover.StartGroup:
		err = a.runOn(ctx, act.Node, opStart, act.Group, act.Reason)
		if err == nil {
			x.clearMoveRequests(ctx, act.Group)
			a.endFailover(act)
		}
		return err
	case failover.MoveResources:
		from := x.previousHolder(act)
		if from != "" {
			a.beginFailover(act.Group, from, began)
		}
		err = x.move(ctx, act)
		e := api.Event{Kind: "move", Group: act.Group, Node: act.Node, Outcome: api.OutcomeOK,
			Message: fmt.Sprintf("moved %s's addresses to %s: %s", act.Group, act.Node, act.Reason), Duration: a.clk.Now().Sub(began)}
		if from != "" {
			e.Message = fmt.Sprintf("moved %s's addresses from %s to %s: %s", act.Group, from, act.Node, act.Reason)
		}
		if err != nil {
			e.Outcome, e.Message = api.OutcomeFailed, fmt.Sprintf("moving %s's addresses to %s failed: %v", act.Group, act.Node, err)
		}
		a.record(e)
		return err
	case failover.LaunchReplacement:
		x.launch(act)
		return nil
	case failover.Terminate:
		return x.terminate(ctx, act)
	}
	return nil
}

func (x *actor) fence(ctx context.Context, act failover.Action) error {
	a := x.a
	node := a.nodeOfInstance(act.Instance)
	if act.Group != "" {
		from := node
		if from == "" {
			from = act.Instance
		}
		a.beginFailover(act.Group, from, a.clk.Now())
	}
	rec, err := a.fencer.Fence(ctx, fencing.Request{Target: act.Instance, Requester: a.name, Reason: act.Reason, Authority: a.authority})
	a.metrics.Fences.WithLabelValues(rec.Method, string(rec.Outcome)).Inc()
	a.metrics.FenceDuration.WithLabelValues(rec.Method).Observe(rec.End.Sub(rec.Start).Seconds())
	e := api.Event{Kind: "fence", Group: act.Group, Node: node, Outcome: api.OutcomeOK, Duration: rec.End.Sub(rec.Start),
		Message: fmt.Sprintf("fenced %s (%s, %s): %s", act.Instance, rec.Method, rec.Outcome, act.Reason)}
	if err != nil {
		e.Outcome, e.Message = api.OutcomeFailed, fmt.Sprintf("fencing %s failed: %v", act.Instance, err)
	}
	a.record(e)
	return err
}

// authority is this node's standing for a fence, asked again by the
// fencer right before it acts.
func (a *Agent) authority() fencing.Authority {
	q := a.node.Quorum()
	return fencing.Authority{Quorate: q.Has(), TwoNodeRace: q.State == membership.QuorateTwoNode,
		HoldsResources: len(a.local.names()) > 0}
}

// move puts every address of the group on the target node's instance.
func (x *actor) move(ctx context.Context, act failover.Action) error {
	a := x.a
	cfg, _ := a.config()
	g, ok := groupConfig(cfg, act.Group)
	if !ok {
		return fmt.Errorf("unknown group %s", act.Group)
	}
	st := a.obs.lastRead()
	iid := a.instanceOfNode(act.Node)
	inst, ok := st.instances[iid]
	if !ok || inst.ENI == "" {
		return fmt.Errorf("%s's instance %q is not among the cluster's instances EC2 showed", act.Node, iid)
	}
	to := moves.Owner{InstanceID: inst.ID, ENI: inst.ENI}
	for _, s := range g.Resources.SecondaryIPs {
		if err := moves.MoveSecondaryIP(ctx, a.ec2, s.Address, to); err != nil {
			return err
		}
	}
	for _, e := range g.Resources.ElasticIPs {
		from := st.eips[e.AllocationID]
		dest := to
		dest.PrivateIP = e.PrivateIP
		if err := moves.MoveEIP(ctx, a.ec2, e.AllocationID, moves.Owner{InstanceID: from.InstanceID, ENI: from.ENI, PrivateIP: from.PrivateIP}, dest); err != nil {
			return err
		}
	}
	for _, o := range g.Resources.OverlayIPs {
		if err := moves.MoveRoute(ctx, a.ec2, o.RouteTables, o.Address+"/32", to); err != nil {
			return err
		}
	}
	return nil
}

// previousHolder names the node (or, for a non-member, the instance) that
// EC2 showed holding the group's addresses before act moves them to
// another node; "" for a first placement.
func (x *actor) previousHolder(act failover.Action) string {
	a := x.a
	cfg, _ := a.config()
	g, ok := groupConfig(cfg, act.Group)
	if !ok {
		return ""
	}
	target := a.instanceOfNode(act.Node)
	for _, iid := range a.obs.lastRead().holders(g) {
		if iid == target {
			continue
		}
		if n := a.nodeOfInstance(iid); n != "" {
			return n
		}
		return iid
	}
	return ""
}

// failoverStart is when this coordinator began taking a group away from
// a node: its first fence, stop or address move.
type failoverStart struct {
	began time.Time
	from  string
}

// beginFailover notes the start of a group's move away from from, unless
// one is already under way (a retried step keeps the first start).
func (a *Agent) beginFailover(group, from string, at time.Time) {
	a.failoverMu.Lock()
	defer a.failoverMu.Unlock()
	if a.failovers == nil {
		a.failovers = map[string]failoverStart{}
	}
	if _, ok := a.failovers[group]; !ok {
		a.failovers[group] = failoverStart{began: at, from: from}
	}
}

// endFailover closes the group's failover once it started on act.Node: the
// failover metrics, and one history event with the whole duration, which
// is what an operator asks first ("how long were we down?").
func (a *Agent) endFailover(act failover.Action) {
	a.failoverMu.Lock()
	fs, ok := a.failovers[act.Group]
	delete(a.failovers, act.Group)
	a.failoverMu.Unlock()
	if !ok || fs.from == act.Node {
		return
	}
	took := a.clk.Now().Sub(fs.began)
	a.metrics.Failovers.WithLabelValues(act.Group, failoverReason(act.Reason)).Inc()
	a.metrics.FailoverDuration.Observe(took.Seconds())
	a.record(api.Event{Kind: api.KindFailover, Group: act.Group, Node: act.Node, Outcome: api.OutcomeOK, Duration: took,
		Message: fmt.Sprintf("%s moved from %s to %s: %s", act.Group, fs.from, act.Node, act.Reason)})
}

// clearMoveRequests removes a satisfied switchover request: left in place
// it would move the group again if it ever came back to that node.
func (x *actor) clearMoveRequests(ctx context.Context, group string) {
	a := x.a
	var ids []string
	for id, inst := range a.obs.lastRead().instances {
		if inst.Tags[MoveTagPrefix+group] != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	if err := setTag(ctx, a, ids, MoveTagPrefix+group, ""); err != nil {
		a.log.Warn("clearing a satisfied switchover request", "group", group, "err", err)
	}
}

// launch starts a replacement in the background: waiting for it to run
// takes minutes on EC2 and must not hold up other decisions. The client
// token makes a repeated launch (here or by another coordinator) find the
// same instance.
func (x *actor) launch(act failover.Action) {
	a := x.a
	if a.replace == nil {
		return
	}
	if _, busy := a.launching.LoadOrStore(act.Instance, true); busy {
		return
	}
	subnet := a.obs.lastRead().instances[act.Instance].SubnetID
	a.record(api.Event{Kind: "replace", Node: act.Node, Outcome: api.OutcomeStarted,
		Message: fmt.Sprintf("launching a replacement for %s (%s): %s", act.Node, act.Instance, act.Reason)})
	go func() {
		defer a.launching.Delete(act.Instance)
		began := a.clk.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		id, err := a.replace.Replace(ctx, replace.Failed{InstanceID: act.Instance, SubnetID: subnet,
			FailoverID: act.Instance, Tags: map[string]string{NodeTag: act.Node}})
		e := api.Event{Kind: "replace", Node: act.Node, Outcome: api.OutcomeOK, Duration: a.clk.Now().Sub(began),
			Message: fmt.Sprintf("replacement %s for %s is running", id, act.Node)}
		if err != nil {
			e.Outcome, e.Message = api.OutcomeFailed, fmt.Sprintf("replacing %s (%s): %v", act.Node, act.Instance, err)
		}
		a.record(e)
		a.poke()
	}()
}

// terminate ends a fenced instance once its replacement runs, when the
// configuration says fenced instances are terminated.
func (x *actor) terminate(ctx context.Context, act failover.Action) error {
	a := x.a
	cfg, _ := a.config()
	if cfg.Replacement.FencedInstance != "terminate" {
		return nil
	}
	_, err := a.ec2.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{act.Instance}})
	e := api.Event{Kind: "terminate", Outcome: api.OutcomeOK, Message: fmt.Sprintf("terminated %s: %s", act.Instance, act.Reason)}
	if err != nil {
		e.Outcome, e.Message = api.OutcomeFailed, fmt.Sprintf("terminating %s: %v", act.Instance, err)
	}
	a.record(e)
	return err
}

func (a *Agent) instanceOfNode(node string) string {
	if m, ok := a.node.View().Member(node); ok {
		return m.Meta.InstanceID
	}
	return ""
}

func (a *Agent) nodeOfInstance(id string) string {
	for _, m := range a.node.View().Members {
		if m.Meta.InstanceID == id {
			return m.Name
		}
	}
	return ""
}

func (a *Agent) metricsCoordinator(on bool) {
	metrics.SetBool(a.metrics.Coordinator, on)
	if on {
		a.log.Info("this node coordinates the cluster")
		return
	}
	// Another node finishes what this one began; an entry left here
	// would time a later, unrelated move from a stale start.
	a.failoverMu.Lock()
	a.failovers = nil
	a.failoverMu.Unlock()
}

// failoverReason is a short label for the metric: the engine's reasons
// are sentences.
func failoverReason(reason string) string {
	switch {
	case strings.HasPrefix(reason, "operator"):
		return "operator"
	case strings.HasPrefix(reason, "failback"):
		return "failback"
	case strings.Contains(reason, "cannot run it"):
		return "failure"
	}
	return "placement"
}

// setTag sets key=value on the instances in one CreateTags call.
func setTag(ctx context.Context, a *Agent, ids []string, key, value string) error {
	_, err := a.ec2.CreateTags(ctx, &awsec2.CreateTagsInput{Resources: ids, Tags: []types.Tag{{Key: aws.String(key), Value: aws.String(value)}}})
	return err
}
