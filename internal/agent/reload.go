package agent

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
)

// reloadable lists what SIGHUP can change without a restart: policy and
// hooks. Identity, gossip, EC2 endpoints, fencing, resources, replacement
// and listeners are bound into running components (the replacer enforces
// its own hourly limit), so a change to them is reported and left for a
// restart.
const reloadable = "cluster.settle_time, cluster.no_quorum_policy, cluster.no_quorum_stop_after, " +
	"node.shutdown, node.shutdown_timeout, groups[].hooks, groups[].failback, groups[].migration_threshold, " +
	"groups[].fence_on_monitor_failure"

// reload reads the configuration again, applies what is reloadable, and
// says in the log and the history what changed and what needs a restart.
func (a *Agent) reload(read func() (*config.Config, error)) {
	next, err := read()
	if err != nil {
		a.log.Error("reload: configuration rejected, keeping the running one", "err", err)
		a.record(api.Event{Kind: "reload", Node: a.name, Outcome: api.OutcomeFailed,
			Message: fmt.Sprintf("%s kept its running configuration: the file was rejected: %v", a.name, err)})
		return
	}
	cur, _ := a.config()
	merged, applied := mergeReloadable(cur, next)
	fixed := fixedChanges(cur, next)
	if len(applied) > 0 {
		a.mu.Lock()
		a.cfg = merged
		a.engine = engineConfig(merged)
		restart := a.restartExecutor
		a.mu.Unlock()
		if restart != nil {
			restart()
		}
		// Monitors hold the hook they were started with: restart them,
		// under the group's lock so a concurrent stop wins.
		for _, name := range a.local.names() {
			g, ok := groupConfig(merged, name)
			if !ok {
				continue
			}
			unlock := a.local.lock(name)
			if a.local.isRunning(name) {
				a.local.stopMonitor(name)
				a.local.startMonitor(g)
			}
			unlock()
		}
	}
	var msg []string
	switch {
	case len(applied) > 0:
		msg = append(msg, "applied "+strings.Join(applied, ", "))
	case len(fixed) == 0:
		msg = append(msg, "nothing changed")
	}
	if len(fixed) > 0 {
		msg = append(msg, "NOT reloaded, restart the agent for: "+strings.Join(fixed, ", "))
		a.log.Error("reload: some changes need a restart of the agent and were not applied",
			"keys", strings.Join(fixed, ", "), "applied", strings.Join(applied, ", "), "reloadable", reloadable)
	} else {
		a.log.Info("reload: configuration applied", "applied", strings.Join(applied, ", "))
	}
	outcome := api.OutcomeOK
	if len(fixed) > 0 {
		outcome = api.OutcomeFailed
	}
	a.record(api.Event{Kind: "reload", Node: a.name, Outcome: outcome, Message: a.name + " reloaded its configuration: " + strings.Join(msg, "; ")})
}

// mergeReloadable returns cur with the reloadable values of next, and the
// keys whose values changed. Groups are matched by name; a group added or
// removed is for fixedChanges to report.
func mergeReloadable(cur, next *config.Config) (*config.Config, []string) {
	m := *cur
	var applied []string
	set := func(key string, dst, src any) {
		d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
		if !reflect.DeepEqual(d.Interface(), s.Interface()) {
			d.Set(s)
			applied = append(applied, key)
		}
	}
	set("cluster.settle_time", &m.Cluster.SettleTime, next.Cluster.SettleTime)
	set("cluster.no_quorum_policy", &m.Cluster.NoQuorumPolicy, next.Cluster.NoQuorumPolicy)
	set("cluster.no_quorum_stop_after", &m.Cluster.NoQuorumStopAfter, next.Cluster.NoQuorumStopAfter)
	set("node.shutdown", &m.Node.Shutdown, next.Node.Shutdown)
	set("node.shutdown_timeout", &m.Node.ShutdownTimeout, next.Node.ShutdownTimeout)
	m.Groups = append([]config.Group(nil), cur.Groups...)
	for i := range m.Groups {
		g := &m.Groups[i]
		ng, ok := groupConfig(next, g.Name)
		if !ok {
			continue
		}
		p := "groups[" + g.Name + "]."
		set(p+"hooks", &g.Hooks, ng.Hooks)
		set(p+"failback", &g.Failback, ng.Failback)
		set(p+"migration_threshold", &g.MigrationThreshold, ng.MigrationThreshold)
		set(p+"fence_on_monitor_failure", &g.FenceOnMonitorFailure, ng.FenceOnMonitorFailure)
	}
	return &m, applied
}

// fixedChanges names the top-level keys (and groups) that differ between
// cur and next in a way reload cannot apply.
func fixedChanges(cur, next *config.Config) []string {
	c, n := *cur, *next
	// Make the reloadable fields equal, then anything still different is
	// fixed.
	c.Cluster.SettleTime, c.Cluster.NoQuorumPolicy, c.Cluster.NoQuorumStopAfter =
		n.Cluster.SettleTime, n.Cluster.NoQuorumPolicy, n.Cluster.NoQuorumStopAfter
	c.Node.Shutdown, c.Node.ShutdownTimeout = n.Node.Shutdown, n.Node.ShutdownTimeout
	var changed []string
	if len(c.Groups) != len(n.Groups) {
		changed = append(changed, "groups (added or removed)")
		c.Groups = n.Groups
	} else {
		c.Groups = append([]config.Group(nil), c.Groups...)
		for i := range c.Groups {
			g, ng := &c.Groups[i], n.Groups[i]
			g.Hooks, g.Failback, g.MigrationThreshold, g.FenceOnMonitorFailure = ng.Hooks, ng.Failback, ng.MigrationThreshold, ng.FenceOnMonitorFailure
			if !reflect.DeepEqual(*g, ng) {
				changed = append(changed, "groups["+ng.Name+"]")
			}
		}
		c.Groups = n.Groups
	}
	cv, nv := reflect.ValueOf(c), reflect.ValueOf(n)
	for i := range cv.NumField() {
		if !reflect.DeepEqual(cv.Field(i).Interface(), nv.Field(i).Interface()) {
			changed = append(changed, strings.Split(cv.Type().Field(i).Tag.Get("mapstructure"), ",")[0])
		}
	}
	return changed
}
