package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/internal/config"
)

func TestReloadAppliesPolicyAndHooksButNamesWhatNeedsARestart(t *testing.T) {
	base := func() *config.Config {
		c := config.Default()
		c.Cluster.Name = "prod"
		c.Groups = []config.Group{{Name: "web", Nodes: []string{"a", "b"}, Hooks: config.Hooks{Start: config.Hook{Command: "true"}}}}
		return &c
	}
	next := base()
	next.Cluster.SettleTime = 9 * time.Second
	next.Groups[0].Hooks.Start.Command = "systemctl start haproxy"
	next.Groups[0].Failback = true
	if got := fixedChanges(base(), next); len(got) != 0 {
		t.Fatalf("policy and hook changes need no restart, got %v", got)
	}
	next.Gossip.BindPort = 8000
	next.Groups[0].Nodes = []string{"a", "b", "c"}
	next.Replacement.MaxPerHour = 9
	got := fixedChanges(base(), next)
	for _, want := range []string{"gossip", "groups[web]", "replacement"} {
		if !slices.Contains(got, want) {
			t.Errorf("fixedChanges = %v, want %s named", got, want)
		}
	}

	// The reloadable part is applied even when other keys need a
	// restart; those keep their running values.
	cur := base()
	merged, applied := mergeReloadable(cur, next)
	if merged.Cluster.SettleTime != 9*time.Second || merged.Groups[0].Hooks.Start.Command != "systemctl start haproxy" || !merged.Groups[0].Failback {
		t.Errorf("reloadable values not applied: settle %s, hooks %+v, failback %v", merged.Cluster.SettleTime, merged.Groups[0].Hooks, merged.Groups[0].Failback)
	}
	if merged.Gossip.BindPort != cur.Gossip.BindPort || len(merged.Groups[0].Nodes) != 2 || merged.Replacement.MaxPerHour != cur.Replacement.MaxPerHour {
		t.Errorf("keys that need a restart were changed by reload: port %d, nodes %v, max_per_hour %d", merged.Gossip.BindPort, merged.Groups[0].Nodes, merged.Replacement.MaxPerHour)
	}
	if want := []string{"cluster.settle_time", "groups[web].hooks", "groups[web].failback"}; !slices.Equal(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	if cur.Cluster.SettleTime == 9*time.Second || cur.Groups[0].Failback {
		t.Error("mergeReloadable changed the running configuration in place")
	}
	if _, applied := mergeReloadable(base(), base()); len(applied) != 0 {
		t.Errorf("an unchanged file applied %v", applied)
	}

	next = base()
	next.Groups = append(next.Groups, config.Group{Name: "db"})
	if got := fixedChanges(base(), next); len(got) != 1 || got[0] != "groups (added or removed)" {
		t.Fatalf("an added group: %v", got)
	}
}
