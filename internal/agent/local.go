package agent

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/ec2ha/ec2ha/ec2/hostnet"
	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/clock"
	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/hooks"
	"github.com/ec2ha/ec2ha/internal/version"
	"github.com/ec2ha/ec2ha/membership"
)

// localGroups runs the groups placed on this node: their addresses on the
// host interface, their start, stop and monitor hooks, and what the node
// tells the others about them in its gossip metadata (Running, Failures),
// which is how the coordinator learns where each group runs.
type localGroups struct {
	a       *Agent
	witness bool

	mu       sync.Mutex
	running  map[string]bool
	failures map[string]int
	monitors map[string]context.CancelFunc
	leaving  bool
	// ops serialises start and stop of one group: a remote call and a
	// local no-quorum stop must not interleave.
	ops map[string]*sync.Mutex
	// publishing serialises publish: UpdateMeta replaces the whole
	// metadata, so an older snapshot must never be applied after a newer.
	publishing sync.Mutex
}

func newLocalGroups(a *Agent, witness bool) *localGroups {
	return &localGroups{a: a, witness: witness, running: map[string]bool{}, failures: map[string]int{},
		monitors: map[string]context.CancelFunc{}, ops: map[string]*sync.Mutex{}}
}

// meta is what this node gossips about itself.
func (l *localGroups) meta() membership.Meta {
	cfg, _ := l.a.config()
	l.mu.Lock()
	defer l.mu.Unlock()
	m := membership.Meta{InstanceID: l.a.id.InstanceID, AZ: l.a.id.AZ, Version: version.Version,
		Witness: l.witness, Standby: l.leaving}
	if !l.witness {
		for _, g := range cfg.Groups {
			if slices.Contains(g.Nodes, l.a.name) {
				m.Groups = append(m.Groups, g.Name)
			}
		}
	}
	for g := range l.running {
		m.Running = append(m.Running, g)
	}
	slices.Sort(m.Running)
	for g, n := range l.failures {
		if n > 0 {
			if m.Failures == nil {
				m.Failures = map[string]int{}
			}
			m.Failures[g] = n
		}
	}
	return m
}

// publish gossips the current metadata and wakes the executor.
func (l *localGroups) publish() {
	if l.a.node == nil {
		return
	}
	l.publishing.Lock()
	defer l.publishing.Unlock()
	if err := l.a.node.UpdateMeta(l.meta(), 2*time.Second); err != nil {
		l.a.log.Warn("gossiping group state", "err", err)
	}
	l.a.poke()
}

// names returns the groups running here.
func (l *localGroups) names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(maps.Keys(l.running))
}

func (l *localGroups) isRunning(group string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running[group]
}

// setLeaving marks this node standby for the handover at shutdown.
func (l *localGroups) setLeaving() {
	l.mu.Lock()
	l.leaving = true
	l.mu.Unlock()
	l.publish()
}

func (l *localGroups) lock(group string) func() {
	l.mu.Lock()
	m := l.ops[group]
	if m == nil {
		m = &sync.Mutex{}
		l.ops[group] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func groupConfig(cfg *config.Config, name string) (config.Group, bool) {
	for _, g := range cfg.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return config.Group{}, false
}

// start brings group up here: addresses on the host, then the start hook.
// It is idempotent: a group already running is left alone.
func (l *localGroups) start(ctx context.Context, group, reason string) error {
	defer l.lock(group)()
	if l.isRunning(group) {
		return nil
	}
	cfg, _ := l.a.config()
	g, ok := groupConfig(cfg, group)
	if !ok {
		return fmt.Errorf("group %s is not in this node's configuration", group)
	}
	if l.witness || !slices.Contains(g.Nodes, l.a.name) {
		return fmt.Errorf("%s cannot run group %s: it is not in the group's nodes", l.a.name, group)
	}
	began := l.a.clk.Now()
	err := l.configureAddresses(g)
	if err == nil {
		err = l.runHook(ctx, g, hooks.Start, g.Hooks.Start, reason)
	}
	l.mu.Lock()
	if err != nil {
		l.failures[group]++
	} else {
		l.running[group] = true
		l.failures[group] = 0
	}
	l.mu.Unlock()
	l.publish()
	if err != nil {
		l.a.record(api.Event{Kind: "start", Group: group, Node: l.a.name, Outcome: api.OutcomeFailed,
			Message: fmt.Sprintf("starting %s on %s failed: %v", group, l.a.name, err), Duration: l.a.clk.Now().Sub(began)})
		return err
	}
	l.a.record(api.Event{Kind: "start", Group: group, Node: l.a.name, Outcome: api.OutcomeOK,
		Message: fmt.Sprintf("started %s on %s (%s)", group, l.a.name, reason), Duration: l.a.clk.Now().Sub(began)})
	l.startMonitor(g)
	return nil
}

// stop takes group down here: the stop hook, then its addresses off the
// host. It runs even when the agent does not believe the group runs (after
// an agent restart it cannot know), since stop hooks must be idempotent.
func (l *localGroups) stop(ctx context.Context, group, reason string) error {
	defer l.lock(group)()
	cfg, _ := l.a.config()
	g, ok := groupConfig(cfg, group)
	if !ok {
		return fmt.Errorf("group %s is not in this node's configuration", group)
	}
	began := l.a.clk.Now()
	l.stopMonitor(group)
	err := l.runHook(ctx, g, hooks.Stop, g.Hooks.Stop, reason)
	if err == nil {
		err = l.removeAddresses(g)
	}
	if err != nil {
		// Still believed running: the coordinator will fence this node
		// rather than move the group away from a service it cannot stop.
		l.a.record(api.Event{Kind: "stop", Group: group, Node: l.a.name, Outcome: api.OutcomeFailed,
			Message: fmt.Sprintf("stopping %s on %s failed: %v", group, l.a.name, err), Duration: l.a.clk.Now().Sub(began)})
		return err
	}
	l.mu.Lock()
	delete(l.running, group)
	l.mu.Unlock()
	l.publish()
	l.a.record(api.Event{Kind: "stop", Group: group, Node: l.a.name, Outcome: api.OutcomeOK,
		Message: fmt.Sprintf("stopped %s on %s (%s)", group, l.a.name, reason), Duration: l.a.clk.Now().Sub(began)})
	return nil
}

func (l *localGroups) runHook(ctx context.Context, g config.Group, kind hooks.Kind, h config.Hook, reason string) error {
	if h.Command == "" {
		return nil
	}
	l.a.metrics.HookRuns.WithLabelValues(g.Name, string(kind)).Inc()
	cfg, _ := l.a.config()
	err := hooks.Run(ctx, l.a.log, hooks.Hook{Command: []string{"/bin/sh", "-c", h.Command}, Timeout: h.Timeout},
		hooks.Transition{Group: g.Name, Kind: kind, Node: l.a.id.InstanceID, Reason: reason,
			Extra: map[string]string{"EC2HA_NODE_NAME": l.a.name, "EC2HA_CLUSTER": cfg.Cluster.Name}})
	if err != nil {
		l.a.metrics.HookFailures.WithLabelValues(g.Name, string(kind)).Inc()
	}
	return err
}

// configureAddresses puts the group's secondary and overlay IPs on the
// named host interfaces; an address without an interface is left to the
// start hook (or to a distribution's ec2-net-utils).
func (l *localGroups) configureAddresses(g config.Group) error {
	for _, ip := range hostAddresses(g) {
		if err := hostnet.Configure(ip.ifname, ip.prefix); err != nil {
			return fmt.Errorf("configuring %s on %s: %w", ip.prefix, ip.ifname, err)
		}
		if ip.arp {
			if err := hostnet.GratuitousARP(ip.ifname, ip.prefix.Addr()); err != nil {
				l.a.log.Warn("gratuitous ARP", "address", ip.prefix.Addr(), "interface", ip.ifname, "err", err)
			}
		}
	}
	return nil
}

func (l *localGroups) removeAddresses(g config.Group) error {
	for _, ip := range hostAddresses(g) {
		if err := hostnet.Remove(ip.ifname, ip.prefix); err != nil {
			return fmt.Errorf("removing %s from %s: %w", ip.prefix, ip.ifname, err)
		}
	}
	return nil
}

type hostAddress struct {
	ifname string
	prefix netip.Prefix
	arp    bool // announce: the address is in the subnet, neighbours cache it
}

func hostAddresses(g config.Group) []hostAddress {
	var out []hostAddress
	for _, s := range g.Resources.SecondaryIPs {
		if a, err := netip.ParseAddr(s.Address); err == nil && s.Interface != "" {
			out = append(out, hostAddress{s.Interface, netip.PrefixFrom(a, 32), true})
		}
	}
	for _, o := range g.Resources.OverlayIPs {
		if a, err := netip.ParseAddr(o.Address); err == nil && o.Interface != "" {
			out = append(out, hostAddress{o.Interface, netip.PrefixFrom(a, 32), false})
		}
	}
	return out
}

// startMonitor runs the monitor hook every interval while the group runs
// here, counting consecutive failures in the gossiped metadata; the
// coordinator moves the group when they reach its migration threshold.
func (l *localGroups) startMonitor(g config.Group) {
	h := g.Hooks.Monitor
	if h.Command == "" || h.Interval <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.mu.Lock()
	if old := l.monitors[g.Name]; old != nil {
		old()
	}
	l.monitors[g.Name] = cancel
	l.mu.Unlock()
	go func() {
		for clock.Sleep(ctx, l.a.clk, h.Interval) == nil {
			err := l.runHook(ctx, g, hooks.Monitor, h, "monitor")
			if ctx.Err() != nil {
				return
			}
			l.mu.Lock()
			before := l.failures[g.Name]
			if err != nil {
				l.failures[g.Name]++
			} else {
				l.failures[g.Name] = 0
			}
			after := l.failures[g.Name]
			l.mu.Unlock()
			if err != nil {
				l.a.record(api.Event{Kind: "monitor", Group: g.Name, Node: l.a.name, Outcome: api.OutcomeFailed,
					Message: fmt.Sprintf("monitor of %s on %s failed (%d in a row, threshold %d): %v", g.Name, l.a.name, after, g.MigrationThreshold, err)})
			}
			if before != after {
				l.publish()
			}
		}
	}()
}

func (l *localGroups) stopMonitor(group string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cancel := l.monitors[group]; cancel != nil {
		cancel()
		delete(l.monitors, group)
	}
}

func (l *localGroups) stopMonitors() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for g, cancel := range l.monitors {
		cancel()
		delete(l.monitors, g)
	}
}
