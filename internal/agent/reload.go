package agent

import (
	"reflect"
	"strings"

	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
)

// reloadable lists what SIGHUP can change without a restart: policy and
// hooks. Identity, gossip, EC2 endpoints, fencing, resources and listeners
// are bound into running components, so a change to them is reported and
// left for a restart.
const reloadable = "cluster.settle_time, cluster.no_quorum_policy, cluster.no_quorum_stop_after, " +
	"node.shutdown, node.shutdown_timeout, groups[].hooks, groups[].failback, groups[].migration_threshold, " +
	"groups[].fence_on_monitor_failure, replacement.max_per_hour"

// reload reads the configuration again and applies what is reloadable, or
// nothing if any other key changed.
func (a *Agent) reload(read func() (*config.Config, error)) {
	next, err := read()
	if err != nil {
		a.log.Error("reload: configuration rejected, keeping the running one", "err", err)
		return
	}
	cur, _ := a.config()
	if fixed := fixedChanges(cur, next); len(fixed) > 0 {
		a.log.Error("reload: these keys need a restart of the agent; nothing was reloaded",
			"keys", strings.Join(fixed, ", "), "reloadable", reloadable)
		return
	}
	a.mu.Lock()
	a.cfg = next
	a.engine = engineConfig(next)
	restart := a.restartExecutor
	a.mu.Unlock()
	if restart != nil {
		restart()
	}
	a.log.Info("reload: configuration applied")
	a.record(api.Event{Kind: "reload", Node: a.name, Outcome: api.OutcomeOK, Message: a.name + " reloaded its configuration"})
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
	c.Replacement.MaxPerHour = n.Replacement.MaxPerHour
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
