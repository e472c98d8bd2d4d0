package agent

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/ec2/moves"
	"github.com/ec2ha/ec2ha/ec2/replace"
	"github.com/ec2ha/ec2ha/failover"
	"github.com/ec2ha/ec2ha/fencing"
	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/metrics"
	"github.com/ec2ha/ec2ha/membership"
)

// Operator intents live in EC2 tags on the cluster's instances, so they
// survive any agent's restart and every coordinator reads the same ones.
const (
	// StandbyTag "on" keeps groups off the instance's node.
	StandbyTag = "ec2ha:standby"
	// MaintenanceTag "on" on any running member puts the cluster in
	// maintenance: observe and report, never act.
	MaintenanceTag = "ec2ha:maintenance"
	// MoveTagPrefix + group on the group's current instance asks for a
	// switchover; the value is the target node, or "*" for any other.
	MoveTagPrefix = "ec2ha:move:"
)

// instance is what one DescribeInstances shows of a cluster instance.
type instance struct {
	ID, State, ENI, PrivateIP, SubnetID string
	Launched                            time.Time
	Tags                                map[string]string
}

// ec2State is one read of EC2: cluster instances and every address the
// groups use. Actions use the read taken just before them, never an older
// one: the executor observes again before each action.
type ec2State struct {
	instances map[string]instance
	eips      map[string]moves.EIP
	secondary map[string]moves.Owner
	routes    map[string]map[string]moves.Route // overlay address -> table -> route
}

// readEC2 reads the cluster's instances and the groups' addresses: one
// DescribeInstances, and one call per kind of address, however many
// groups there are.
func readEC2(ctx context.Context, a *Agent, cfg *config.Config) (ec2State, error) {
	st := ec2State{instances: map[string]instance{}, routes: map[string]map[string]moves.Route{}}
	p := awsec2.NewDescribeInstancesPaginator(a.ec2, &awsec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + fencing.ClusterTag), Values: []string{cfg.Cluster.Name}}}})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return st, err
		}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				inst := instance{ID: aws.ToString(i.InstanceId), PrivateIP: aws.ToString(i.PrivateIpAddress),
					SubnetID: aws.ToString(i.SubnetId), Launched: aws.ToTime(i.LaunchTime), Tags: map[string]string{}}
				if i.State != nil {
					inst.State = string(i.State.Name)
				}
				inst.ENI = ec2.PrimaryENI(i)
				for _, t := range i.Tags {
					inst.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
				}
				st.instances[inst.ID] = inst
			}
		}
	}
	var allocs, ips []string
	for _, g := range cfg.Groups {
		for _, e := range g.Resources.ElasticIPs {
			allocs = append(allocs, e.AllocationID)
		}
		for _, s := range g.Resources.SecondaryIPs {
			ips = append(ips, s.Address)
		}
	}
	var err error
	if len(allocs) > 0 {
		if st.eips, err = moves.ObserveEIPs(ctx, a.ec2, allocs); err != nil {
			return st, err
		}
	}
	if len(ips) > 0 {
		if st.secondary, err = moves.ObserveSecondaryIPs(ctx, a.ec2, ips); err != nil {
			return st, err
		}
	}
	// Every overlay IP's routes in one call over the union of their tables.
	var tables, dests []string
	for _, g := range cfg.Groups {
		for _, o := range g.Resources.OverlayIPs {
			dests = append(dests, o.Address+"/32")
			for _, t := range o.RouteTables {
				if !slices.Contains(tables, t) {
					tables = append(tables, t)
				}
			}
		}
	}
	if len(dests) > 0 {
		routes, err := moves.ObserveRoutesTo(ctx, a.ec2, tables, dests)
		if err != nil {
			return st, err
		}
		for _, g := range cfg.Groups {
			for _, o := range g.Resources.OverlayIPs {
				st.routes[o.Address] = map[string]moves.Route{}
				for _, t := range o.RouteTables {
					if r, ok := routes[o.Address+"/32"][t]; ok {
						st.routes[o.Address][t] = r
					}
				}
			}
		}
	}
	return st, nil
}

// holders are the instances EC2 shows holding any of g's addresses.
func (st ec2State) holders(g config.Group) []string {
	var out []string
	add := func(id string) {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	for _, e := range g.Resources.ElasticIPs {
		add(st.eips[e.AllocationID].InstanceID)
	}
	for _, s := range g.Resources.SecondaryIPs {
		add(st.secondary[s.Address].InstanceID)
	}
	for _, o := range g.Resources.OverlayIPs {
		for _, r := range st.routes[o.Address] {
			add(r.InstanceID)
		}
	}
	slices.Sort(out)
	return out
}

// observer builds failover.Observations: membership from gossip, and EC2
// read anew when this node coordinates (only the coordinator reads EC2, so
// the API cost does not grow with the number of agents).
type observer struct {
	a *Agent

	mu          sync.Mutex
	quorate     bool
	since       time.Time // quorum last gained or lost
	last        ec2State  // the read behind the latest observation
	explained   map[string]string
	coordinator bool
}

func (o *observer) Observe(ctx context.Context) (failover.Observation, error) {
	a := o.a
	cfg, engine := a.config()
	obs, view := o.fromGossip(engine)
	coordinator := obs.Quorum.Quorate && failover.Coordinator(obs) == a.name
	var st ec2State
	if coordinator {
		var err error
		if st, err = readEC2(ctx, a, cfg); err != nil {
			o.setCoordinator(coordinator)
			return obs, err
		}
		// The view must be at least as fresh as the EC2 read it is
		// paired with: a read slowed down by EC2 can take seconds,
		// and a view from before it would miss a group started on an
		// instance EC2 already shows holding the addresses, which the
		// engine would take for a node that confirms it stopped.
		obs, view = o.fromGossip(engine)
		coordinator = obs.Quorum.Quorate && failover.Coordinator(obs) == a.name
	}
	o.setCoordinator(coordinator)
	// Every node exports where each group runs, from gossip, so any
	// one scrape answers "who is active" and a coordinator change does
	// not leave the gauge stale.
	for _, gs := range obs.Groups {
		a.metrics.SetGroupOwner(gs.Name, gs.Running)
	}
	if !coordinator {
		return obs, nil
	}
	o.mu.Lock()
	o.last = st
	o.mu.Unlock()
	obs.Instances = map[string]failover.Instance{}
	hourAgo := obs.Now.Add(-time.Hour)
	for id, inst := range st.instances {
		obs.Instances[id] = failover.Instance{ID: id, State: failover.InstanceState(inst.State), ClusterTagged: true,
			ReplacesID: inst.Tags[replace.ReplacesTag]}
		if inst.Tags[replace.ReplacesTag] != "" && inst.Launched.After(hourAgo) {
			obs.ReplacementsLastHour++
		}
	}
	for i, gs := range obs.Groups {
		if g, ok := groupConfig(cfg, gs.Name); ok {
			obs.Groups[i].Holders = st.holders(g)
		}
	}
	obs.Intents = intentsFrom(st, view, obs.Intents.Standby)
	metrics.SetBool(a.metrics.Maintenance, obs.Intents.Maintenance)
	return obs, nil
}

// fromGossip is the membership half of an observation: members, quorum,
// where each group runs and who leaves (standby), as this node's view
// shows them now.
func (o *observer) fromGossip(engine failover.Config) (failover.Observation, membership.View) {
	a := o.a
	now := a.clk.Now()
	view := a.node.View()
	q := a.node.Quorum()
	o.mu.Lock()
	if q.Has() != o.quorate {
		o.quorate, o.since = q.Has(), now
	}
	obs := failover.Observation{Now: now, Local: a.name,
		Quorum: failover.Quorum{Quorate: q.Has(), Reason: q.Reason, Since: o.since, Needed: q.Needed}}
	o.mu.Unlock()
	obs.Members, obs.ViewSince = members(view)
	obs.Groups = groupStates(engine, view, a.name)
	obs.Intents.Standby = map[string]bool{}
	for _, m := range view.Members {
		if m.Meta.Standby {
			obs.Intents.Standby[m.Name] = true
		}
	}
	return obs, view
}

// isCoordinator reports whether the latest observation made this node
// the coordinator.
func (o *observer) isCoordinator() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.coordinator
}

func (o *observer) setCoordinator(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if on != o.coordinator {
		o.coordinator = on
		o.a.metricsCoordinator(on)
	}
}

// lastRead is the EC2 read behind the latest observation.
func (o *observer) lastRead() ec2State {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// explanationChanged reports whether a Nothing or Wait explanation differs
// from the last one recorded for its group, so the history does not
// repeat the same sentence at every resync.
func (o *observer) explanationChanged(act failover.Action) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.explained == nil {
		o.explained = map[string]string{}
	}
	key := act.Group + "\x00" + act.Instance
	// Durations in a reason change every step; compare what comes before.
	reason := act.Kind.String() + act.Reason
	if i := strings.Index(reason, " ago"); i > 0 && act.Kind == failover.Wait {
		reason = act.Kind.String()
	}
	if o.explained[key] == reason {
		return false
	}
	o.explained[key] = reason
	return true
}

func members(view membership.View) ([]failover.Member, time.Time) {
	var out []failover.Member
	var since time.Time
	for _, m := range view.Members {
		out = append(out, failover.Member{Name: m.Name, InstanceID: m.Meta.InstanceID, State: memberState(m.State), Witness: m.Meta.Witness, Heard: m.Heard, Since: m.Since})
		if m.Since.After(since) {
			since = m.Since
		}
	}
	return out, since
}

func memberState(s membership.State) failover.MemberState {
	switch s {
	case membership.StateAlive:
		return failover.Alive
	case membership.StateSuspect:
		return failover.Suspect
	case membership.StateLeft:
		return failover.Left
	}
	return failover.Dead
}

// groupStates says where each group's start hook runs, from the members'
// gossiped metadata. A member that is alive and says so wins over the last
// word of a failed one; a failed member's claim stands until EC2 shows its
// instance down, which the engine checks before anything moves.
func groupStates(engine failover.Config, view membership.View, local string) []failover.GroupState {
	var out []failover.GroupState
	for _, g := range engine.Groups {
		gs := failover.GroupState{Name: g.Name, MonitorFailures: map[string]int{}}
		for _, m := range view.Members {
			if n := m.Meta.Failures[g.Name]; n > 0 {
				gs.MonitorFailures[m.Name] = n
			}
			if !slices.Contains(m.Meta.Running, g.Name) {
				continue
			}
			alive := m.State == membership.StateAlive
			if gs.Running == "" || alive {
				gs.Running = m.Name
			}
		}
		out = append(out, gs)
	}
	return out
}

// intentsFrom reads the operator's intents from the instances' tags.
func intentsFrom(st ec2State, view membership.View, standby map[string]bool) failover.Intents {
	in := failover.Intents{Standby: standby, Moves: map[string]failover.Move{}}
	nodeOf := map[string]string{}
	for _, m := range view.Members {
		if m.Meta.InstanceID != "" {
			nodeOf[m.Meta.InstanceID] = m.Name
		}
	}
	for id, inst := range st.instances {
		node := nodeOf[id]
		if node == "" || inst.State != string(failover.Running) {
			continue
		}
		if inst.Tags[StandbyTag] == "on" {
			in.Standby[node] = true
		}
		if inst.Tags[MaintenanceTag] == "on" {
			in.Maintenance = true
		}
		for k, v := range inst.Tags {
			if group, ok := strings.CutPrefix(k, MoveTagPrefix); ok && v != "" {
				to := v
				if to == "*" {
					to = ""
				}
				in.Moves[group] = failover.Move{From: node, To: to}
			}
		}
	}
	return in
}

func tagOf(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}
