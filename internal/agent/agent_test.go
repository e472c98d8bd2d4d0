package agent

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
	"github.com/ec2ha/ec2ha/ec2/replace"
	"github.com/ec2ha/ec2ha/fencing"
	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
)

// cluster is three agents in this process against one simulator, each
// with its own IMDS, gossip port and API socket, running one group "web"
// with an Elastic IP and a secondary private IP; the start and stop hooks
// create and remove a file named after the node.
type cluster struct {
	t       *testing.T
	env     *simtest.Env
	dir     string
	alloc   string
	ip      string
	ids     map[string]string // node -> instance
	agents  map[string]*Agent
	cancels map[string]context.CancelFunc
	wg      sync.WaitGroup
	cfgs    map[string]*config.Config
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newCluster(t *testing.T, opts ec2sim.Options) *cluster {
	ctx := context.Background()
	opts.IMDSHost = "127.0.0.1"
	env := simtest.Start(t, opts)
	c := &cluster{t: t, env: env, dir: t.TempDir(), ids: map[string]string{}, agents: map[string]*Agent{},
		cancels: map[string]context.CancelFunc{}, cfgs: map[string]*config.Config{}}
	tags := func(node string) []types.TagSpecification {
		return []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{
			{Key: aws.String(fencing.ClusterTag), Value: aws.String("test")}, {Key: aws.String(NodeTag), Value: aws.String(node)}}}}
	}
	subnets := env.Sim.DefaultSubnets()
	must(env.Client.CreateLaunchTemplate(ctx, &awsec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("node"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-12345678")}}))
	for i, node := range []string{"a", "b", "c"} {
		// One subnet for all so the secondary IP is valid on every node.
		out := must(env.Client.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1),
			MaxCount: aws.Int32(1), SubnetId: aws.String(subnets[0]), TagSpecifications: tags(node)}))
		c.ids[node] = *out.Instances[0].InstanceId
		_ = i
	}
	eip := must(env.Client.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}))
	c.alloc = *eip.AllocationId
	sub := must(env.Client.DescribeSubnets(ctx, &awsec2.DescribeSubnetsInput{SubnetIds: subnets[:1]})).Subnets[0]
	prefix := *sub.CidrBlock // e.g. 172.31.0.0/20: .200 is free
	ip, _, _ := net.ParseCIDR(prefix)
	ip4 := ip.To4()
	ip4[3] = 200
	c.ip = ip4.String()

	keyFile := filepath.Join(c.dir, "gossip.key")
	if err := config.WriteKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	ports := map[string]int{}
	for _, n := range []string{"a", "b", "c"} {
		ports[n] = freePort(t)
	}
	for _, n := range []string{"a", "b", "c"} {
		cfg := config.Default()
		cfg.Cluster.Name = "test"
		cfg.Cluster.ExpectedVotes = 3
		cfg.Cluster.SettleTime = 200 * time.Millisecond
		for _, m := range []string{"a", "b", "c"} {
			cfg.Nodes = append(cfg.Nodes, config.NodeSpec{Name: m, Address: "127.0.0.1:" + strconv.Itoa(ports[m])})
		}
		cfg.Gossip.BindAddr, cfg.Gossip.BindPort = "127.0.0.1", ports[n]
		cfg.Gossip.KeyFile = keyFile
		cfg.Gossip.Discover = false
		cfg.AWS.Region, cfg.AWS.Endpoint = env.Sim.Region(), env.URL
		cfg.AWS.IMDSEndpoint = must(env.Sim.IMDSEndpoint(c.ids[n]))
		cfg.Fencing.PollInterval = 50 * time.Millisecond
		cfg.Fencing.Timeout = 20 * time.Second
		cfg.Groups = []config.Group{{Name: "web", Nodes: []string{"a", "b", "c"}, MigrationThreshold: 3,
			Resources: config.Resources{ElasticIPs: []config.ElasticIP{{AllocationID: c.alloc}}, SecondaryIPs: []config.SecondaryIP{{Address: c.ip}}},
			Hooks: config.Hooks{
				Start: config.Hook{Command: "touch " + c.dir + "/$EC2HA_NODE_NAME.running", Timeout: 5 * time.Second},
				Stop:  config.Hook{Command: "rm -f " + c.dir + "/$EC2HA_NODE_NAME.running", Timeout: 5 * time.Second},
			}}}
		cfg.Replacement.Enabled = true
		cfg.Replacement.LaunchTemplate.Name = "node"
		cfg.API.Socket = filepath.Join(c.dir, n+".sock")
		cfg.Metrics.Listen = ""
		cfg.Node.ShutdownTimeout = 10 * time.Second
		c.cfgs[n] = &cfg
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Cleanup(c.stopAll)
	return c
}

func (c *cluster) start(node string) {
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a, err := New(ctx, c.cfgs[node], Options{Logger: log})
	if err != nil {
		c.t.Fatalf("starting %s: %v", node, err)
	}
	c.agents[node], c.cancels[node] = a, cancel
	c.wg.Go(func() { _ = a.Run(ctx, Options{}) })
}

func (c *cluster) stopAll() {
	for _, cancel := range c.cancels {
		cancel()
	}
	c.wg.Wait()
}

// status asks node's API over its socket, as `ec2ha status` does.
func (c *cluster) status(node string) api.Status {
	st, err := api.NewClient(c.cfgs[node].API.Socket, "").Status(context.Background())
	if err != nil {
		c.t.Fatalf("status from %s: %v", node, err)
	}
	return st
}

// eventually polls cond until it holds or the deadline passes.
func (c *cluster) eventually(what string, timeout time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("after %s: %s did not happen", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *cluster) holder() string {
	out := must(c.env.Client.DescribeAddresses(context.Background(), &awsec2.DescribeAddressesInput{AllocationIds: []string{c.alloc}}))
	return aws.ToString(out.Addresses[0].InstanceId)
}

func (c *cluster) running(node string) bool {
	_, err := os.Stat(filepath.Join(c.dir, node+".running"))
	return err == nil
}

func (c *cluster) nodeOf(id string) string {
	for n, i := range c.ids {
		if i == id {
			return n
		}
	}
	return ""
}

func (c *cluster) instanceState(id string) types.InstanceStateName {
	out := must(c.env.Client.DescribeInstances(context.Background(), &awsec2.DescribeInstancesInput{InstanceIds: []string{id}}))
	return out.Reservations[0].Instances[0].State.Name
}

func (c *cluster) waitStarted() string {
	var owner string
	c.eventually("the group starting on one node with its addresses", 20*time.Second, func() bool {
		owner = c.nodeOf(c.holder())
		return owner != "" && c.running(owner)
	})
	return owner
}

func TestGroupStartsOnceOnTheMostPreferredNode(t *testing.T) {
	c := newCluster(t, ec2sim.Options{})
	for _, n := range []string{"a", "b", "c"} {
		c.start(n)
	}
	owner := c.waitStarted()
	if owner != "a" {
		t.Fatalf("web started on %s, want a, the first of its nodes", owner)
	}
	var st api.Status
	c.eventually("c learning where web runs", 5*time.Second, func() bool {
		st = c.status("c")
		return len(st.Groups) == 1 && st.Groups[0].Owner != ""
	})
	if !st.Quorum.Quorate || st.Coordinator != "a" || len(st.Members) != 3 {
		t.Fatalf("status from c: quorate %v, coordinator %q, %d members", st.Quorum.Quorate, st.Coordinator, len(st.Members))
	}
	if g := st.Groups[0]; g.Owner != "a" || g.State != "started" || g.Resources[0].Holder != "a" || g.Resources[1].Holder != "a" {
		t.Fatalf("status from c shows web as %+v", g)
	}
	for _, n := range []string{"b", "c"} {
		if c.running(n) {
			t.Fatalf("web's start hook also ran on %s", n)
		}
	}
}

func TestCrashedActiveNodeIsFencedBeforeItsGroupMovesAndIsReplaced(t *testing.T) {
	c := newCluster(t, ec2sim.Options{Durations: ec2sim.Durations{Stopping: 300 * time.Millisecond, Pending: 300 * time.Millisecond}})
	// Record the order in which EC2 saw things happen.
	var mu sync.Mutex
	var order []string
	cancel := c.env.Sim.OnEvent(func(e ec2sim.Event) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, fmt.Sprintf("%s %s %s", e.Type, e.InstanceID, e.State))
	})
	defer cancel()
	for _, n := range []string{"a", "b", "c"} {
		c.start(n)
	}
	if owner := c.waitStarted(); owner != "a" {
		t.Fatalf("web started on %s, want a", owner)
	}
	crashed := c.ids["a"]
	mu.Lock()
	order = nil // what happens from the crash on
	mu.Unlock()
	c.agents["a"].kill()
	c.cancels["a"]()

	c.eventually("web recovering on b", 30*time.Second, func() bool { return c.holder() == c.ids["b"] && c.running("b") })
	if s := c.instanceState(crashed); s != types.InstanceStateNameStopped && s != types.InstanceStateNameTerminated {
		t.Fatalf("the crashed instance is %s after its addresses moved: fence before recovery broken", s)
	}
	mu.Lock()
	stoppedAt, movedAt := -1, -1
	for i, e := range order {
		if e == fmt.Sprintf("state %s stopped", crashed) && stoppedAt < 0 {
			stoppedAt = i
		}
		if movedAt < 0 && len(e) > 7 && e[:7] == "address" {
			movedAt = i
		}
	}
	mu.Unlock()
	if stoppedAt < 0 || movedAt >= 0 && movedAt < stoppedAt {
		t.Fatalf("EC2 saw %v: the address moved before the crashed instance was stopped", order)
	}
	// Self-healing: a replacement named like the member it replaces.
	c.eventually("a replacement launched for a", 20*time.Second, func() bool {
		out := must(c.env.Client.DescribeInstances(context.Background(), &awsec2.DescribeInstancesInput{Filters: []types.Filter{
			{Name: aws.String("tag:" + replace.ReplacesTag), Values: []string{crashed}},
			{Name: aws.String("tag:" + NodeTag), Values: []string{"a"}}}}))
		return len(out.Reservations) == 1
	})
	hist := must(api.NewClient(c.cfgs["c"].API.Socket, "").History(context.Background(), 0, 1000))
	kinds := map[string]bool{}
	for _, e := range hist {
		if e.Outcome == api.OutcomeOK || e.Outcome == "" {
			kinds[e.Kind] = true
		}
	}
	for _, k := range []string{"member-failed", "fence", "move", "start", api.KindFailover} {
		if !kinds[k] {
			t.Errorf("history on c lacks a %q event: %+v", k, hist)
		}
	}
}

func TestSwitchoverMovesTheGroupAndClearsTheRequest(t *testing.T) {
	c := newCluster(t, ec2sim.Options{})
	for _, n := range []string{"a", "b", "c"} {
		c.start(n)
	}
	c.waitStarted()
	c.eventually("b learning where web runs", 5*time.Second, func() bool { return c.status("b").Groups[0].Owner == "a" })
	client := api.NewClient(c.cfgs["b"].API.Socket, "")
	ticket, err := client.Move(context.Background(), "web", api.MoveRequest{To: "c"})
	if err != nil {
		t.Fatal(err)
	}
	c.eventually("web running on c only", 20*time.Second, func() bool {
		return c.holder() == c.ids["c"] && c.running("c") && !c.running("a")
	})
	c.eventually("the switchover's end recorded on b", 10*time.Second, func() bool {
		for _, e := range must(client.History(context.Background(), ticket.AfterSeq, 100)) {
			if e.Kind == api.KindSwitchover && e.Outcome == api.OutcomeOK {
				return true
			}
		}
		return false
	})
	if s := c.instanceState(c.ids["a"]); s != types.InstanceStateNameRunning {
		t.Fatalf("a planned switchover left a %s: it must stop the group, not fence the node", s)
	}
	c.eventually("the move request cleared", 5*time.Second, func() bool {
		out := must(c.env.Client.DescribeInstances(context.Background(), &awsec2.DescribeInstancesInput{InstanceIds: []string{c.ids["a"]}}))
		return tagOf(out.Reservations[0].Instances[0].Tags, MoveTagPrefix+"web") == ""
	})
}

func TestStandbyMovesTheGroupAwayAndUnstandbyKeepsItWhereItIs(t *testing.T) {
	c := newCluster(t, ec2sim.Options{})
	for _, n := range []string{"a", "b", "c"} {
		c.start(n)
	}
	c.waitStarted()
	client := api.NewClient(c.cfgs["c"].API.Socket, "")
	if err := client.SetStandby(context.Background(), "a", true); err != nil {
		t.Fatal(err)
	}
	c.eventually("web leaving a for b", 20*time.Second, func() bool { return c.holder() == c.ids["b"] && c.running("b") && !c.running("a") })
	if err := client.SetStandby(context.Background(), "a", false); err != nil {
		t.Fatal(err)
	}
	// No failback by default: web stays on b.
	time.Sleep(time.Second)
	if c.holder() != c.ids["b"] || !c.running("b") {
		t.Fatal("unstandby moved web back; failback is off by default")
	}
}

func TestGracefulStopHandsTheGroupOver(t *testing.T) {
	c := newCluster(t, ec2sim.Options{})
	for _, n := range []string{"a", "b", "c"} {
		c.start(n)
	}
	c.waitStarted()
	c.cancels["a"]() // SIGTERM
	c.eventually("web handed over to b", 20*time.Second, func() bool { return c.holder() == c.ids["b"] && c.running("b") && !c.running("a") })
	if s := c.instanceState(c.ids["a"]); s != types.InstanceStateNameRunning {
		t.Fatalf("a handed over yet was fenced (%s)", s)
	}
}

func TestKeyRotationReachesEveryMemberWithoutLosingTheCluster(t *testing.T) {
	c := newCluster(t, ec2sim.Options{})
	for _, n := range []string{"a", "b", "c"} {
		c.start(n)
	}
	c.waitStarted()
	client := api.NewClient(c.cfgs["b"].API.Socket, "")
	ctx := context.Background()
	newKey := filepath.Join(c.dir, "new.key")
	if err := config.WriteKeyFile(newKey); err != nil {
		t.Fatal(err)
	}
	oldKey := must(config.ReadKeyFile(c.cfgs["a"].Gossip.KeyFile))
	key := must(config.ReadKeyFile(newKey))
	enc := func(k []byte) string { return base64.StdEncoding.EncodeToString(k) }
	for _, op := range []api.KeyringRequest{{Op: "install", Key: enc(key)}, {Op: "use", Key: enc(key)}, {Op: "remove", Key: enc(oldKey)}} {
		if _, err := client.Keyring(ctx, op); err != nil {
			t.Fatalf("keyring %s: %v", op.Op, err)
		}
	}
	list := must(client.Keyring(ctx, api.KeyringRequest{Op: "list"}))
	if list.Members != 3 || len(list.Keys) != 1 || list.Keys[list.Primary] != 3 {
		t.Fatalf("after rotation: %+v, want one key, primary on all 3 members", list)
	}
	for k := range list.Keys {
		if strings.Contains(k, enc(key)) || strings.Contains(k, enc(oldKey)) {
			t.Fatal("the keyring listing shows a key, not a fingerprint")
		}
	}
	if _, err := client.Keyring(ctx, api.KeyringRequest{Op: "install", Key: "not base64!"}); err == nil {
		t.Fatal("a key that is not base64 was accepted")
	}
	if st := c.status("c"); !st.Quorum.Quorate || len(st.Members) != 3 {
		t.Fatalf("after rotation the cluster is %+v", st.Quorum)
	}
}

func TestMaintenanceModeObservesAFailureWithoutActing(t *testing.T) {
	c := newCluster(t, ec2sim.Options{})
	for _, n := range []string{"a", "b", "c"} {
		c.start(n)
	}
	c.waitStarted()
	client := api.NewClient(c.cfgs["b"].API.Socket, "")
	if err := client.SetMaintenance(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	c.eventually("status showing maintenance", 5*time.Second, func() bool { return c.status("b").Maintenance })
	c.agents["a"].kill()
	c.cancels["a"]()
	c.eventually("b seeing a dead", 10*time.Second, func() bool {
		for _, m := range c.status("b").Members {
			if m.Name == "a" {
				return m.State == "dead"
			}
		}
		return false
	})
	time.Sleep(time.Second) // settle time and a few steps
	if s := c.instanceState(c.ids["a"]); s != types.InstanceStateNameRunning || c.holder() != c.ids["a"] {
		t.Fatalf("in maintenance mode the cluster acted: a is %s, the EIP on %s", s, c.holder())
	}
	if err := client.SetMaintenance(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	c.eventually("recovery once maintenance is off", 20*time.Second, func() bool { return c.holder() == c.ids["b"] && c.running("b") })
}

// An operator starts a fenced node again with unfence: refused for a node
// that is alive, accepted for the fenced one, whose instance runs again
// and whose agent, started on it, rejoins.
func TestUnfenceStartsAFencedNodeThatRejoins(t *testing.T) {
	c := newCluster(t, ec2sim.Options{Durations: ec2sim.Durations{Stopping: 300 * time.Millisecond, Pending: 300 * time.Millisecond}})
	for _, n := range []string{"a", "b", "c"} {
		c.cfgs[n].Replacement.Enabled = false
		c.start(n)
	}
	if owner := c.waitStarted(); owner != "a" {
		t.Fatalf("web started on %s, want a", owner)
	}
	b := api.NewClient(c.cfgs["b"].API.Socket, "")
	if _, err := b.Unfence(context.Background(), "c"); err == nil || !strings.Contains(err.Error(), "nothing to unfence") {
		t.Fatalf("unfence of the live node c: %v", err)
	}
	c.agents["a"].kill()
	c.cancels["a"]()
	c.eventually("a fenced", 30*time.Second, func() bool { return c.instanceState(c.ids["a"]) == types.InstanceStateNameStopped })
	res, err := b.Unfence(context.Background(), "a")
	if err != nil || res.Outcome != "started" || res.Instance != c.ids["a"] {
		t.Fatalf("unfence a: %+v, %v", res, err)
	}
	c.eventually("a's instance running again", 10*time.Second, func() bool { return c.instanceState(c.ids["a"]) == types.InstanceStateNameRunning })
	c.start("a")
	c.eventually("a alive again in b's view", 20*time.Second, func() bool {
		for _, m := range c.status("b").Members {
			if m.Name == "a" {
				return m.State == "alive"
			}
		}
		return false
	})
}
