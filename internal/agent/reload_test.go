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
	got := fixedChanges(base(), next)
	if !slices.Contains(got, "gossip") || !slices.Contains(got, "groups[web]") {
		t.Fatalf("fixedChanges = %v, want gossip and groups[web] named", got)
	}
	next = base()
	next.Groups = append(next.Groups, config.Group{Name: "db"})
	if got := fixedChanges(base(), next); len(got) != 1 || got[0] != "groups (added or removed)" {
		t.Fatalf("an added group: %v", got)
	}
}
