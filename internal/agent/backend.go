package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ec2ha/ec2ha/failover"
	"github.com/ec2ha/ec2ha/fencing"
	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/version"
	"github.com/ec2ha/ec2ha/membership"
)

// backend answers the local API from the agent's view.
type backend struct{ a *Agent }

var _ api.Backend = (*backend)(nil)

func (b *backend) Ready() error {
	a := b.a
	if !a.ready.Load() {
		return errors.New("starting")
	}
	if q := a.node.Quorum(); !q.Has() {
		return fmt.Errorf("no quorum: %s", q.Reason)
	}
	return nil
}

// Status is this node's view, with EC2 asked anew for instance states,
// address holders and intents. A node without EC2 access (a witness) still
// answers, saying what it could not read.
func (b *backend) Status(ctx context.Context) (api.Status, error) {
	a := b.a
	cfg, engine := a.config()
	view := a.node.View()
	q := a.node.Quorum()
	st := api.Status{Cluster: cfg.Cluster.Name, Node: a.name, Version: version.Version, Time: a.clk.Now(),
		Quorum: api.Quorum{Quorate: q.Has(), TwoNodeRace: q.State == membership.QuorateTwoNode,
			Votes: q.Votes, Expected: q.Expected, Needed: q.Needed, Reason: q.Reason}}
	fm, _ := members(view)
	if q.Has() {
		st.Coordinator = failover.Coordinator(failover.Observation{Members: fm})
	}
	// Bounded: under EC2 throttling an operator still gets the
	// membership half of the answer quickly.
	readCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ec2st, ec2err := readEC2(readCtx, a, cfg)
	intents := intentsFrom(ec2st, view, map[string]bool{})
	st.Maintenance = intents.Maintenance
	for _, m := range view.Members {
		mem := api.Member{Name: m.Name, InstanceID: m.Meta.InstanceID, Zone: m.Meta.AZ, Address: m.Addr, State: string(m.State),
			Incarnation: uint32(m.Incarnation), Standby: m.Meta.Standby || intents.Standby[m.Name], Witness: m.Meta.Witness}
		if inst, ok := ec2st.instances[m.Meta.InstanceID]; ok {
			mem.InstanceState = inst.State
		}
		st.Members = append(st.Members, mem)
	}
	states := groupStates(engine, view, a.name)
	for i, g := range cfg.Groups {
		gs := states[i]
		grp := api.Group{Name: g.Name, Owner: gs.Running, State: "started",
			Failovers: a.journal.count(func(e api.Event) bool {
				return e.Kind == api.KindFailover && e.Group == g.Name && e.Outcome == api.OutcomeOK
			})}
		holders := ec2st.holders(g)
		switch {
		case gs.Running == "":
			grp.State = "stopped"
		case len(holders) > 1:
			grp.State, grp.Reason = "moving", fmt.Sprintf("addresses on %d instances", len(holders))
		}
		if m, ok := view.Member(gs.Running); ok && m.State != membership.StateAlive {
			grp.State, grp.Reason = "blocked", fmt.Sprintf("%s is %s: waiting for it to be fenced", m.Name, m.State)
		}
		if mv, ok := intents.Moves[g.Name]; ok {
			grp.Reason = fmt.Sprintf("switchover requested from %s", mv.From)
		}
		grp.Resources = resources(g, ec2st, a)
		if ec2err != nil {
			grp.Reason = "EC2 not readable from this node: " + ec2err.Error()
		}
		st.Groups = append(st.Groups, grp)
	}
	st.Events = a.journal.recent(8)
	return st, nil
}

func resources(g config.Group, st ec2State, a *Agent) []api.Resource {
	holder := func(iid string) string {
		if n := a.nodeOfInstance(iid); n != "" {
			return n
		}
		return iid
	}
	var out []api.Resource
	for _, e := range g.Resources.ElasticIPs {
		eip := st.eips[e.AllocationID]
		out = append(out, api.Resource{Kind: "elastic-ip", ID: e.AllocationID, Address: eip.PublicIP, Holder: holder(eip.InstanceID)})
	}
	for _, s := range g.Resources.SecondaryIPs {
		out = append(out, api.Resource{Kind: "secondary-ip", ID: s.Address, Address: s.Address, Holder: holder(st.secondary[s.Address].InstanceID)})
	}
	for _, o := range g.Resources.OverlayIPs {
		var hs []string
		for _, r := range st.routes[o.Address] {
			if h := holder(r.InstanceID); h != "" && !slices.Contains(hs, h) {
				hs = append(hs, h)
			}
		}
		slices.Sort(hs)
		h := ""
		if len(hs) > 0 {
			h = hs[0]
			if len(hs) > 1 {
				h = fmt.Sprint(hs)
			}
		}
		out = append(out, api.Resource{Kind: "overlay-ip", ID: o.Address, Address: o.Address, Holder: h})
	}
	return out
}

func (b *backend) History(_ context.Context, after uint64, limit int) ([]api.Event, error) {
	return b.a.journal.since(after, limit), nil
}

func (b *backend) member(node string) (membership.Member, error) {
	m, ok := b.a.node.View().Member(node)
	if !ok {
		return m, api.NotFoundError{What: "node " + node}
	}
	if m.Meta.InstanceID == "" {
		return m, api.ConflictError{Reason: node + " has not told the cluster its instance id yet"}
	}
	return m, nil
}

// SetStandby tags the node's instance: the intent survives restarts and
// every coordinator reads it.
func (b *backend) SetStandby(ctx context.Context, node string, on bool) error {
	m, err := b.member(node)
	if err != nil {
		return err
	}
	if err := setTag(ctx, b.a, []string{m.Meta.InstanceID}, StandbyTag, onOff(on)); err != nil {
		return err
	}
	b.a.record(api.Event{Kind: "intent", Node: node, Outcome: api.OutcomeOK, Message: fmt.Sprintf("operator set %s standby %s", node, onOff(on))})
	b.a.wakeCoordinator()
	return nil
}

// SetMaintenance tags every cluster instance.
func (b *backend) SetMaintenance(ctx context.Context, on bool) error {
	a := b.a
	cfg, _ := a.config()
	st, err := readEC2(ctx, a, cfg)
	if err != nil {
		return err
	}
	var ids []string
	for id, inst := range st.instances {
		if inst.State != "terminated" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return api.ConflictError{Reason: "EC2 shows no instance tagged " + fencing.ClusterTag + "=" + cfg.Cluster.Name}
	}
	if err := setTag(ctx, a, ids, MaintenanceTag, onOff(on)); err != nil {
		return err
	}
	a.record(api.Event{Kind: "intent", Outcome: api.OutcomeOK, Message: "operator turned maintenance mode " + onOff(on)})
	a.wakeCoordinator()
	return nil
}

// Move asks for a switchover by tagging the group's current instance, and
// follows the group until it runs elsewhere, recording the outcome as a
// switchover event that `failover --wait` waits for.
func (b *backend) Move(ctx context.Context, group string, req api.MoveRequest) (api.MoveTicket, error) {
	a := b.a
	cfg, engine := a.config()
	g, ok := groupConfig(cfg, group)
	if !ok {
		return api.MoveTicket{}, api.NotFoundError{What: "group " + group}
	}
	if q := a.node.Quorum(); !q.Has() {
		return api.MoveTicket{}, api.ConflictError{Reason: "no quorum: " + q.Reason}
	}
	view := a.node.View()
	from := ""
	for _, gs := range groupStates(engine, view, a.name) {
		if gs.Name == group {
			from = gs.Running
		}
	}
	if from == "" {
		return api.MoveTicket{}, api.ConflictError{Reason: group + " is not running anywhere; nothing to move"}
	}
	if req.To != "" {
		m, ok := view.Member(req.To)
		switch {
		case !ok:
			return api.MoveTicket{}, api.NotFoundError{What: "node " + req.To}
		case !slices.Contains(g.Nodes, req.To):
			return api.MoveTicket{}, api.ConflictError{Reason: fmt.Sprintf("%s is not one of %s's nodes %v", req.To, group, g.Nodes)}
		case m.State != membership.StateAlive:
			return api.MoveTicket{}, api.ConflictError{Reason: fmt.Sprintf("%s is %s", req.To, m.State)}
		case req.To == from:
			return api.MoveTicket{}, api.ConflictError{Reason: fmt.Sprintf("%s already runs on %s", group, from)}
		}
	}
	fromMember, err := b.member(from)
	if err != nil {
		return api.MoveTicket{}, err
	}
	target := req.To
	if target == "" {
		target = "*"
	}
	if err := setTag(ctx, a, []string{fromMember.Meta.InstanceID}, MoveTagPrefix+group, target); err != nil {
		return api.MoveTicket{}, err
	}
	after := a.journal.last()
	a.record(api.Event{Kind: api.KindSwitchover, Group: group, Node: from, Outcome: api.OutcomeStarted,
		Message: fmt.Sprintf("switchover of %s from %s to %s requested", group, from, orAny(req.To))})
	a.wakeCoordinator()
	go b.followSwitchover(group, from, req.To, after)
	return api.MoveTicket{Group: group, To: req.To, AfterSeq: after}, nil
}

// followSwitchover records the end of a switchover: the group running on
// another node (the requested one, if any), or a timeout.
func (b *backend) followSwitchover(group, from, to string, after uint64) {
	a := b.a
	cfg, engine := a.config()
	g, _ := groupConfig(cfg, group)
	limit := 2*(g.Hooks.Start.Timeout+g.Hooks.Stop.Timeout) + time.Minute
	began := a.clk.Now()
	for a.clk.Now().Sub(began) < limit {
		for _, gs := range groupStates(engine, a.node.View(), a.name) {
			if gs.Name == group && gs.Running != "" && gs.Running != from && (to == "" || gs.Running == to) {
				b.awaitStartEvent(group, gs.Running, after)
				a.record(api.Event{Kind: api.KindSwitchover, Group: group, Node: gs.Running, Outcome: api.OutcomeOK, Duration: a.clk.Now().Sub(began),
					Message: fmt.Sprintf("%s moved from %s to %s", group, from, gs.Running)})
				return
			}
		}
		if err := sleep(a, 100*time.Millisecond); err != nil {
			return
		}
	}
	a.record(api.Event{Kind: api.KindSwitchover, Group: group, Outcome: api.OutcomeFailed, Duration: a.clk.Now().Sub(began),
		Message: fmt.Sprintf("%s did not move from %s within %s: see `ec2ha status` for why", group, from, limit)})
}

// awaitStartEvent waits a little for the new owner's start event to reach
// this node's history: gossip tells that the group runs before the event
// arrives, and `failover --wait` stops at the switchover's end, so without
// this wait it would end without printing the start it waited for.
func (b *backend) awaitStartEvent(group, node string, after uint64) {
	a := b.a
	for waited := time.Duration(0); waited < 3*time.Second; waited += 50 * time.Millisecond {
		for _, e := range a.journal.since(after, 1000) {
			if e.Kind == "start" && e.Group == group && e.Node == node {
				return
			}
		}
		if sleep(a, 50*time.Millisecond) != nil {
			return
		}
	}
}

func sleep(a *Agent, d time.Duration) error {
	select {
	case <-a.clk.After(d):
		return nil
	case <-a.stopped:
		return errors.New("agent stopping")
	}
}

// Fence is an operator's fence: the same safety checks as the
// coordinator's (quorum, cluster tag, never itself).
func (b *backend) Fence(ctx context.Context, node string) (api.FenceResult, error) {
	a := b.a
	m, err := b.member(node)
	if err != nil {
		return api.FenceResult{}, err
	}
	if q := a.node.Quorum(); !q.Has() {
		return api.FenceResult{}, api.ConflictError{Reason: "no quorum: " + q.Reason}
	}
	rec, err := a.fencer.Fence(ctx, fencing.Request{Target: m.Meta.InstanceID, Requester: "operator", Reason: "operator asked", Authority: a.authority})
	res := api.FenceResult{Node: node, Instance: m.Meta.InstanceID, Outcome: string(rec.Outcome), Duration: rec.End.Sub(rec.Start), Message: "confirmed " + string(rec.Outcome)}
	e := api.Event{Kind: "fence", Node: node, Outcome: api.OutcomeOK, Duration: rec.End.Sub(rec.Start),
		Message: fmt.Sprintf("operator fenced %s (%s): %s", node, m.Meta.InstanceID, rec.Outcome)}
	if err != nil {
		res.Outcome, res.Message = "failed", err.Error()
		e.Outcome, e.Message = api.OutcomeFailed, fmt.Sprintf("operator fence of %s failed: %v", node, err)
		if errors.Is(err, fencing.ErrSelf) || errors.Is(err, fencing.ErrNotClusterMember) || errors.Is(err, fencing.ErrNotQuorate) {
			a.record(e)
			return res, api.ConflictError{Reason: err.Error()}
		}
	}
	a.record(e)
	a.poke()
	return res, nil
}

// Unfence starts a fenced node's instance again. A node that is alive
// (perhaps on a replacement) is refused: starting its old instance would
// put two machines under one name.
func (b *backend) Unfence(ctx context.Context, node string) (api.FenceResult, error) {
	a := b.a
	m, err := b.member(node)
	if err != nil {
		return api.FenceResult{}, err
	}
	if m.State == membership.StateAlive {
		return api.FenceResult{}, api.ConflictError{Reason: fmt.Sprintf("%s is alive (on %s): nothing to unfence", node, m.Meta.InstanceID)}
	}
	if q := a.node.Quorum(); !q.Has() {
		return api.FenceResult{}, api.ConflictError{Reason: "no quorum: " + q.Reason}
	}
	res := api.FenceResult{Node: node, Instance: m.Meta.InstanceID, Outcome: "started", Message: "StartInstances accepted; the agent rejoins once the instance runs"}
	e := api.Event{Kind: "unfence", Node: node, Outcome: api.OutcomeOK, Message: fmt.Sprintf("operator started %s (%s) again", node, m.Meta.InstanceID)}
	if err := a.fencer.Unfence(ctx, m.Meta.InstanceID); err != nil {
		e.Outcome, e.Message = api.OutcomeFailed, fmt.Sprintf("operator unfence of %s failed: %v", node, err)
		a.record(e)
		if errors.Is(err, fencing.ErrNotClusterMember) {
			return api.FenceResult{}, api.ConflictError{Reason: err.Error()}
		}
		return api.FenceResult{}, err
	}
	a.record(e)
	return res, nil
}

// Keyring rotates the gossip key cluster-wide; keys never leave this call.
func (b *backend) Keyring(ctx context.Context, req api.KeyringRequest) (api.KeyringResponse, error) {
	n := b.a.node
	var key []byte
	if req.Op != "list" {
		var err error
		if key, err = base64.StdEncoding.DecodeString(req.Key); err != nil {
			return api.KeyringResponse{}, api.ConflictError{Reason: "the key is not base64: use `ec2ha keygen` to make one"}
		}
	}
	var results []membership.KeyResult
	var err error
	switch req.Op {
	case "install":
		results, err = n.InstallKey(ctx, key)
	case "use":
		results, err = n.UseKey(ctx, key)
	case "remove":
		results, err = n.RemoveKey(ctx, key)
	case "list":
		results, err = n.ListKeys(ctx)
	default:
		return api.KeyringResponse{}, api.ConflictError{Reason: "keyring operation must be install, use, remove or list"}
	}
	resp := api.KeyringResponse{Keys: map[string]int{}, Members: len(results)}
	for _, r := range results {
		if r.Node == b.a.name {
			resp.Primary = r.Primary
		}
		for _, k := range r.Keys {
			resp.Keys[k]++
		}
	}
	return resp, err
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func orAny(node string) string {
	if node == "" {
		return "the next eligible node"
	}
	return node
}
