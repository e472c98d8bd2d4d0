//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/e2e/netbed"
	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/demo"
)

// recover is how long a cluster may take to be whole and serving again
// after a fault: detection, settle, fence, moves, a replacement's boot
// and join, on a loaded two-core machine.
const recoverWithin = 90 * time.Second

// fault is one scenario's fault being played out on a cluster: what was
// done, to which instances, from when, for the checks and the report.
type fault struct {
	c       *cluster
	at      time.Time
	victim  *machine             // the node the fault is about, if any
	faulted map[string]time.Time // instance -> when the fault hit it
}

func (c *cluster) begin(victim *machine) *fault {
	f := &fault{c: c, at: time.Now(), victim: victim, faulted: map[string]time.Time{}}
	if victim != nil {
		f.faulted[victim.instanceID] = f.at
	}
	return f
}

// crash is a machine dying at once: every process on it is killed, and
// its IMDS and status checks stop answering, while the EC2 API still
// shows it running until it is fenced.
func (f *fault) crash(m *machine) {
	f.faulted[m.instanceID] = time.Now()
	if err := f.c.sim.Sim.SetMachineGone(m.instanceID, true); err != nil {
		f.c.t.Fatal(err)
	}
}

// isolate cuts m off from every other machine of the cluster, in both
// directions; the client and EC2 still reach it.
func (f *fault) isolate(m *machine) {
	f.faulted[m.instanceID] = time.Now()
	if err := m.host.Isolate(f.c.others(m)...); err != nil {
		f.c.t.Fatal(err)
	}
}

func (c *cluster) others(m *machine) []*netbed.Host {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*netbed.Host
	for _, o := range c.machines {
		if o != m {
			out = append(out, o.host)
		}
	}
	return out
}

// owned returns the machine running the group, failing the test if none.
func (c *cluster) owned() *machine {
	c.t.Helper()
	owner := c.owner()
	m := c.machineOf(owner)
	if m == nil {
		c.t.Fatalf("no machine runs the group (owner %q)", owner)
	}
	return m
}

// standby returns a running machine that does not run the group.
func (c *cluster) standby() *machine {
	c.t.Helper()
	owner := c.owner()
	for _, n := range c.w.Nodes {
		if n.Name != owner {
			if m := c.machineOf(n.Name); m != nil {
				return m
			}
		}
	}
	c.t.Fatal("no standby node")
	return nil
}

// check applies the invariants to everything observed since the fault
// and records the scenario's row in the report.
func (f *fault) check(name string) row {
	c := f.c
	c.t.Helper()
	all := c.obs.all()
	w := c.obs.since(f.at)
	r := row{scenario: name, downtime: w.downtime(), answered: w.answered()}
	var problems []string
	problems = append(problems, all.splitBrain()...)
	problems = append(problems, all.movesBeforeFence(f.faulted, c.enis())...)
	if f.victim != nil {
		v := f.victim.instanceID
		if at, ok := f.detected(); ok {
			r.detection = at.Sub(f.at)
		}
		req, okReq := w.firstSim(func(e ec2sim.Event) bool {
			return e.Type == ec2sim.EventState && e.InstanceID == v && (e.State == "stopping" || e.State == "shutting-down")
		})
		done, okDone := w.firstSim(func(e ec2sim.Event) bool {
			return e.Type == ec2sim.EventState && e.InstanceID == v && (e.State == "stopped" || e.State == "terminated")
		})
		if okReq && okDone {
			r.fence = done.Sub(req)
			if moved, ok := w.lastSim(func(e ec2sim.Event) bool {
				return e.Type == ec2sim.EventAddress && e.InstanceID != "" && e.InstanceID != v ||
					e.Type == ec2sim.EventPrivateIP && e.PrivateIP == serviceIP.String() && e.InstanceID != "" && e.InstanceID != v
			}); ok && moved.After(done) {
				r.move = moved.Sub(done)
			}
		}
	}
	for _, p := range problems {
		c.t.Errorf("invariant broken: %s", p)
	}
	r.ok = len(problems) == 0 && !c.t.Failed()
	record(r)
	return r
}

// detected is when the first surviving agent recorded the victim failed.
func (f *fault) detected() (time.Time, bool) {
	var first time.Time
	for _, e := range f.c.history() {
		if e.Kind == "member-failed" && e.Node == f.victim.node && e.Time.After(f.at) && (first.IsZero() || e.Time.Before(first)) {
			first = e.Time
		}
	}
	return first, !first.IsZero()
}

// history is every live agent's history, one after the other: a
// replacement's starts at its boot, so no single agent has all of it.
func (c *cluster) history() []api.Event {
	var all []api.Event
	for _, n := range c.w.Nodes {
		m := c.machineOf(n.Name)
		if m == nil || !m.agentAlive() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		events, err := api.NewClient(demo.Layout{Dir: c.dir}.Socket(n.Name), "").History(ctx, 0, 1000)
		cancel()
		if err == nil {
			all = append(all, events...)
		}
	}
	return all
}

// fences counts the running instances EC2 stopped or terminated since t
// (terminating an instance fenced earlier, once its replacement runs, is
// not a fence).
func (c *cluster) fences(since time.Time) int {
	n := 0
	for _, r := range c.obs.since(since).sim {
		if r.Type == ec2sim.EventState && r.PreviousState == "running" && (r.State == "stopping" || r.State == "shutting-down") {
			n++
		}
	}
	return n
}

// moves counts the group's address moves EC2 made since t.
func (c *cluster) moves(since time.Time) int {
	n := 0
	for _, r := range c.obs.since(since).sim {
		if r.Type == ec2sim.EventAddress || r.Type == ec2sim.EventPrivateIP && r.PrivateIP == serviceIP.String() {
			n++
		}
	}
	return n
}

func TestCrashOfTheActive(t *testing.T) {
	c := newCluster(t, spec{nodes: 3})
	victim := c.owned()
	f := c.begin(victim)
	f.crash(victim)
	c.recovers(recoverWithin, victim)
	c.requireFencedAndReplaced(victim)
	f.check("crash of the active")
}

func TestCrashOfAStandby(t *testing.T) {
	c := newCluster(t, spec{nodes: 3})
	owner := c.owner()
	victim := c.standby()
	f := c.begin(victim)
	f.crash(victim)
	c.recovers(recoverWithin, victim)
	c.requireFencedAndReplaced(victim)
	if got := c.owner(); got != owner {
		t.Errorf("the group moved from %s to %s after a standby crashed", owner, got)
	}
	if n := c.moves(f.at); n != 0 {
		t.Errorf("%d address moves after a standby crashed, want none", n)
	}
	r := f.check("crash of a standby")
	if r.downtime > time.Second {
		t.Errorf("the service was down %s while a standby crashed", r.downtime)
	}
}

// The group runs on node-3 while node-1 coordinates; node-1 dies just
// after it asked EC2 to fence node-3, and node-2 must finish the job
// from what EC2 shows. Five nodes, so that three survivors keep quorum.
func TestCrashOfTheCoordinatorDuringAFailover(t *testing.T) {
	c := newCluster(t, spec{nodes: 5, priority: []int{3, 1, 2, 4, 5}})
	victim := c.owned()
	st, err := c.status()
	if err != nil {
		t.Fatal(err)
	}
	coordinator := c.machineOf(st.Coordinator)
	if coordinator == nil || coordinator == victim {
		t.Fatalf("want a coordinator other than the active %s, have %q", victim.node, st.Coordinator)
	}
	f := c.begin(victim)
	f.crash(victim)
	c.eventually(30*time.Second, "EC2 to receive the fence of "+victim.node, func() bool {
		return c.leftRunning(victim.instanceID)
	})
	f.crash(coordinator)
	c.recovers(2*recoverWithin, victim, coordinator)
	c.requireFencedAndReplaced(victim)
	c.requireFencedAndReplaced(coordinator)
	f.check("crash of the coordinator during a failover")
}

// The active node is cut off from its peers but not from its clients.
// It loses quorum and must stop serving by itself; the majority fences
// it and takes over. EC2 answers StopInstances slowly here, so the
// isolated node's own stop (after half a second without quorum) is seen
// before the fence takes its machine. The latency stays below the
// agents' per-call timeout (2 s).
func TestPartitionIsolatingTheActive(t *testing.T) {
	c := newCluster(t, spec{nodes: 3, tweak: func(cfg *config.Config) { cfg.Cluster.NoQuorumStopAfter = 500 * time.Millisecond }})
	victim := c.owned()
	if err := c.sim.Sim.SetFaults(ec2sim.Faults{Latency: map[string]time.Duration{"StopInstances": 1500 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	f := c.begin(victim)
	f.isolate(victim)
	c.recovers(recoverWithin, victim)
	c.requireFencedAndReplaced(victim)
	_ = c.sim.Sim.SetFaults(ec2sim.Faults{})

	// The isolated node answered 503 (its stop hook ran) and dropped the
	// service address before EC2 stopped its instance.
	w := c.obs.since(f.at)
	stopping, ok := w.firstSim(func(e ec2sim.Event) bool {
		return e.Type == ec2sim.EventState && e.InstanceID == victim.instanceID && e.State == "stopping"
	})
	if !ok {
		t.Fatal("EC2 never stopped the isolated node")
	}
	stoppedServing := false
	for _, tk := range w.ticks {
		a, probed := tk.Answers["node/"+victim.instanceID]
		if tk.At.Before(stopping) && probed && a.Code == http.StatusServiceUnavailable {
			stoppedServing = true
		}
	}
	if !stoppedServing {
		t.Errorf("the isolated node %s kept serving until EC2 stopped it", victim.node)
	}
	f.check("partition isolating the active")
}

// A 2|2 split of four nodes: neither side has a majority, so nobody
// fences or moves anything, and the active stops serving (no-quorum
// policy stop). After the split heals the group runs again.
func TestSplitWithoutMajority(t *testing.T) {
	c := newCluster(t, spec{nodes: 4})
	f := c.begin(nil)
	var left, right []*machine
	for i, n := range c.w.Nodes {
		if i < 2 {
			left = append(left, c.machineOf(n.Name))
		} else {
			right = append(right, c.machineOf(n.Name))
		}
	}
	for _, m := range left {
		if err := m.host.Isolate(right[0].host, right[1].host); err != nil {
			t.Fatal(err)
		}
	}
	c.eventually(30*time.Second, "every agent to lose quorum", func() bool {
		for _, n := range c.w.Nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := api.NewClient(demo.Layout{Dir: c.dir}.Socket(n.Name), "").Status(ctx)
			cancel()
			if err != nil || st.Quorum.Quorate {
				return false
			}
		}
		return true
	})
	c.eventually(30*time.Second, "the active to stop serving without quorum", func() bool {
		return c.obs.lastServiceAnswer() == ""
	})
	time.Sleep(5 * time.Second) // long past detection and settle: time to act, if anyone would
	if n := c.fences(f.at); n != 0 {
		t.Errorf("%d fences during a split without majority", n)
	}
	if n := c.moves(f.at); n != 0 {
		t.Errorf("%d address moves during a split without majority", n)
	}
	for _, m := range left {
		_ = m.host.Heal()
	}
	c.waitStable(recoverWithin)
	f.check("2|2 split, no majority")
}

// A link that flaps faster than failure detection must not cause a
// failover.
func TestFlappingLink(t *testing.T) {
	c := newCluster(t, spec{nodes: 3})
	victim := c.owned()
	f := c.begin(nil)
	for range 8 {
		if err := victim.host.Isolate(c.others(victim)...); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		_ = victim.host.Heal()
		time.Sleep(700 * time.Millisecond)
	}
	c.waitStable(recoverWithin)
	if n := c.fences(f.at); n != 0 {
		t.Errorf("%d fences from a link flapping for 300 ms at a time", n)
	}
	f.check("flapping link (8 × 300 ms)")
}

func TestPacketLoss(t *testing.T) {
	for _, tc := range []struct {
		percent     int
		noFailovers bool
	}{{1, true}, {10, false}} {
		t.Run(fmt.Sprintf("%d%%", tc.percent), func(t *testing.T) {
			c := newCluster(t, spec{nodes: 3})
			f := c.begin(nil)
			c.mu.Lock()
			hosts := []*netbed.Host{}
			for _, m := range c.machines {
				hosts = append(hosts, m.host)
			}
			c.mu.Unlock()
			for _, h := range hosts {
				if err := h.Lose(tc.percent); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(15 * time.Second)
			for _, h := range hosts {
				_ = h.Heal()
			}
			if n := c.fences(f.at); tc.noFailovers && n != 0 {
				t.Errorf("%d fences at %d%% packet loss: false failovers", n, tc.percent)
			}
			c.waitStable(recoverWithin)
			r := f.check(fmt.Sprintf("%d%% packet loss for 15 s", tc.percent))
			if tc.noFailovers && r.downtime > time.Second {
				t.Errorf("the service was down %s at %d%% packet loss", r.downtime, tc.percent)
			}
		})
	}
}

// EC2 throttles beyond 5 requests a second (a token bucket of 10, as its
// request rate limiting does) and fails a tenth of all calls with 500
// while the cluster fails over: the SDK's adaptive retries and the
// executor's level-triggered steps must still get there.
func TestThrottlingAnd5xxDuringAFailover(t *testing.T) {
	c := newCluster(t, spec{nodes: 3})
	victim := c.owned()
	if err := c.sim.Sim.SetFaults(ec2sim.Faults{Bucket: &ec2sim.TokenBucket{Rate: 5, Burst: 10}, InternalErrorRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	f := c.begin(victim)
	f.crash(victim)
	c.eventually(recoverWithin, "the group to move off "+victim.node, func() bool {
		o := c.owner()
		return o != "" && o != victim.node && c.obs.lastServiceAnswer() == o
	})
	_ = c.sim.Sim.SetFaults(ec2sim.Faults{})
	c.recovers(recoverWithin, victim)
	c.requireFencedAndReplaced(victim)
	f.check("EC2 throttling (5 requests/s, burst 10) and 5xx (10%) during a failover")
}

// RunInstances is refused (as a missing IAM permission would be): the
// group still moves, the failure is in the history, and nothing is
// launched; an operator then launches the replacement by hand and it
// joins by itself.
func TestReplacementLaunchFails(t *testing.T) {
	c := newCluster(t, spec{nodes: 3})
	victim := c.owned()
	if err := c.sim.Sim.SetFaults(ec2sim.Faults{Deny: []string{"RunInstances"}}); err != nil {
		t.Fatal(err)
	}
	f := c.begin(victim)
	f.crash(victim)
	c.eventually(recoverWithin, "the group to move and a failed replacement in the history", func() bool {
		o := c.owner()
		if o == "" || o == victim.node || c.obs.lastServiceAnswer() != o {
			return false
		}
		for _, e := range c.history() {
			if e.Kind == "replace" && e.Outcome == api.OutcomeFailed && e.Time.After(f.at) {
				return true
			}
		}
		return false
	})
	if _, launched := c.obs.since(f.at).firstSim(func(e ec2sim.Event) bool { return e.Type == ec2sim.EventLaunch }); launched {
		t.Error("an instance was launched while RunInstances was refused")
	}
	_ = c.sim.Sim.SetFaults(ec2sim.Faults{})
	if err := c.launch(victim.node); err != nil {
		t.Fatal(err)
	}
	c.eventually(recoverWithin, "the operator's instance to boot", func() bool {
		m := c.machineOf(victim.node)
		return m != nil && m.instanceID != victim.instanceID
	})
	c.waitStable(recoverWithin)
	f.check("replacement launch refused (operator relaunches)")
}

// Two nodes in two-node mode lose each other: both are quorate, and the
// fencing delay lets the active win the race. Exactly one survives.
func TestTwoNodePartition(t *testing.T) {
	c := newCluster(t, spec{nodes: 2, tweak: func(cfg *config.Config) {
		cfg.Cluster.TwoNode = true
		cfg.Cluster.TwoNodeFencingDelay = 3 * time.Second
	}})
	active, passive := c.owned(), c.standby()
	f := c.begin(passive)
	f.faulted[active.instanceID] = f.at
	if err := active.host.Isolate(passive.host); err != nil {
		t.Fatal(err)
	}
	c.recovers(recoverWithin, passive)
	if s := c.instanceState(active.instanceID); s != "running" {
		t.Errorf("the active %s is %s: the fencing delay should have let it win", active.node, s)
	}
	c.requireFencedAndReplaced(passive)
	if got := c.owner(); got != active.node {
		t.Errorf("the group runs on %s, want it to stay on the surviving active %s", got, active.node)
	}
	f.check("two-node mode partition")
}

// Every agent is restarted in turn (SIGTERM, then started again), as a
// package upgrade does: nothing is fenced, and the group is handed over
// rather than lost.
func TestRollingRestart(t *testing.T) {
	c := newCluster(t, spec{nodes: 3})
	f := c.begin(nil)
	for _, n := range c.w.Nodes {
		c.restartAgent(n.Name)
		c.waitStable(recoverWithin)
	}
	if n := c.fences(f.at); n != 0 {
		t.Errorf("%d fences during a rolling restart", n)
	}
	f.check("rolling restart of every agent")
}

// recovers waits until EC2 has fenced each of the machines and the
// cluster is whole and serving again.
func (c *cluster) recovers(d time.Duration, fenced ...*machine) {
	c.t.Helper()
	for _, m := range fenced {
		c.eventually(d, "EC2 to fence "+m.node+" ("+m.instanceID+")", func() bool { return c.reached(m.instanceID, "stopped", "terminated") })
	}
	c.waitStable(d)
}

// reached reports whether the simulator has reported the instance in one
// of the states. The waits read the event log rather than asking EC2, so
// they take nothing from a throttled API's budget.
func (c *cluster) reached(id string, states ...string) bool {
	_, ok := c.obs.all().firstSim(func(e ec2sim.Event) bool {
		return e.Type == ec2sim.EventState && e.InstanceID == id && slices.Contains(states, e.State)
	})
	return ok
}

// leftRunning reports whether a fence (or any stop) of the instance began.
func (c *cluster) leftRunning(id string) bool {
	return c.reached(id, "stopping", "shutting-down", "stopped", "terminated")
}

// requireFencedAndReplaced checks that EC2 fenced m's instance and that
// another instance runs its node now.
func (c *cluster) requireFencedAndReplaced(m *machine) {
	c.t.Helper()
	// Fenced once EC2 showed it stopped (or terminated): afterwards it may
	// be shutting down, once its replacement runs.
	if !c.reached(m.instanceID, "stopped", "terminated") {
		c.t.Errorf("%s's instance %s is %s and was never stopped: want fenced", m.node, m.instanceID, c.instanceState(m.instanceID))
	}
	now := c.machineOf(m.node)
	if now == nil || now.instanceID == m.instanceID {
		c.t.Errorf("%s was not replaced", m.node)
	}
}

// restartAgent stops a node's agent with SIGTERM and starts it again on
// the same machine.
func (c *cluster) restartAgent(node string) {
	c.t.Helper()
	m := c.machineOf(node)
	if m == nil || !m.agentAlive() {
		c.t.Fatalf("%s has no machine with a running agent", node)
	}
	if !m.agent.Load().Stop(90 * time.Second) {
		c.t.Errorf("%s's agent did not exit on SIGTERM", node)
	}
	if err := c.startAgent(m); err != nil {
		c.t.Fatal(err)
	}
}
