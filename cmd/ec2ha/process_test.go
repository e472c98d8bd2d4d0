package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/demo"
)

// The operator's view of a real cluster: three `ec2ha agent` processes on
// 127.0.0.11-13 against the EC2 simulator, each with the demo's
// application and hooks, steered only through the ec2ha binary's operator
// commands, and checked through what those print and what EC2 shows.
//
// The scenario, in order:
//
//  1. every agent answers `status --json` with the same quorate
//     three-member view, web started on node-1, EC2 agreeing;
//     node-3's TCP API wants its bearer token but not for /readyz;
//     SIGHUP on node-3 applies a policy change and names the key that
//     needs a restart;
//  2. `failover web --to node-2 --wait` is a planned switchover: stop on
//     node-1, addresses moved, start on node-2, nothing fenced;
//  3. `standby node-2` moves web away (to node-1), `unstandby` clears it;
//  4. `maintenance on`, then node-1's agent is SIGKILLed: the coordinator
//     says what it would do (fence node-1) but EC2 is left alone; the agent
//     is restarted during the maintenance window, `maintenance off`, and
//     web resumes on node-1 with nothing fenced;
//  5. node-1's agent is SIGKILLed again: the survivors fence its instance
//     (EC2 shows it stopped before any address moves), move web to node-2,
//     and `history` shows member failure, fence, move and start with
//     their reasons;
//  6. node-2's agent gets SIGTERM: it hands web over to node-3 before it
//     exits, and is not fenced.
func TestThreeAgentProcessesUnderTheOperatorsCommands(t *testing.T) {
	c := startProcessCluster(t)
	n1, n2, n3 := c.w.Nodes[0], c.w.Nodes[1], c.w.Nodes[2]

	// 1. A quorate cluster, the same view from every agent.
	c.waitFor("every agent quorate with 3 alive members and web started on one node", func() (bool, string) {
		owner := ""
		for _, n := range c.w.Nodes {
			st, err := c.status(n.Name)
			if err != nil {
				return false, err.Error()
			}
			g := group(st, demo.GroupName)
			if !st.Quorum.Quorate || aliveMembers(st) != 3 || g == nil || g.State != "started" || g.Owner == "" || (owner != "" && g.Owner != owner) {
				return false, fmt.Sprintf("%s: quorate %v, %d alive, web %+v", n.Name, st.Quorum.Quorate, aliveMembers(st), g)
			}
			owner = g.Owner
		}
		return true, ""
	})
	for _, n := range c.w.Nodes {
		st := c.mustStatus(n.Name)
		if st.Node != n.Name || st.Cluster != demo.ClusterName || st.Coordinator != n1.Name {
			t.Errorf("status --json from %s: answered by %q for cluster %q, coordinator %q; want itself, %s, %s", n.Name, st.Node, st.Cluster, st.Coordinator, demo.ClusterName, n1.Name)
		}
		if q := st.Quorum; q.Votes != 3 || q.Expected != 3 || q.Needed != 2 {
			t.Errorf("status --json from %s: quorum %+v, want 3 of 3 votes, 2 needed", n.Name, q)
		}
		for _, want := range c.w.Nodes {
			m := member(st, want.Name)
			if m == nil || m.State != "alive" || m.InstanceID != want.InstanceID || m.Zone != want.AZ || m.InstanceState != "running" {
				t.Errorf("status --json from %s shows %s as %+v; want alive, %s in %s, running", n.Name, want.Name, m, want.InstanceID, want.AZ)
			}
		}
		g := group(st, demo.GroupName)
		if g.Owner != n1.Name {
			t.Errorf("status --json from %s: web on %s, want %s, the first of its nodes", n.Name, g.Owner, n1.Name)
		}
		for _, r := range g.Resources {
			if r.Holder != n1.Name {
				t.Errorf("status --json from %s: %s %s held by %q, want %s", n.Name, r.Kind, r.ID, r.Holder, n1.Name)
			}
		}
	}
	c.wantEC2(n1, "after start-up")
	c.wantServing(n1)
	out := c.ec2haOK("status", "--socket", c.l.Socket(n2.Name))
	t.Logf("$ ec2ha status   (3-node cluster after start-up)\n%s", out)
	for _, want := range []string{"Quorum:  yes, 3 of 3 votes (2 needed)", "Coordinator: node-1", "web: STARTED on node-1", "elastic-ip", "overlay-ip"} {
		if !strings.Contains(out, want) {
			t.Errorf("ec2ha status lacks %q", want)
		}
	}

	// node-3 also serves the API on TCP, with the bearer token from a
	// 0600 file; the probes need no token (load balancers).
	url := "http://" + c.tcpAPI
	if _, err := c.ec2ha("status", "--socket", url); err == nil || !strings.Contains(err.Error(), "bearer token") {
		t.Errorf("status over TCP without the token: %v, want a bearer token error", err)
	}
	if st, err := c.statusAt(url, "--token-file", c.l.Dir+"/api.token"); err != nil || st.Node != n3.Name || !st.Quorum.Quorate {
		t.Errorf("status --json over TCP with the token: %+v %v", st.Quorum, err)
	}
	if resp, err := http.Get(url + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz on the TCP API without a token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// SIGHUP applies what it can and names what needs a restart.
	cfg := c.config(n3)
	cfg.Cluster.SettleTime = 700 * time.Millisecond
	cfg.Metrics.Listen = net.JoinHostPort(n3.Addr, "1")
	if err := demo.WriteConfig(c.l.ConfigFile(n3.Name), cfg); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(c.agents[n3.Name].Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	c.waitHistory(n3.Name, "node-3's reload applying settle_time and naming metrics as needing a restart", func(ev []api.Event) bool {
		for _, e := range ev {
			if e.Kind == "reload" && e.Node == n3.Name && strings.Contains(e.Message, "applied cluster.settle_time") && strings.Contains(e.Message, "restart the agent for: metrics") {
				return true
			}
		}
		return false
	})
	if !c.agents[n3.Name].Alive() {
		t.Fatal("node-3's agent exited on SIGHUP")
	}

	// 2. Planned switchover, followed step by step.
	out = c.ec2haOK("failover", demo.GroupName, "--to", n2.Name, "--wait", "--socket", c.l.Socket(n3.Name))
	t.Logf("$ ec2ha failover web --to node-2 --wait\n%s", out)
	for _, want := range []string{"switching web over to node-2", "switchover of web from node-1 to node-2 requested",
		"stopped web on node-1", "moved web's addresses from node-1 to node-2", "started web on node-2", "web moved from node-1 to node-2"} {
		if !strings.Contains(out, want) {
			t.Errorf("failover --wait printed no %q", want)
		}
	}
	// --wait returned: the switchover is over, so EC2 shows it now.
	c.wantEC2(n2, "after failover --wait")
	c.wantServing(n2)
	if s := c.instanceState(n1.InstanceID); s != "running" {
		t.Errorf("a planned switchover left node-1's instance %s: it must stop the group, not fence the node", s)
	}
	c.waitHistory(n3.Name, "the switchover's steps: stop on node-1, move and start on node-2", func(ev []api.Event) bool {
		return hasEvent(ev, "stop", n1.Name, "ok") && hasEvent(ev, "move", n2.Name, "ok") && hasEvent(ev, "start", n2.Name, "ok")
	})

	// 3. Standby moves the group off the node; unstandby clears the mark.
	out = c.ec2haOK("standby", n2.Name, "--socket", c.l.Socket(n1.Name))
	if !strings.Contains(out, "node-2 is in standby") {
		t.Errorf("standby printed %q", out)
	}
	c.waitFor("web leaving node-2 for node-1", func() (bool, string) {
		st, err := c.status(n1.Name)
		if err != nil {
			return false, err.Error()
		}
		g := group(st, demo.GroupName)
		return g.Owner == n1.Name && g.State == "started" && c.eipHolder() == n1.InstanceID, fmt.Sprintf("web %+v, EIP on %s", g, c.eipHolder())
	})
	c.waitHistory(n3.Name, "the standby move's start on node-1 and its failover event", func(ev []api.Event) bool {
		n := 0
		for _, e := range ev {
			if e.Node == n1.Name && e.Outcome == "ok" && (e.Kind == "start" && strings.Contains(e.Message, "(standby)") || e.Kind == "failover" && strings.Contains(e.Message, "from node-2 to node-1")) {
				n++
			}
		}
		return n == 2
	})
	if m := member(c.mustStatus(n3.Name), n2.Name); m == nil || !m.Standby {
		t.Errorf("status shows node-2 as %+v, want standby", m)
	}
	c.wantEC2(n1, "after standby node-2")
	out = c.ec2haOK("unstandby", n2.Name, "--socket", c.l.Socket(n1.Name))
	if !strings.Contains(out, "node-2 is out of standby") {
		t.Errorf("unstandby printed %q", out)
	}
	c.waitFor("node-2 out of standby", func() (bool, string) {
		m := member(c.mustStatus(n1.Name), n2.Name)
		return m != nil && !m.Standby, fmt.Sprintf("%+v", m)
	})

	// 4. Maintenance: a crash is observed and reported, nothing is done.
	out = c.ec2haOK("maintenance", "on", "--socket", c.l.Socket(n2.Name))
	if !strings.Contains(out, "maintenance mode on") {
		t.Errorf("maintenance on printed %q", out)
	}
	if st := c.mustStatus(n3.Name); !st.Maintenance {
		t.Error("status --json does not show maintenance mode after `maintenance on` returned")
	}
	c.crash(n1)
	c.waitHistory(n3.Name, "the coordinator (node-2) saying it would fence node-1 but is in maintenance mode", func(ev []api.Event) bool {
		for _, e := range ev {
			if e.Kind == "decision" && strings.Contains(e.Message, "maintenance mode") && strings.Contains(e.Message, "would fence web "+n1.InstanceID) {
				return true
			}
		}
		return false
	})
	if s := c.instanceState(n1.InstanceID); s != "running" {
		t.Errorf("in maintenance mode node-1's instance was fenced (%s)", s)
	}
	c.wantEC2(n1, "in maintenance mode after node-1's agent crashed")
	out = c.ec2haOK("status", "--socket", c.l.Socket(n2.Name))
	if !strings.Contains(out, "MAINTENANCE MODE") {
		t.Errorf("status in maintenance mode:\n%s", out)
	}
	// The operator restarts the agent within the maintenance window.
	c.startAgent(n1)
	c.waitFor("node-1's restarted agent back in a 3-member quorate view", func() (bool, string) {
		st, err := c.status(n1.Name)
		if err != nil {
			return false, err.Error()
		}
		return st.Quorum.Quorate && aliveMembers(st) == 3, fmt.Sprintf("quorate %v, %d alive", st.Quorum.Quorate, aliveMembers(st))
	})
	c.ec2haOK("maintenance", "off", "--socket", c.l.Socket(n2.Name))
	c.waitFor("web resuming on node-1 where its addresses are", func() (bool, string) {
		g := group(c.mustStatus(n3.Name), demo.GroupName)
		return g.Owner == n1.Name && g.State == "started", fmt.Sprintf("web %+v", g)
	})
	if s := c.instanceState(n1.InstanceID); s != "running" {
		t.Errorf("node-1's instance is %s after maintenance: nothing should have been fenced", s)
	}
	c.wantEC2(n1, "after maintenance off")
	for _, e := range c.history(n3.Name) {
		if e.Kind == "fence" {
			t.Errorf("history shows a fence before any failure outside maintenance: %+v", e)
		}
	}

	// 5. A crash: fence, then move, then start, with reasons.
	before := c.history(n3.Name)
	lastSeq := before[len(before)-1].Seq
	var mu sync.Mutex
	var seen []string // EC2's view of the recovery, in order
	stopEvents := c.sim.Sim.OnEvent(func(e ec2sim.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Type {
		case ec2sim.EventState:
			seen = append(seen, "state "+e.InstanceID+" "+e.State)
		case ec2sim.EventAddress:
			seen = append(seen, "address "+e.AllocationID+" "+e.InstanceID)
		case ec2sim.EventRoute:
			seen = append(seen, "route "+e.Destination+" "+e.NetworkInterfaceID)
		}
	})
	defer stopEvents()
	killed := time.Now()
	c.crash(n1)
	c.waitFor("web recovering on node-2: EIP, route and start hook", func() (bool, string) {
		st, err := c.status(n2.Name)
		if err != nil {
			return false, err.Error()
		}
		g := group(st, demo.GroupName)
		return g.Owner == n2.Name && g.State == "started" && c.eipHolder() == n2.InstanceID && c.routeTarget() == n2.ENI,
			fmt.Sprintf("web %+v, EIP on %s, route to %s", g, c.eipHolder(), c.routeTarget())
	})
	recovered := time.Since(killed)
	t.Logf("SIGKILL of node-1's agent → web started on node-2 with its addresses: %s", recovered.Round(10*time.Millisecond))
	c.wantEC2(n2, "after node-1 crashed")
	c.wantServing(n2)
	if s := c.instanceState(n1.InstanceID); s != "stopped" {
		t.Errorf("node-1's instance is %s after its group moved, want stopped (fenced)", s)
	}
	mu.Lock()
	stopped, moved := -1, -1
	for i, s := range seen {
		if s == "state "+n1.InstanceID+" stopped" && stopped < 0 {
			stopped = i
		}
		if (s == "address "+c.w.AllocationID+" "+n2.InstanceID || s == "route "+demo.OverlayIP+"/32 "+n2.ENI) && moved < 0 {
			moved = i
		}
	}
	if stopped < 0 || moved < 0 || moved < stopped {
		t.Errorf("EC2 saw %v: node-1's instance must be stopped before any address moves to node-2", seen)
	}
	mu.Unlock()
	var recovery []api.Event
	c.waitHistory(n3.Name, "the failure, fence, move and start of the recovery", func(ev []api.Event) bool {
		recovery = nil
		for _, e := range ev {
			if e.Seq > lastSeq {
				recovery = append(recovery, e)
			}
		}
		return hasEvent(recovery, "member-failed", n1.Name, "") && hasEvent(recovery, "fence", n1.Name, "ok") &&
			hasEvent(recovery, "move", n2.Name, "ok") && hasEvent(recovery, "start", n2.Name, "ok") && hasEvent(recovery, "failover", n2.Name, "ok")
	})
	// Each event carries the time its node recorded it (one clock here);
	// they reach node-3 over separate calls, so their order of arrival
	// is not the order of events.
	order := []string{"member-failed", "fence", "move", "start"}
	at := map[string]time.Time{}
	for _, e := range recovery {
		if _, ok := at[e.Kind]; !ok {
			at[e.Kind] = e.Time
		}
	}
	for i := 1; i < len(order); i++ {
		if at[order[i]].Before(at[order[i-1]]) {
			t.Errorf("history has %s (%s) before %s (%s)", order[i], at[order[i]].Format(time.StampMilli), order[i-1], at[order[i-1]].Format(time.StampMilli))
		}
	}
	for _, e := range recovery {
		if e.Kind == "fence" {
			if !strings.Contains(e.Message, n1.InstanceID) || !strings.Contains(e.Message, "node-1 cannot run it") || e.Duration <= 0 {
				t.Errorf("the fence event says %q in %s; want node-1's instance, the reason and how long it took", e.Message, e.Duration)
			}
		}
		if e.Kind == "move" && !strings.Contains(e.Message, "from node-1 to node-2: node-1 cannot run it") {
			t.Errorf("the move event does not say from where and why: %q", e.Message)
		}
		if e.Kind == "failover" {
			t.Logf("history: web's failover took %s from the fence's start to the start hook's end", e.Duration)
			if e.Duration <= 0 || !strings.Contains(e.Message, "web moved from node-1 to node-2") {
				t.Errorf("the failover event says %q in %s", e.Message, e.Duration)
			}
		}
	}
	// The switchover, the standby move and this recovery.
	if g := group(c.mustStatus(n3.Name), demo.GroupName); g.Failovers != 3 {
		t.Errorf("status --json from node-3 counts %d failovers of web, want 3", g.Failovers)
	}
	c.wantMetrics(n2, `ec2ha_failovers_total{group="web",reason="failure"} 1`, "ec2ha_failover_duration_seconds_count 1",
		`ec2ha_fence_duration_seconds_count{method="stop-force"} 1`, `ec2ha_fences_total{method="stop-force",outcome="confirmed"} 1`,
		"ec2ha_coordinator 1", "ec2ha_quorate 1", `ec2ha_group_owner{group="web",node="node-2"} 1`,
		`ec2ha_ec2_api_calls_total{action="StopInstances"} 1`, `ec2ha_hook_runs_total{group="web",hook="start"}`,
		`ec2ha_membership_members{state="dead"} 1`, `ec2ha_membership_members{state="alive"} 2`)
	c.wantMetrics(n3, `ec2ha_group_owner{group="web",node="node-2"} 1`, "ec2ha_coordinator 0", "ec2ha_quorate 1")
	for _, probe := range []string{"/healthz", "/readyz"} {
		if code, body := c.get(n3, c.p.Metrics, probe); code != http.StatusOK {
			t.Errorf("GET %s on node-3's metrics address: %d %s", probe, code, body)
		}
	}
	out = c.ec2haOK("history", "--socket", c.l.Socket(n3.Name))
	t.Logf("$ ec2ha history   (after node-1's agent was SIGKILLed)\n%s", out)
	out = c.ec2haOK("status", "--socket", c.l.Socket(n3.Name))
	t.Logf("$ ec2ha status   (after the failover)\n%s", out)
	if !strings.Contains(out, "web: STARTED on node-2") || !strings.Contains(out, "Quorum:  yes, 2 of 3 votes (2 needed)") {
		t.Errorf("status after the failover:\n%s", out)
	}

	// 6. SIGTERM hands the group over before the agent leaves.
	if err := syscall.Kill(c.agents[n2.Name].Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.agents[n2.Name].Done():
	case <-time.After(60 * time.Second):
		t.Fatal("node-2's agent did not exit within 60s of SIGTERM")
	}
	// It exited after the handover, so EC2 shows web on node-3 now.
	c.wantEC2(n3, "after node-2's agent stopped on SIGTERM")
	if s := c.instanceState(n2.InstanceID); s != "running" {
		t.Errorf("node-2 handed over on SIGTERM yet its instance is %s", s)
	}
	c.waitHistory(n3.Name, "node-2's handover", func(ev []api.Event) bool { return hasEvent(ev, "handover", n2.Name, "ok") })
}

// processCluster is the world, the simulator and the processes of one test.
type processCluster struct {
	t      *testing.T
	exe    string
	sim    *demo.SimServer
	ec2    *awsec2.Client
	w      *demo.World
	l      demo.Layout
	p      demo.Ports
	sup    *demo.Supervisor
	agents map[string]*demo.Proc
	tcpAPI string // node-3's TCP API address
}

func startProcessCluster(t *testing.T) *processCluster {
	exe := buildEC2HA(t)
	c := &processCluster{t: t, exe: exe, l: demo.Layout{Dir: t.TempDir()}, sup: &demo.Supervisor{}, agents: map[string]*demo.Proc{}}
	var err error
	c.sim, err = demo.StartSim(ec2sim.Options{Durations: ec2sim.Durations{Pending: 200 * time.Millisecond, Stopping: 500 * time.Millisecond, ShuttingDown: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.sim.Close(); err != nil {
			t.Errorf("closing the simulator: %v", err)
		}
	})
	c.ec2 = c.sim.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c.w, err = demo.BuildWorld(ctx, c.sim, 3); err != nil {
		t.Fatal(err)
	}
	addrs := make([]string, len(c.w.Nodes))
	for i, n := range c.w.Nodes {
		addrs[i] = n.Addr
	}
	// Apart from the demo's ports (17946 on) and its port test (27946).
	if c.p, err = demo.FindPorts(addrs, 37946); err != nil {
		t.Fatal(err)
	}
	if err := config.WriteKeyFile(c.l.KeyFile()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.l.Dir, "api.token"), []byte("process-test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(c.w.Nodes[2].Addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	c.tcpAPI = ln.Addr().String()
	ln.Close()
	// Stop every child, whatever happened; show the agents' logs first
	// if the test failed.
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.w.Nodes {
				logs, _ := filepath.Glob(filepath.Join(c.l.Dir, n.Name+"-*-agent.log"))
				for _, l := range logs {
					t.Logf("--- last lines of %s ---\n%s", filepath.Base(l), demo.Tail(l, 40))
				}
			}
		}
		if killed := c.sup.StopAll(10 * time.Second); len(killed) > 0 {
			t.Logf("killed after 10s without exiting on SIGTERM: %v", killed)
		}
		if left := c.sup.Running(); len(left) > 0 {
			t.Errorf("%d processes still running after clean-up", len(left))
		}
		// Built with -race, a child reports a race in its log and goes on.
		logs, _ := filepath.Glob(filepath.Join(c.l.Dir, "*.log"))
		for _, l := range logs {
			if b, err := os.ReadFile(l); err == nil && bytes.Contains(b, []byte("WARNING: DATA RACE")) {
				t.Errorf("%s reports a data race:\n%s", filepath.Base(l), b[bytes.Index(b, []byte("WARNING: DATA RACE")):])
			}
		}
	})
	for _, n := range c.w.Nodes {
		if err := demo.WriteConfig(c.l.ConfigFile(n.Name), c.config(n)); err != nil {
			t.Fatal(err)
		}
		listen := net.JoinHostPort(n.Addr, strconv.Itoa(c.p.App))
		if _, err := c.sup.Start(n.Name+"/app", []string{exe, "demo", "app", "--node", n.Name, "--listen", listen, "--state-file", c.l.StateFile(n.Name)},
			demo.ChildEnv(c.l.Dir), c.l.AppLog(n.Name, n.InstanceID)); err != nil {
			t.Fatal(err)
		}
		c.startAgent(n)
	}
	return c
}

// config is n's agent configuration: the demo's, without replacement.
func (c *processCluster) config(n demo.Node) *config.Config {
	c.t.Helper()
	imds, err := c.sim.Sim.IMDSEndpoint(n.InstanceID)
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := demo.NodeConfig(c.w, c.l, c.p, c.sim.URL, n, "", imds)
	// Self-healing is the in-process agent tests' subject; here a
	// replacement would only launch an instance nobody boots.
	cfg.Replacement.Enabled = false
	if n.Name == c.w.Nodes[2].Name {
		cfg.API.Listen = c.tcpAPI
		cfg.API.TokenFile = filepath.Join(c.l.Dir, "api.token")
	}
	return cfg
}

// buildEC2HA builds this command into a temporary directory, with the race
// detector if the test has it, so the packages compiled for the test are
// reused.
func buildEC2HA(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "ec2ha")
	args := []string{"build", "-o", exe}
	if raceBuild {
		args = append(args, "-race")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build ec2ha for this test: %v", err)
	}
	cmd := exec.Command(gotool, append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

func (c *processCluster) startAgent(n demo.Node) {
	c.t.Helper()
	p, err := c.sup.Start(n.Name+"/agent", []string{c.exe, "agent", "--config", c.l.ConfigFile(n.Name)},
		demo.ChildEnv(c.l.Dir, "DEMO_STATE_FILE="+c.l.StateFile(n.Name), "GORACE=atexit_sleep_ms=0"), c.l.AgentLog(n.Name, n.InstanceID))
	if err != nil {
		c.t.Fatal(err)
	}
	c.agents[n.Name] = p
}

// crash SIGKILLs n's agent; its application goes on, as after an agent
// crash on a healthy machine.
func (c *processCluster) crash(n demo.Node) {
	if err := syscall.Kill(c.agents[n.Name].Pid(), syscall.SIGKILL); err != nil {
		c.t.Fatal(err)
	}
	<-c.agents[n.Name].Done()
}

// ec2ha runs the binary as an operator would and returns what it printed
// on stdout; err carries the exit status and stderr.
func (c *processCluster) ec2ha(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.exe, args...)
	cmd.Env = demo.ChildEnv(c.l.Dir, "GORACE=atexit_sleep_ms=0")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("ec2ha %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

func (c *processCluster) ec2haOK(args ...string) string {
	c.t.Helper()
	out, err := c.ec2ha(args...)
	if err != nil {
		c.t.Fatalf("%v\nstdout:\n%s", err, out)
	}
	return out
}

func (c *processCluster) status(node string) (api.Status, error) {
	return c.statusAt(c.l.Socket(node))
}

// statusAt runs `ec2ha status --json` against target, a socket or URL.
func (c *processCluster) statusAt(target string, args ...string) (api.Status, error) {
	var st api.Status
	out, err := c.ec2ha(append([]string{"status", "--json", "--socket", target}, args...)...)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("status --json from %s is not JSON: %v\n%s", target, err, out)
	}
	return st, nil
}

func (c *processCluster) mustStatus(node string) api.Status {
	c.t.Helper()
	st, err := c.status(node)
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

func (c *processCluster) history(node string) []api.Event {
	c.t.Helper()
	var ev []api.Event
	out := c.ec2haOK("history", "--json", "--limit", "1000", "--socket", c.l.Socket(node))
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		c.t.Fatalf("history --json from %s is not JSON: %v\n%s", node, err, out)
	}
	return ev
}

func (c *processCluster) waitHistory(node, what string, cond func([]api.Event) bool) {
	c.t.Helper()
	var last []api.Event
	c.waitFor(what, func() (bool, string) {
		last = c.history(node)
		if cond(last) {
			return true, ""
		}
		var b strings.Builder
		api.RenderHistory(&b, last)
		return false, "history on " + node + ":\n" + b.String()
	})
}

// waitFor polls cond until it holds; the deadline only bounds a failure.
func (c *processCluster) waitFor(what string, cond func() (bool, string)) {
	c.t.Helper()
	const limit = 60 * time.Second
	deadline := time.Now().Add(limit)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("not within %s: %s\nlast seen: %s", limit, what, detail)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// wantEC2 checks that EC2 routes the service to n: the Elastic IP on its
// instance and the overlay route to its interface.
func (c *processCluster) wantEC2(n demo.Node, when string) {
	c.t.Helper()
	if got := c.eipHolder(); got != n.InstanceID {
		c.t.Errorf("%s: EC2 shows the Elastic IP on %q, want %s's %s", when, got, n.Name, n.InstanceID)
	}
	if got := c.routeTarget(); got != n.ENI {
		c.t.Errorf("%s: EC2 routes %s to %q, want %s's %s", when, demo.OverlayIP, got, n.Name, n.ENI)
	}
}

// wantServing checks that only n's application answers as active.
func (c *processCluster) wantServing(n demo.Node) {
	c.t.Helper()
	for _, m := range c.w.Nodes {
		if p := c.agents[m.Name]; m.Name != n.Name && (p == nil || !p.Alive()) {
			continue // a crashed node's hooks never ran; its app is not our concern
		}
		code, body := c.get(m, c.p.App, "/")
		if want := m.Name == n.Name; (code == http.StatusOK) != want {
			c.t.Errorf("%s's application answered %d %q; want it active only on %s", m.Name, code, body, n.Name)
		}
	}
}

// wantMetrics checks that n's /metrics has each of lines: a whole sample
// ("name{labels} value") matches exactly, anything else is a prefix.
func (c *processCluster) wantMetrics(n demo.Node, lines ...string) {
	c.t.Helper()
	code, body := c.get(n, c.p.Metrics, "/metrics")
	if code != http.StatusOK {
		c.t.Fatalf("GET /metrics on %s: %d %s", n.Name, code, body)
	}
	have := strings.Split(body, "\n")
	for _, want := range lines {
		found := false
		for _, l := range have {
			if l == want || !strings.Contains(want, " ") && strings.HasPrefix(l, want) {
				found = true
			}
		}
		if !found {
			c.t.Errorf("%s's /metrics has no line %q", n.Name, want)
		}
	}
}

func (c *processCluster) get(n demo.Node, port int, path string) (int, string) {
	resp, err := http.Get("http://" + net.JoinHostPort(n.Addr, strconv.Itoa(port)) + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (c *processCluster) eipHolder() string {
	out, err := c.ec2.DescribeAddresses(context.Background(), &awsec2.DescribeAddressesInput{AllocationIds: []string{c.w.AllocationID}})
	if err != nil || len(out.Addresses) != 1 {
		c.t.Fatalf("describing the Elastic IP: %v", err)
	}
	return aws.ToString(out.Addresses[0].InstanceId)
}

func (c *processCluster) routeTarget() string {
	out, err := c.ec2.DescribeRouteTables(context.Background(), &awsec2.DescribeRouteTablesInput{RouteTableIds: []string{c.w.RouteTable}})
	if err != nil || len(out.RouteTables) != 1 {
		c.t.Fatalf("describing route table %s: %v", c.w.RouteTable, err)
	}
	for _, r := range out.RouteTables[0].Routes {
		if aws.ToString(r.DestinationCidrBlock) == demo.OverlayIP+"/32" {
			return aws.ToString(r.NetworkInterfaceId)
		}
	}
	return ""
}

func (c *processCluster) instanceState(id string) string {
	out, err := c.ec2.DescribeInstances(context.Background(), &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) != 1 {
		c.t.Fatalf("describing %s: %v", id, err)
	}
	return string(out.Reservations[0].Instances[0].State.Name)
}

func group(st api.Status, name string) *api.Group {
	for i := range st.Groups {
		if st.Groups[i].Name == name {
			return &st.Groups[i]
		}
	}
	return nil
}

func member(st api.Status, name string) *api.Member {
	for i := range st.Members {
		if st.Members[i].Name == name {
			return &st.Members[i]
		}
	}
	return nil
}

func aliveMembers(st api.Status) int {
	n := 0
	for _, m := range st.Members {
		if m.State == "alive" {
			n++
		}
	}
	return n
}

// hasEvent reports whether ev has an event of kind about node with
// outcome (any outcome if "").
func hasEvent(ev []api.Event, kind, node, outcome string) bool {
	for _, e := range ev {
		if e.Kind == kind && e.Node == node && (outcome == "" || e.Outcome == outcome) {
			return true
		}
	}
	return false
}
