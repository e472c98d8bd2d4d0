//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/e2e/netbed"
	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/demo"
)

// The bed is the default VPC's first subnet, so that the simulator's
// private addresses are the hosts' real addresses: node N is at
// 172.31.0.(10+N), replacements get the subnet's lowest free address
// (172.31.0.4 and up), the group's secondary IP is serviceIP and the
// client sits at the top of the subnet. The bridge (172.31.0.1, the VPC
// router's address) is where the simulator and the IMDS listeners are.
var (
	bedSubnet  = netip.MustParsePrefix("172.31.0.0/20")
	serviceIP  = netip.MustParseAddr("172.31.0.100")
	clientAddr = netip.MustParseAddr("172.31.15.250")
)

const (
	gossipPort = 7946
	appPort    = 8080
	bedPrefix  = "ec2hae"
)

// spec describes one scenario's cluster.
type spec struct {
	nodes int
	// priority orders the group's nodes by index (1-based); 1..N if nil.
	priority []int
	// tweak changes every agent's configuration.
	tweak func(*config.Config)
}

// e2eDurations are short but not zero: a fence still waits for stopping
// to become stopped, and a replacement for pending to become running.
var e2eDurations = ec2sim.Durations{Pending: 500 * time.Millisecond, Stopping: 500 * time.Millisecond, ShuttingDown: 500 * time.Millisecond}

// machine is what runs for one instance: a host on the bed with the
// node's agent and application.
type machine struct {
	instanceID string
	node       string
	host       *netbed.Host
	imds       string
	app        *demo.Proc
	agent      atomic.Pointer[demo.Proc] // nil until it starts; replaced on a restart
	addr       netip.Addr
	up         bool // its link is up: the instance is running
}

// cluster is a running scenario: the bed, the simulator, the instances'
// machines and the outside observer.
type cluster struct {
	t    *testing.T
	spec spec
	exe  string
	dir  string
	bed  *netbed.Bed
	sim  *demo.SimServer
	ec2  *awsec2.Client
	w    *demo.World
	sup  *demo.Supervisor

	events chan ec2sim.Event
	ready  chan struct{} // closed once w is set
	done   chan struct{}

	mu       sync.Mutex
	machines map[string]*machine // by instance id
	imds     map[string]string   // instance id -> IMDS endpoint
	eipOn    string              // instance the Elastic IP is associated with
	eniOf    map[string]string   // interface -> instance
	closed   bool                // set once close begins: no more notes
	errs     []error

	obs *observer
}

// newCluster builds the bed and the world, boots every node, and waits
// until the group serves on the service address.
func newCluster(t *testing.T, s spec) *cluster {
	t.Helper()
	if err := netbed.Available(); err != nil {
		t.Fatalf("the e2e test bed needs root, iproute2 and nftables: %v", err)
	}
	c := &cluster{t: t, spec: s, exe: binary(t), dir: t.TempDir(), sup: &demo.Supervisor{},
		events: make(chan ec2sim.Event, 1024), ready: make(chan struct{}), done: make(chan struct{}),
		machines: map[string]*machine{}, imds: map[string]string{}, eniOf: map[string]string{}}
	bed, err := netbed.New(bedPrefix, bedSubnet)
	if err != nil {
		t.Fatal(err)
	}
	c.bed = bed
	c.obs = newObserver(t, c)
	t.Cleanup(c.close)

	if err := config.WriteKeyFile(filepath.Join(c.dir, "gossip.key")); err != nil {
		t.Fatal(err)
	}
	c.sim, err = demo.StartSimAt(bed.Gateway().String(), ec2sim.Options{Durations: e2eDurations})
	if err != nil {
		t.Fatal(err)
	}
	c.ec2 = c.sim.Client()
	cancel := c.sim.Sim.OnEvent(func(e ec2sim.Event) { c.events <- e })
	go c.connect()
	t.Cleanup(func() { cancel() })

	clientHost, err := bed.AddHost("client", clientAddr)
	if err != nil {
		t.Fatal(err)
	}
	c.obs.start(clientHost)

	// Each instance gets its machine from its running event (connect).
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	c.w, err = demo.BuildWorldWith(ctx, c.sim, s.nodes, demo.WorldSpec{
		Subnet:    c.sim.Sim.DefaultSubnets()[0],
		PrivateIP: func(i int) string { return nodeAddr(i).String() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := clientHost.Route(netip.MustParseAddr(c.w.PublicIP)); err != nil {
		t.Fatal(err)
	}
	c.obs.command("add eip http://%s:%d/", c.w.PublicIP, appPort)
	close(c.ready)
	c.waitStable(60 * time.Second)
	return c
}

func nodeAddr(index int) netip.Addr { return netip.AddrFrom4([4]byte{172, 31, 0, byte(10 + index)}) }

// binary is the ec2ha under test: EC2HA_BIN, or bin/ec2ha at the root.
func binary(t *testing.T) string {
	t.Helper()
	exe := os.Getenv("EC2HA_BIN")
	if exe == "" {
		exe = "../bin/ec2ha"
	}
	abs, err := filepath.Abs(exe)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("no ec2ha binary at %s: run `make build` first or set EC2HA_BIN (%v)", abs, err)
	}
	return abs
}

// config is node's agent configuration on instance id at addr.
func (c *cluster) config(node string, addr netip.Addr, imds string) *config.Config {
	nd, _ := c.w.Node(node)
	l := demo.Layout{Dir: c.dir}
	cfg := demo.NodeConfig(c.w, l, demo.Ports{Gossip: gossipPort, App: appPort, Metrics: 9947}, c.sim.URL, nd, "", imds)
	cfg.Gossip.BindAddr = addr.String()
	// A replacement comes up at a new address: the others find it through
	// the cluster tag, as on EC2.
	cfg.Gossip.Discover = true
	cfg.Metrics.Listen = net.JoinHostPort(addr.String(), "9947")
	cfg.Cluster.SettleTime = 500 * time.Millisecond
	cfg.Cluster.NoQuorumStopAfter = time.Second
	g := &cfg.Groups[0]
	g.Resources.SecondaryIPs = []config.SecondaryIP{{Address: serviceIP.String(), Interface: "eth0"}}
	if c.spec.priority != nil {
		g.Nodes = g.Nodes[:0]
		for _, i := range c.spec.priority {
			g.Nodes = append(g.Nodes, demo.NodeName(i))
		}
	}
	if c.spec.tweak != nil {
		c.spec.tweak(cfg)
	}
	return cfg
}

// boot starts the machine of a running instance: a host at its private
// address (kept if the instance ran before) with the node's application
// and agent.
func (c *cluster) boot(id, node string) error {
	addr, eni, err := c.describe(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	m := c.machines[id]
	imds := c.imds[id]
	c.eniOf[eni] = id
	c.mu.Unlock()
	if imds == "" {
		if imds, err = c.sim.Sim.IMDSEndpoint(id); err != nil {
			return err
		}
	}
	if m == nil {
		h, err := c.bed.AddHost(shortID(id), addr)
		if err != nil {
			return fmt.Errorf("host for %s: %w", id, err)
		}
		m = &machine{instanceID: id, node: node, host: h, imds: imds, addr: addr}
	} else if err := m.host.SetLink(true); err != nil {
		return err
	}
	l := demo.Layout{Dir: c.dir}
	_ = os.Remove(l.StateFile(node))
	app, err := c.sup.Start(node+"/app", append(c.inNS(m), "demo", "app", "--node", node,
		"--listen", net.JoinHostPort("0.0.0.0", strconv.Itoa(appPort)), "--state-file", l.StateFile(node)),
		demo.ChildEnv(c.dir), l.AppLog(node, id))
	if err != nil {
		return err
	}
	c.mu.Lock()
	m.app, m.up = app, true
	c.machines[id] = m
	c.mu.Unlock()
	if err := c.startAgent(m); err != nil {
		return err
	}
	c.obs.watch(node, id, addr)
	return nil
}

// startAgent (re)starts the agent of a machine with a fresh configuration.
func (c *cluster) startAgent(m *machine) error {
	l := demo.Layout{Dir: c.dir}
	if err := demo.WriteConfig(l.ConfigFile(m.node), c.config(m.node, m.addr, m.imds)); err != nil {
		return err
	}
	_ = os.Remove(l.Socket(m.node))
	agent, err := c.sup.Start(m.node+"/agent", append(c.inNS(m), "agent", "--config", l.ConfigFile(m.node)),
		demo.ChildEnv(c.dir, "DEMO_STATE_FILE="+l.StateFile(m.node)), l.AgentLog(m.node, m.instanceID))
	if err != nil {
		return err
	}
	c.mu.Lock()
	m.agent.Store(agent)
	c.mu.Unlock()
	go func() { // the bed's journal: when and how every agent ended
		err := agent.Err()
		c.logf("%s's agent on %s exited: %v", m.node, m.instanceID, err)
	}()
	return nil
}

func (c *cluster) inNS(m *machine) []string { return []string{"ip", "netns", "exec", m.host.NS, c.exe} }

// launch starts an instance for node from the launch template, as an
// operator replacing a lost member by hand would.
func (c *cluster) launch(node string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.ec2.RunInstances(ctx, &awsec2.RunInstancesInput{
		LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateName: aws.String(demo.TemplateName)},
		MinCount:       aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId: aws.String(c.sim.Sim.DefaultSubnets()[0]),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance,
			Tags: []types.Tag{{Key: aws.String(demo.NodeTagKey), Value: aws.String(node)}}}},
	})
	return err
}

// enis maps every interface seen to its instance.
func (c *cluster) enis() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.eniOf))
	for k, v := range c.eniOf {
		out[k] = v
	}
	return out
}

// agentAlive reports whether the machine's agent has started and not
// exited; a booting machine is published before its agent starts.
func (m *machine) agentAlive() bool {
	a := m.agent.Load()
	return a != nil && a.Alive()
}

func shortID(id string) string { return strings.TrimPrefix(id, "i-")[:8] }

// describe returns an instance's private address and primary interface.
func (c *cluster) describe(id string) (netip.Addr, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.ec2.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return netip.Addr{}, "", err
	}
	if len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 {
		return netip.Addr{}, "", fmt.Errorf("instance %s not found", id)
	}
	in := out.Reservations[0].Instances[0]
	addr, err := netip.ParseAddr(aws.ToString(in.PrivateIpAddress))
	return addr, ec2.PrimaryENI(in), err
}

// connect ties EC2 to the bed, in the order the simulator reports:
// an instance that stops loses its processes and its network, one that
// terminates loses its host, one that starts or is launched gets its
// agent and application, and the Elastic IP answers on the host of the
// instance it is associated with (the VPC's one-to-one NAT).
func (c *cluster) connect() {
	for {
		select {
		case <-c.done:
			return
		case e := <-c.events:
			c.obs.simEvent(e)
			if err := c.apply(e); err != nil {
				c.fail(fmt.Errorf("applying %s event for %s: %w", e.Type, e.InstanceID, err))
			}
		}
	}
}

func (c *cluster) apply(e ec2sim.Event) error {
	switch e.Type {
	case ec2sim.EventLaunch:
		c.mu.Lock()
		c.imds[e.InstanceID] = e.IMDSEndpoint
		c.mu.Unlock()
	case ec2sim.EventMachineGone:
		if e.Gone {
			c.powerOff(e.InstanceID, false)
		}
	case ec2sim.EventState:
		switch e.State {
		case "stopping", "shutting-down":
			c.powerOff(e.InstanceID, false)
		case "terminated":
			c.powerOff(e.InstanceID, true)
		case "running":
			node, err := c.nodeTag(e.InstanceID)
			if err != nil {
				return err
			}
			go func() {
				select { // the world's description is needed for the configuration
				case <-c.ready:
				case <-c.done:
					return
				}
				if err := c.boot(e.InstanceID, node); err != nil {
					c.fail(err)
				}
			}()
		}
	case ec2sim.EventAddress:
		if e.AllocationID != c.w.AllocationID {
			return nil
		}
		eip := netip.MustParseAddr(c.w.PublicIP)
		c.mu.Lock()
		old, now := c.machines[c.eipOn], c.machines[e.InstanceID]
		c.eipOn = e.InstanceID
		c.mu.Unlock()
		if old != nil {
			if err := old.host.DelAddress(eip); err != nil {
				return err
			}
		}
		if now != nil {
			return now.host.AddAddress(eip)
		}
	}
	return nil
}

// powerOff kills everything an instance runs and takes its network down;
// remove also deletes its host, for a terminated instance.
func (c *cluster) powerOff(id string, remove bool) {
	c.mu.Lock()
	m := c.machines[id]
	if m != nil {
		m.up = false
		if remove {
			delete(c.machines, id)
		}
	}
	c.mu.Unlock()
	if m == nil {
		return
	}
	c.logf("%s's instance %s powered off (removed: %v)", m.node, id, remove)
	c.obs.unwatch(id)
	_ = m.host.Crash()
	for _, p := range []*demo.Proc{m.agent.Load(), m.app} {
		if p != nil {
			p.Kill()
		}
	}
	if remove {
		_ = m.host.Remove()
		return
	}
	_ = m.host.SetLink(false)
}

func (c *cluster) nodeTag(id string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tags, err := demo.InstanceTags(ctx, c.ec2, id)
	if err != nil {
		return "", err
	}
	if n := tags[demo.NodeTagKey]; n != "" {
		return n, nil
	}
	return "", fmt.Errorf("instance %s has no %s tag", id, demo.NodeTagKey)
}

// logf notes what the bed did, with the time, until the cluster closes
// (the processes' last words come in while it stops them).
func (c *cluster) logf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.t.Logf("%s: "+format, append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
}

func (c *cluster) fail(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

func (c *cluster) close() {
	if c.t.Failed() || os.Getenv("E2E_KEEP") != "" {
		c.showLogs()
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.sup.StopAll(3 * time.Second)
	c.obs.stop()
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	if c.sim != nil {
		_ = c.sim.Close()
	}
	if c.bed != nil {
		_ = c.bed.Close()
	}
}

// showLogs prints the end of every agent's log, and keeps the whole
// directory when E2E_KEEP is set.
func (c *cluster) showLogs() {
	logs, _ := filepath.Glob(filepath.Join(c.dir, "*-agent.log"))
	for _, path := range logs {
		c.t.Logf("--- last lines of %s ---\n%s", filepath.Base(path), demo.Tail(path, 40))
	}
	if keep := os.Getenv("E2E_KEEP"); keep != "" {
		dst := filepath.Join(keep, c.t.Name())
		_ = os.MkdirAll(dst, 0o755)
		for _, path := range logs {
			if b, err := os.ReadFile(path); err == nil {
				_ = os.WriteFile(filepath.Join(dst, filepath.Base(path)), b, 0o644)
			}
		}
		c.t.Logf("agent logs kept in %s", dst)
	}
}

// machineOf returns the running machine of a node.
func (c *cluster) machineOf(node string) *machine {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.machines {
		if m.node == node && m.up {
			return m
		}
	}
	return nil
}

func (c *cluster) machineByInstance(id string) *machine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.machines[id]
}

// status asks a live agent, the given nodes' first, for the cluster.
func (c *cluster) status(prefer ...string) (api.Status, error) {
	names := append([]string{}, prefer...)
	for _, n := range c.w.Nodes {
		names = append(names, n.Name)
	}
	var errs []error
	for _, n := range names {
		m := c.machineOf(n)
		if m == nil || !m.agentAlive() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := api.NewClient(demo.Layout{Dir: c.dir}.Socket(n), "").Status(ctx)
		cancel()
		if err == nil {
			return st, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", n, err))
	}
	return api.Status{}, fmt.Errorf("no agent answers: %w", errors.Join(errs...))
}

// owner is the node running the group according to a live agent.
func (c *cluster) owner() string {
	st, err := c.status()
	if err != nil {
		return ""
	}
	for _, g := range st.Groups {
		if g.Name == demo.GroupName && g.State == "started" {
			return g.Owner
		}
	}
	return ""
}

// stable reports whether the cluster is whole and serving: every node's
// agent alive on a running instance and in every live agent's view, all
// of them quorate, the group started on one of them, and the client
// getting that node's answer on the service address. It says what is
// missing otherwise.
func (c *cluster) stable() error {
	c.mu.Lock()
	errs := c.errs
	c.mu.Unlock()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	owner := ""
	for _, n := range c.w.Nodes {
		m := c.machineOf(n.Name)
		if m == nil || !m.agentAlive() {
			return fmt.Errorf("%s has no running machine", n.Name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := api.NewClient(demo.Layout{Dir: c.dir}.Socket(n.Name), "").Status(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("%s's agent does not answer: %v", n.Name, err)
		}
		if !st.Quorum.Quorate {
			return fmt.Errorf("%s is not quorate", n.Name)
		}
		for _, mem := range st.Members {
			if mem.State != "alive" && !mem.Witness {
				return fmt.Errorf("%s sees %s %s", n.Name, mem.Name, mem.State)
			}
		}
		if len(st.Members) < len(c.w.Nodes) {
			return fmt.Errorf("%s sees %d of %d members", n.Name, len(st.Members), len(c.w.Nodes))
		}
		for _, g := range st.Groups {
			if g.Name != demo.GroupName {
				continue
			}
			if g.State != "started" || g.Owner == "" {
				return fmt.Errorf("%s sees group %s %s", n.Name, g.Name, g.State)
			}
			if owner != "" && owner != g.Owner {
				return fmt.Errorf("agents disagree on the owner: %s and %s", owner, g.Owner)
			}
			owner = g.Owner
		}
	}
	if got := c.obs.lastServiceAnswer(); got != owner {
		return fmt.Errorf("the service address answers from %q, the group runs on %s", got, owner)
	}
	return nil
}

// waitStable waits until the cluster is stable, failing the test with
// what is missing when it is not within d.
func (c *cluster) waitStable(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := c.stable()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the cluster did not become whole and serving within %s: %v", d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// eventually polls cond until it is true, failing after d with what.
func (c *cluster) eventually(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// instanceState is what EC2 says of an instance.
func (c *cluster) instanceState(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := c.ec2.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return "error: " + err.Error()
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if in.State != nil {
				return string(in.State.Name)
			}
		}
	}
	return "unknown"
}
