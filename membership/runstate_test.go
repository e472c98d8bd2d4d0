package membership

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRunStateReachesEveryMemberAndOutlivesTheNode(t *testing.T) {
	c := fastCluster(t, 3)
	c.base.Meta = Meta{InstanceID: "i-a", Groups: []string{"web", "db"}}
	c.startN("a", "b", "c")
	for _, n := range c.nodes {
		sees(t, n, alive("a", "b", "c"))
	}
	a, b := c.nodes["a"], c.nodes["b"]
	meta := Meta{InstanceID: "i-a", Groups: []string{"web", "db"}, Running: []string{"web"}, Failures: map[string]int{"db": 2}}
	if err := a.UpdateMeta(meta, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(waitTimeout)
	for got := false; !got; {
		select {
		case e := <-b.Events():
			got = e.Type == EventUpdate && e.Node.Name == "a" && slices.Equal(e.Node.Meta.Running, []string{"web"})
		case <-timeout:
			t.Fatalf("b got no update event for a's run state; view %+v", b.View())
		}
	}
	for _, n := range []*Node{b, c.nodes["c"]} {
		eventually(t, n.Name()+" to see a's run state", func() (bool, string) {
			m, _ := n.View().Member("a")
			return slices.Equal(m.Meta.Running, []string{"web"}) && m.Meta.Failures["db"] == 2 && m.Meta.InstanceID == "i-a", strings.Join(m.Meta.Running, ",")
		})
	}

	// Too much run state for memberlist's node meta is refused and changes nothing.
	big := meta
	big.Failures = map[string]int{}
	for i := range 100 {
		big.Failures[strings.Repeat("g", 10)+string(rune('a'+i%26))+string(rune('a'+i/26))] = i
	}
	if err := a.UpdateMeta(big, time.Second); err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Fatalf("oversized meta: %v", err)
	}

	// A crashed node's last run state stays readable.
	c.crash("a")
	sees(t, b, map[string]State{"a": StateDead})
	m, _ := b.View().Member("a")
	if !slices.Equal(m.Meta.Running, []string{"web"}) || m.Meta.Failures["db"] != 2 {
		t.Fatalf("dead a as b sees it: %+v", m)
	}
}

func TestReplacementTakesOverADeadMembersName(t *testing.T) {
	c := fastCluster(t, 3)
	c.base.Meta = Meta{InstanceID: "i-old"}
	c.startN("a", "b", "c")
	for _, n := range c.nodes {
		sees(t, n, alive("a", "b", "c"))
	}
	a := c.nodes["a"]
	old, _ := a.View().Member("b")
	c.crash("b")
	waitEvent(t, a, EventFailed, "b")
	// The replacement's launch takes at least this long in EC2; joining
	// sooner is refused by memberlist and only heals at a push/pull.
	time.Sleep(a.Timing().deadNodeReclaimTime())

	// The new life's boot incarnation is smaller than the old one's (a
	// clock behind): the new address must win regardless.
	c.base.Meta = Meta{InstanceID: "i-new"}
	c.base.bootIncarnation = 1
	nb := c.replace("b")
	if nb.Addr() == old.Addr {
		t.Fatalf("replacement reused the address %s", old.Addr)
	}
	// Memberlist forgets a dead member after GossipToTheDeadTime (30s) and
	// then lets anyone take the name; the reclaim time must let the
	// replacement in well before that.
	var e Event
	timeout := time.After(20 * time.Second)
	for e.Type != EventRecovered || e.Node.Name != "b" {
		select {
		case e = <-a.Events():
		case <-timeout:
			t.Fatalf("a did not take the replacement in within 20s: %s", states(a.View()))
		}
	}
	if e.Node.Meta.InstanceID != "i-new" || e.Node.Addr != nb.Addr() || e.Node.Incarnation != 1 || !strings.Contains(e.Reason, "replaced") {
		t.Fatalf("recovered event for the replacement: %+v (%s)", e.Node, e.Reason)
	}
	for _, n := range c.nodes {
		sees(t, n, alive("a", "b", "c"))
		eventually(t, n.Name()+" to see the new b", func() (bool, string) {
			m, _ := n.View().Member("b")
			return m.Meta.InstanceID == "i-new" && m.Addr == nb.Addr(), m.Meta.InstanceID + " " + m.Addr
		})
	}
}
