package membership

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// freePort finds a port free for both TCP and UDP on loopback.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// loopbackNode starts a node on real UDP/TCP sockets on 127.0.0.1.
func loopbackNode(t *testing.T, name, cluster string, key []byte, logs *logBuf, join ...string) *Node {
	t.Helper()
	port := freePort(t)
	cfg := Config{
		ClusterName: cluster, NodeName: name,
		BindAddr: "127.0.0.1", BindPort: port, AdvertiseAddr: "127.0.0.1",
		Keys: [][]byte{key}, Join: join, Logger: logs.logger(),
		JoinBackoff: 100 * time.Millisecond, JoinMaxBackoff: time.Second,
		Quorum: QuorumPolicy{ExpectedVotes: 3},
	}
	n, err := Start(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	return n
}

func TestLoopbackCrashDetectedAndQuorumKept(t *testing.T) {
	var logs logBuf
	a := loopbackNode(t, "a", "prod", testKey, &logs)
	b := loopbackNode(t, "b", "prod", testKey, &logs, a.Addr())
	c := loopbackNode(t, "c", "prod", testKey, &logs, a.Addr())
	sees(t, a, alive("a", "b", "c"))
	sees(t, c, alive("a", "b", "c"))
	if q := a.Quorum(); q.State != Quorate || q.Votes != 3 {
		t.Fatalf("full cluster: %+v", q)
	}

	crashed := time.Now()
	_ = b.Shutdown()
	e := waitEvent(t, a, EventFailed, "b")
	// Timing is reported, not asserted (slow shared machine, -race);
	// BenchmarkDetection measures it properly.
	t.Logf("crash detected after %v; fast profile bound for 3 nodes %v", time.Since(crashed), a.Timing().DetectionBound(3))
	if e.Node.State != StateDead || e.Reason == "" {
		t.Fatalf("failed event: %+v", e)
	}
	sees(t, c, map[string]State{"b": StateDead})
	if q := a.Quorum(); q.State != Quorate || q.Votes != 2 {
		t.Fatalf("2 of 3 should stay quorate: %+v", q)
	}
}

func TestWrongKeyOrLabelNeverJoins(t *testing.T) {
	for _, tt := range []struct {
		name, cluster string
		key           []byte
	}{
		{"wrong key", "prod", []byte("0123456789abcdef0123456789abcdef")},
		{"wrong cluster label", "other", testKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var goodLogs, badLogs logBuf
			a := loopbackNode(t, "a", "prod", testKey, &goodLogs)
			b := loopbackNode(t, "b", "prod", testKey, &goodLogs, a.Addr())
			sees(t, a, alive("a", "b"))
			x := loopbackNode(t, "x", tt.cluster, tt.key, &badLogs, a.Addr())
			eventually(t, "the rejection to be logged", func() (bool, string) {
				return strings.Contains(goodLogs.String(), "gossip rejected") && a.Stats().Rejected > 0, goodLogs.String()
			})
			// Let the intruder retry its join several times; each attempt
			// is rejected again, and it must stay out.
			rejectedMore(t, a, 3)
			for _, n := range []*Node{a, b} {
				if _, ok := n.View().Member("x"); ok {
					t.Fatalf("%s let x in: %s", n.Name(), states(n.View()))
				}
			}
			if v := x.View(); len(v.Members) != 1 {
				t.Fatalf("x sees %s", states(v))
			}
			if strings.Contains(goodLogs.String(), string(tt.key)) || strings.Contains(badLogs.String(), string(testKey)) {
				t.Fatal("a key appeared in the logs")
			}
		})
	}
}

// rejectedMore waits until n has rejected k more packets or streams than
// it had when called: evidence that an intruder's join attempts kept
// arriving and kept being refused, without guessing how long they take.
func rejectedMore(t *testing.T, n *Node, k uint64) {
	t.Helper()
	base := n.Stats().Rejected
	eventually(t, fmt.Sprintf("%s to reject %d more attempts", n.Name(), k), func() (bool, string) {
		got := n.Stats().Rejected - base
		return got >= k, fmt.Sprintf("%d rejected", got)
	})
}

func fastCluster(t *testing.T, expected int) *cluster {
	if os.Getenv("MEMBERSHIP_DEBUG") != "" {
		return newCluster(t, Config{Profile: "fast", Quorum: QuorumPolicy{ExpectedVotes: expected}, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	}
	return newCluster(t, Config{Profile: "fast", Quorum: QuorumPolicy{ExpectedVotes: expected}})
}

func TestPartition2Of5HasNoQuorum3Has(t *testing.T) {
	c := fastCluster(t, 5)
	c.startN("a", "b", "c", "d", "e")
	for _, n := range c.nodes {
		sees(t, n, alive("a", "b", "c", "d", "e"))
	}
	c.net.Partition([]string{c.addrs["a"], c.addrs["b"]}, []string{c.addrs["c"], c.addrs["d"], c.addrs["e"]})
	dead := func(names ...string) map[string]State {
		m := map[string]State{}
		for _, n := range names {
			m[n] = StateDead
		}
		return m
	}
	for _, n := range []string{"a", "b"} {
		sees(t, c.nodes[n], dead("c", "d", "e"))
		if q := c.nodes[n].Quorum(); q.Has() {
			t.Fatalf("minority node %s is quorate: %+v", n, q)
		}
	}
	for _, n := range []string{"c", "d", "e"} {
		sees(t, c.nodes[n], dead("a", "b"))
		if q := c.nodes[n].Quorum(); q.State != Quorate || q.Votes != 3 {
			t.Fatalf("majority node %s: %+v", n, q)
		}
	}
	// After healing, the join loop notices nodes are alone... the sides
	// merge again through rejoin and everyone is quorate.
	c.net.Heal()
	for _, n := range c.nodes {
		sees(t, n, alive("a", "b", "c", "d", "e"))
	}
}

func TestPartition2Of4NeitherSide(t *testing.T) {
	c := fastCluster(t, 4)
	c.startN("a", "b", "c", "d")
	for _, n := range c.nodes {
		sees(t, n, alive("a", "b", "c", "d"))
	}
	c.net.Partition([]string{c.addrs["a"], c.addrs["b"]}, []string{c.addrs["c"], c.addrs["d"]})
	// Every node, not just one per side, must have seen the split before
	// its quorum is checked: d may declare a and b dead after c did.
	for _, n := range []string{"a", "b"} {
		sees(t, c.nodes[n], map[string]State{"c": StateDead, "d": StateDead})
	}
	for _, n := range []string{"c", "d"} {
		sees(t, c.nodes[n], map[string]State{"a": StateDead, "b": StateDead})
	}
	for name, n := range c.nodes {
		if q := n.Quorum(); q.Has() || q.Votes != 2 {
			t.Fatalf("%s in a 2|2 split: %+v", name, q)
		}
	}
}

func TestRestartedNodeRejoinsWithNewIncarnation(t *testing.T) {
	c := fastCluster(t, 3)
	c.startN("a", "b", "c")
	sees(t, c.nodes["a"], alive("a", "b", "c"))
	before, _ := c.nodes["a"].View().Member("c")
	c.crash("c")
	waitEvent(t, c.nodes["a"], EventFailed, "c")
	c.start("c")
	e := waitEvent(t, c.nodes["a"], EventRecovered, "c")
	if e.Node.Incarnation <= before.Incarnation {
		t.Fatalf("incarnation %d after restart, %d before", e.Node.Incarnation, before.Incarnation)
	}
	if e.Reason != "restarted: new incarnation" {
		t.Fatalf("reason %q", e.Reason)
	}
	sees(t, c.nodes["b"], alive("a", "b", "c"))
}

func TestWaitForAllHoldsQuorumUntilAllSeen(t *testing.T) {
	c := newCluster(t, Config{Profile: "fast", Quorum: QuorumPolicy{ExpectedVotes: 3, WaitForAll: true}})
	c.startN("a", "b")
	sees(t, c.nodes["a"], alive("a", "b"))
	if q := c.nodes["a"].Quorum(); q.Has() || !strings.Contains(q.Reason, "wait_for_all") {
		t.Fatalf("2 of 3 before c was ever seen: %+v", q)
	}
	c.start("c")
	sees(t, c.nodes["a"], alive("a", "b", "c"))
	if q := c.nodes["a"].Quorum(); q.State != Quorate {
		t.Fatalf("all seen: %+v", q)
	}
	c.crash("c")
	sees(t, c.nodes["a"], map[string]State{"c": StateDead})
	if q := c.nodes["a"].Quorum(); q.State != Quorate {
		t.Fatalf("after all were seen once, 2 of 3 is quorate: %+v", q)
	}
}

func TestLeaveAndMetadataUpdate(t *testing.T) {
	c := fastCluster(t, 3)
	c.base.Meta = Meta{InstanceID: "i-1", AZ: "eu-west-1a", Groups: []string{"web"}}
	c.startN("a", "b")
	sees(t, c.nodes["a"], alive("a", "b"))
	m, _ := c.nodes["a"].View().Member("b")
	if m.Meta.InstanceID != "i-1" || m.Meta.Groups[0] != "web" || m.Incarnation == 0 {
		t.Fatalf("meta of b as a sees it: %+v", m)
	}
	if err := c.nodes["b"].UpdateMeta(Meta{InstanceID: "i-1", Standby: true}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, c.nodes["a"], EventUpdate, "b")
	if !e.Node.Meta.Standby || e.Node.Incarnation != m.Incarnation {
		t.Fatalf("update event: %+v", e.Node)
	}
	if err := c.nodes["b"].Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	e = waitEvent(t, c.nodes["a"], EventLeave, "b")
	if e.Node.State != StateLeft {
		t.Fatalf("leave event: %+v", e)
	}
}

func TestKeyRotationAcrossTheCluster(t *testing.T) {
	c := fastCluster(t, 3)
	c.startN("a", "b", "c")
	for _, n := range c.nodes {
		sees(t, n, alive("a", "b", "c"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	newKey := []byte("fedcba9876543210fedcba9876543210")
	a := c.nodes["a"]
	steps := []struct {
		name string
		op   func() ([]KeyResult, error)
		keys int
		prim []byte
	}{
		{"install", func() ([]KeyResult, error) { return a.InstallKey(ctx, newKey) }, 2, testKey},
		{"use", func() ([]KeyResult, error) { return c.nodes["b"].UseKey(ctx, newKey) }, 2, newKey},
		{"remove", func() ([]KeyResult, error) { return a.RemoveKey(ctx, testKey) }, 1, newKey},
		{"list", func() ([]KeyResult, error) { return c.nodes["c"].ListKeys(ctx) }, 1, newKey},
	}
	for _, s := range steps {
		res, err := s.op()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if len(res) != 3 {
			t.Fatalf("%s: %d confirmations: %+v", s.name, len(res), res)
		}
		for _, r := range res {
			if len(r.Keys) != s.keys || r.Primary != KeyFingerprint(s.prim) {
				t.Fatalf("%s on %s: %+v", s.name, r.Node, r)
			}
		}
	}
	// The cluster still works on the new key, and removing the primary is refused.
	c.crash("c")
	sees(t, a, map[string]State{"c": StateDead})
	if _, err := a.RemoveKey(ctx, newKey); err == nil {
		t.Fatal("removing the primary key was accepted")
	}
	// A node holding only the old key cannot join any more.
	c.base.Keys = [][]byte{testKey}
	c.start("old")
	rejectedMore(t, a, 3)
	if _, ok := a.View().Member("old"); ok {
		t.Fatal("a node with the removed key joined")
	}
}

func TestMetricsReflectTheView(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := fastCluster(t, 3)
	c.startN("a", "b")
	c.base.Registerer = reg
	c.start("c")
	sees(t, c.nodes["c"], alive("a", "b", "c"))
	c.crash("b")
	sees(t, c.nodes["c"], map[string]State{"b": StateDead})
	want := `
# HELP ec2ha_membership_members Members of the view by state.
# TYPE ec2ha_membership_members gauge
ec2ha_membership_members{state="alive"} 2
ec2ha_membership_members{state="dead"} 1
ec2ha_membership_members{state="left"} 0
ec2ha_membership_members{state="suspect"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ec2ha_membership_members"); err != nil {
		t.Fatal(err)
	}
	st := c.nodes["c"].Stats()
	if st.SentBytes == 0 || st.ReceivedBytes == 0 {
		t.Fatalf("no gossip bytes counted: %+v", st)
	}
	if n, err := testutil.GatherAndCount(reg, "ec2ha_membership_gossip_bytes_total", "ec2ha_membership_probe_failures_total", "ec2ha_membership_suspicions_total"); err != nil || n != 4 {
		t.Fatalf("gathered %d series: %v", n, err)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{NodeName: "a", Keys: [][]byte{testKey}}, "ClusterName"},
		{Config{ClusterName: "c", Keys: [][]byte{testKey}}, "NodeName"},
		{Config{ClusterName: "c", NodeName: "a"}, "ec2ha keygen"},
		{Config{ClusterName: "c", NodeName: "a", Keys: [][]byte{[]byte("short")}}, "16, 24 or 32"},
		{Config{ClusterName: "c", NodeName: "a", Insecure: true, Profile: "moon"}, "profile \"moon\""},
		{Config{ClusterName: "c", NodeName: "a", Insecure: true, Timing: Timing{ProbeTimeout: 2 * time.Second}}, "probe timeout"},
		{Config{ClusterName: "c", NodeName: "a", Insecure: true, Quorum: QuorumPolicy{TwoNode: true, ExpectedVotes: 3}}, "two_node"},
		{Config{ClusterName: "c", NodeName: "a", Insecure: true, Meta: Meta{Groups: []string{strings.Repeat("g", 600)}}}, "metadata"},
	} {
		_, err := Start(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Start(%+v) = %v, want an error mentioning %q", tt.cfg, err, tt.want)
		}
	}
}

func TestProfilesAndOverrides(t *testing.T) {
	fast, err := ResolveTiming("fast", Timing{})
	if err != nil {
		t.Fatal(err)
	}
	if d := fast.ExpectedDetection(3); d >= 2*time.Second {
		t.Fatalf("fast profile expects %v for 3 nodes; the goal is under 2s", d)
	}
	lan, _ := ResolveTiming("lan", Timing{SuspicionMult: 5})
	if lan.ProbeInterval != time.Second || lan.SuspicionMult != 5 {
		t.Fatalf("lan with override: %+v", lan)
	}
	// The documented table: n=100 doubles the minimum suspicion of n=10.
	if got, want := lan.minSuspicion(100), 2*lan.minSuspicion(10); got != want {
		t.Fatalf("suspicion at 100 nodes %v, want %v", got, want)
	}
	if lan.DetectionBound(10) <= lan.ExpectedDetection(10) {
		t.Fatal("bound below the expectation")
	}
}

// Heard says when anything last came from a peer: it keeps advancing for
// peers on this side of a partition and stops for those cut off, while
// the view may still show them alive (the engine waits on exactly that).
func TestHeardStopsForPeersCutOff(t *testing.T) {
	c := fastCluster(t, 3)
	c.startN("a", "b", "c")
	for _, n := range c.nodes {
		sees(t, n, alive("a", "b", "c"))
	}
	heard := func(n, peer string) time.Time {
		m, _ := c.nodes[n].View().Member(peer)
		return m.Heard
	}
	if self, _ := c.nodes["a"].View().Member("a"); !self.Heard.IsZero() {
		t.Fatalf("a heard from itself at %v; want zero", self.Heard)
	}
	eventually(t, "a to hear from b and c", func() (bool, string) {
		return !heard("a", "b").IsZero() && !heard("a", "c").IsZero(), fmt.Sprintf("b %v, c %v", heard("a", "b"), heard("a", "c"))
	})
	c.net.Partition([]string{c.addrs["a"]}, []string{c.addrs["b"], c.addrs["c"]})
	cut := time.Now()
	eventually(t, "b to go on hearing from c after the cut", func() (bool, string) {
		return heard("b", "c").After(cut), fmt.Sprintf("b last heard c at %v, cut at %v", heard("b", "c"), cut)
	})
	// Anything a heard from b was sent before the cut (allow for packets
	// already on their way).
	if last := heard("a", "b"); last.After(cut.Add(100 * time.Millisecond)) {
		t.Fatalf("a heard from b at %v, after the partition at %v", last, cut)
	}
}
