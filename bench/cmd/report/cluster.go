package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/demo"
)

// A real cluster of `ec2ha agent` processes against the simulator, built
// with the demo's harness (world, configuration, supervisor), for the
// figures the demo does not give: EC2 API calls in steady state and per
// failover, counted per agent from each agent's ec2ha_ec2_api_calls_total
// and, as a cross-check, per action on the simulator's side; and each
// agent's resident memory and CPU from /proc, idle and during a failover.
//
// Nothing here asks an agent for its status: the status call reads EC2,
// and would be counted as the cluster's own cost. Readiness comes from
// the agents' metrics (ec2ha_quorate) and their history (start events),
// neither of which touches EC2.

type clusterSpec struct {
	Name   string
	Nodes  int
	Groups int
	// Steady is the quiet window over which calls and idle CPU are
	// counted; the per-hour figures extrapolate from it.
	Steady time.Duration
	// Ready bounds the start-up: every agent quorate, every group started.
	Ready time.Duration
}

type clusterResult struct {
	Spec    clusterSpec
	Err     string   `json:",omitempty"`
	Notes   []string `json:",omitempty"`
	Startup time.Duration

	Coordinator string
	Steady      window
	Victim      string
	VictimOwned int // groups the victim ran
	Failover    *window
	// FailoverTook is from the crash to the start of the victim's last
	// group on a survivor.
	FailoverTook time.Duration
	// Milestones of the failover since the crash, from the agents'
	// histories: detected (the first member-failed about the victim),
	// fence-requested and fence-confirmed (the fence event and its
	// duration), first-move and last-move (the victim's groups' address
	// moves).
	Milestones map[string]time.Duration `json:",omitempty"`
}

// window is what happened between two snapshots of the cluster.
type window struct {
	Took    time.Duration
	ByAgent map[string]map[string]float64 // node -> action -> calls (agent metrics)
	Sim     map[string]int                // action -> calls the simulator answered
	Procs   map[string]procDelta          // node -> resource use
	// Failed counts member-failed events in the agents' histories during
	// the window, about FailedMembers distinct members; in the steady
	// window nothing was crashed, so every one is a false positive.
	Failed        int `json:",omitempty"`
	FailedMembers int `json:",omitempty"`
}

type procDelta struct {
	RSSMiB, PeakMiB      float64
	CPUPct, HooksCPUPct  float64 // share of one core
	CPUSeconds, HooksSec float64
}

func (w window) total() (agents float64) {
	for _, m := range w.ByAgent {
		for _, v := range m {
			agents += v
		}
	}
	return agents
}

func (w window) simTotal() (n int) {
	for _, v := range w.Sim {
		n += v
	}
	return n
}

// perHour extrapolates a count over the window to an hour.
func (w window) perHour(n float64) float64 {
	if w.Took <= 0 {
		return 0
	}
	return n * float64(time.Hour) / float64(w.Took)
}

type clusterNode struct {
	node     demo.Node
	proc     *demo.Proc
	metrics  string // http://addr:port/metrics
	api      *api.Client
	afterSeq uint64
}

type cluster struct {
	spec   clusterSpec
	bin    string
	env    *simEnv
	w      *demo.World
	l      demo.Layout
	sup    *demo.Supervisor
	nodes  []*clusterNode
	http   *http.Client
	groups []string

	mu      sync.Mutex
	started map[string]startEvent // group -> its newest successful start
	failed  []failedEvent         // member-failed events in any agent's history
	events  []api.Event           // fence and move events, from any agent's history
}

type failedEvent struct {
	Observer, Member string
	At               time.Time
}

type startEvent struct {
	Node string
	At   time.Time
}

func runClusters(ctx context.Context, bin string, specs []clusterSpec, dataDir string) []clusterResult {
	var out []clusterResult
	for _, s := range specs {
		logf("cluster: %s (%d agents, %d groups, %v steady window)", s.Name, s.Nodes, s.Groups, s.Steady)
		r := runCluster(ctx, bin, s, filepath.Join(dataDir, "cluster-"+slug(s.Name)+"-logs"))
		if r.Err != "" {
			logf("cluster %s: %s", s.Name, r.Err)
		}
		name := "cluster-" + slug(s.Name) + ".json"
		if b, err := json.MarshalIndent(r, "", "  "); err == nil {
			_ = os.WriteFile(filepath.Join(dataDir, name), b, 0o644)
		}
		out = append(out, r)
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// runCluster runs one cluster; when it fails, the agents' logs are
// copied to logDir.
func runCluster(ctx context.Context, bin string, spec clusterSpec, logDir string) (res clusterResult) {
	res.Spec = spec
	if _, err := os.Stat(bin); err != nil {
		res.Err = fmt.Sprintf("%s does not exist (make build failed?)", bin)
		return res
	}
	c := &cluster{spec: spec, bin: bin, sup: &demo.Supervisor{}, http: &http.Client{Timeout: 3 * time.Second}, started: map[string]startEvent{}}
	defer func() {
		if res.Err != "" && c.l.Dir != "" {
			res.Notes = append(res.Notes, c.logTails(3)...)
		}
		if killed := c.sup.StopAll(5 * time.Second); len(killed) > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%d agents had to be killed after 5 s without exiting on SIGTERM", len(killed)))
		}
		if res.Err != "" && c.l.Dir != "" {
			if err := copyLogs(c.l.Dir, logDir); err == nil {
				res.Notes = append(res.Notes, "the agents' logs are in data/"+filepath.Base(logDir))
			}
		}
		if c.env != nil {
			c.env.close()
		}
		if c.l.Dir != "" {
			_ = os.RemoveAll(c.l.Dir)
		}
	}()
	if err := c.build(ctx); err != nil {
		res.Err = err.Error()
		return res
	}
	began := time.Now()
	if err := c.waitReady(ctx); err != nil {
		res.Err = err.Error()
		return res
	}
	res.Startup = time.Since(began)
	// Let the first placement's follow-ups (tags, a last resync) pass.
	if err := sleep(ctx, 5*time.Second); err != nil {
		res.Err = err.Error()
		return res
	}

	before, err := c.snapshot(ctx, c.nodes)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	if err := sleep(ctx, spec.Steady); err != nil {
		res.Err = err.Error()
		return res
	}
	after, err := c.snapshot(ctx, c.nodes)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.Steady = diff(before, after)
	res.Coordinator = after.coordinator

	// The failover: the owner of the first group crashes, as in the demo.
	victim, ok := c.owner(c.groups[0])
	if !ok {
		res.Err = "no start event names the owner of " + c.groups[0]
		return res
	}
	res.Victim = victim
	var owned []string
	for _, g := range c.groups {
		if o, _ := c.owner(g); o == victim {
			owned = append(owned, g)
		}
	}
	res.VictimOwned = len(owned)
	var survivors []*clusterNode
	var vn *clusterNode
	for _, n := range c.nodes {
		if n.node.Name == victim {
			vn = n
		} else {
			survivors = append(survivors, n)
		}
	}
	before, err = c.snapshot(ctx, survivors)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	fault := time.Now()
	vn.proc.Kill()
	// The machine hangs: IMDS and status checks stop answering too.
	_ = c.env.sim.SetMachineGone(vn.node.InstanceID, true)
	done, err := c.waitMoved(ctx, owned, victim, fault, survivors)
	if err != nil {
		res.Err = "failover: " + err.Error()
		return res
	}
	res.FailoverTook = done.Sub(fault)
	res.Milestones = c.milestones(fault, victim, owned)
	// The fence's history tags and the next resync come just after the
	// last start; two seconds more catch them.
	if err := sleep(ctx, 2*time.Second); err != nil {
		res.Err = err.Error()
		return res
	}
	after, err = c.snapshot(ctx, survivors)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	fw := diff(before, after)
	res.Failover = &fw
	return res
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// build creates the world and starts one agent per node. Every group
// looks like the demo's (one Elastic IP, one overlay IP, start/stop/
// monitor hooks on a state file); groups beyond the first get their own
// Elastic IP, overlay address and state file, a rotated node order so
// they spread over the nodes, and the configuration's default 10 s
// monitor interval instead of the demo's 1 s. Replacement is off: a
// replacement's agent would have to be started by someone, and its
// launch is the demo's to show (section 6a).
func (c *cluster) build(ctx context.Context) error {
	env, err := startSim(ctx, profile{Name: "cluster", Stopping: ec2sim.DemoDurations.Stopping})
	if err != nil {
		return err
	}
	c.env = env
	ss := &demo.SimServer{Sim: env.sim, URL: env.URL}
	setup, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if c.w, err = demo.BuildWorld(setup, ss, c.spec.Nodes); err != nil {
		return err
	}
	type extra struct{ alloc, overlay string }
	var extras []extra
	client := ss.Client()
	for g := 2; g <= c.spec.Groups; g++ {
		out, err := client.AllocateAddress(setup, &awsec2.AllocateAddressInput{Domain: types.DomainTypeVpc})
		if err != nil {
			return fmt.Errorf("allocating the Elastic IP of group %d: %w", g, err)
		}
		extras = append(extras, extra{aws.ToString(out.AllocationId), fmt.Sprintf("192.168.101.%d", g)})
	}
	dir, err := os.MkdirTemp("", "ec2ha-bench-cluster-")
	if err != nil {
		return err
	}
	c.l = demo.Layout{Dir: dir}
	if err := config.WriteKeyFile(c.l.KeyFile()); err != nil {
		return err
	}
	addrs := make([]string, len(c.w.Nodes))
	for i, n := range c.w.Nodes {
		addrs[i] = n.Addr
	}
	ports, err := demo.FindPorts(addrs, 27946)
	if err != nil {
		return err
	}
	for _, n := range c.w.Nodes {
		imds, err := env.sim.IMDSEndpoint(n.InstanceID)
		if err != nil {
			return err
		}
		cfg := demo.NodeConfig(c.w, c.l, ports, env.URL, n, "", imds)
		cfg.Replacement.Enabled = false
		base := cfg.Groups[0]
		for i, e := range extras {
			g := base
			// One or two characters: every node gossips the names of
			// the groups it can host and runs in its node metadata,
			// which memberlist caps at 512 bytes; 50 names like the
			// demo's (web-02…) do not fit.
			g.Name = strconv.Itoa(i + 2)
			k := (i + 1) % len(base.Nodes)
			g.Nodes = append(slices.Clone(base.Nodes[k:]), base.Nodes[:k]...)
			g.Resources = config.Resources{
				ElasticIPs: []config.ElasticIP{{AllocationID: e.alloc}},
				OverlayIPs: []config.OverlayIP{{Address: e.overlay, RouteTables: []string{c.w.RouteTable}}},
			}
			file := `"$DEMO_STATE_FILE.group-` + g.Name + `"`
			g.Hooks = config.Hooks{
				Start:   config.Hook{Command: "touch " + file, Timeout: 5 * time.Second},
				Stop:    config.Hook{Command: "rm -f " + file, Timeout: 5 * time.Second},
				Monitor: config.Hook{Command: "test -f " + file, Timeout: 2 * time.Second, Interval: 10 * time.Second},
			}
			cfg.Groups = append(cfg.Groups, g)
		}
		if n.Index == 1 {
			for _, g := range cfg.Groups {
				c.groups = append(c.groups, g.Name)
			}
		}
		if err := demo.WriteConfig(c.l.ConfigFile(n.Name), cfg); err != nil {
			return err
		}
		p, err := c.sup.Start(n.Name+"/agent", []string{c.bin, "agent", "--config", c.l.ConfigFile(n.Name)},
			demo.ChildEnv(dir, "DEMO_STATE_FILE="+c.l.StateFile(n.Name)), c.l.AgentLog(n.Name, n.InstanceID))
		if err != nil {
			return err
		}
		c.nodes = append(c.nodes, &clusterNode{node: n, proc: p,
			metrics: "http://" + net.JoinHostPort(n.Addr, strconv.Itoa(ports.Metrics)) + "/metrics",
			api:     api.NewClient(c.l.Socket(n.Name), "")})
	}
	return nil
}

// waitReady waits until every agent is quorate and every group started.
func (c *cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.spec.Ready)
	defer cancel()
	for {
		quorate := 0
		var dead []string
		for _, n := range c.nodes {
			if !n.proc.Alive() {
				dead = append(dead, n.node.Name)
				continue
			}
			c.readHistory(ctx, n)
			if text, err := c.scrape(ctx, n); err == nil && promLabeled(text, "ec2ha_quorate", "")[""] == 1 {
				quorate++
			}
		}
		if len(dead) > 0 {
			return fmt.Errorf("agents exited during start-up: %s", strings.Join(dead, ", "))
		}
		c.mu.Lock()
		started := len(c.started)
		c.mu.Unlock()
		if quorate == len(c.nodes) && started == len(c.groups) {
			return nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return fmt.Errorf("not ready within %v: %d of %d agents quorate, %d of %d groups started", c.spec.Ready, quorate, len(c.nodes), started, len(c.groups))
		}
	}
}

// readHistory takes n's new history events and keeps each group's newest
// successful start.
func (c *cluster) readHistory(ctx context.Context, n *clusterNode) {
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	evs, err := n.api.History(hctx, n.afterSeq, 1000)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range evs {
		n.afterSeq = max(n.afterSeq, e.Seq)
		if e.Kind == "member-failed" {
			c.failed = append(c.failed, failedEvent{Observer: n.node.Name, Member: e.Node, At: e.Time})
		}
		if (e.Kind == "fence" || e.Kind == "move") && e.Outcome == api.OutcomeOK {
			c.events = append(c.events, e)
		}
		if e.Kind == "start" && e.Outcome == api.OutcomeOK && e.Group != "" {
			if old, ok := c.started[e.Group]; !ok || e.Time.After(old.At) {
				c.started[e.Group] = startEvent{Node: e.Node, At: e.Time}
			}
		}
	}
}

func (c *cluster) owner(group string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.started[group]
	return s.Node, ok
}

// waitMoved waits until every group in groups has started on a node other
// than victim after fault, and returns the newest of those starts.
func (c *cluster) waitMoved(ctx context.Context, groups []string, victim string, fault time.Time, survivors []*clusterNode) (time.Time, error) {
	// Each group is moved and started in turn, each action after a
	// fresh read of EC2, so the bound grows with the groups.
	// With many agents on a small machine everything is slower still.
	bound := 30*time.Second + time.Duration(len(groups))*5*time.Second + time.Duration(len(c.nodes))*time.Second/2
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for {
		for _, n := range survivors {
			c.readHistory(ctx, n)
		}
		var last time.Time
		moved := 0
		c.mu.Lock()
		for _, g := range groups {
			if s := c.started[g]; s.Node != victim && s.At.After(fault) {
				moved++
				if s.At.After(last) {
					last = s.At
				}
			}
		}
		c.mu.Unlock()
		if moved == len(groups) {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%d of %d groups of %s started elsewhere within %v", moved, len(groups), victim, bound)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *cluster) scrape(ctx context.Context, n *clusterNode) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.metrics, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", n.metrics, resp.Status)
	}
	return string(b), err
}

type snapshot struct {
	at          time.Time
	calls       map[string]map[string]float64
	procs       map[string]procSample
	simMark     int
	env         *simEnv
	coordinator string
	failed      []failedEvent
}

// snapshot reads the calls counted so far by each of nodes and by the
// simulator, and each agent process's /proc figures.
func (c *cluster) snapshot(ctx context.Context, nodes []*clusterNode) (snapshot, error) {
	s := snapshot{at: time.Now(), calls: map[string]map[string]float64{}, procs: map[string]procSample{}, simMark: c.env.mark(), env: c.env}
	var errs []error
	for _, n := range nodes {
		c.readHistory(ctx, n)
		text, err := c.scrape(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("metrics of %s: %w", n.node.Name, err))
			continue
		}
		s.calls[n.node.Name] = promLabeled(text, "ec2ha_ec2_api_calls_total", "action")
		if promLabeled(text, "ec2ha_coordinator", "")[""] == 1 {
			s.coordinator = n.node.Name
		}
		p, err := readProc(n.proc.Pid())
		if err != nil {
			errs = append(errs, fmt.Errorf("/proc of %s: %w", n.node.Name, err))
			continue
		}
		s.procs[n.node.Name] = p
	}
	c.mu.Lock()
	s.failed = slices.Clone(c.failed)
	c.mu.Unlock()
	return s, errors.Join(errs...)
}

func diff(a, b snapshot) window {
	w := window{Took: b.at.Sub(a.at), ByAgent: map[string]map[string]float64{}, Sim: map[string]int{}, Procs: map[string]procDelta{}}
	members := map[string]bool{}
	for _, f := range b.failed {
		if f.At.After(a.at) && !f.At.After(b.at) {
			w.Failed++
			members[f.Member] = true
		}
	}
	w.FailedMembers = len(members)
	for node, after := range b.calls {
		m := map[string]float64{}
		for action, v := range after {
			if d := v - a.calls[node][action]; d > 0 {
				m[action] = d
			}
		}
		w.ByAgent[node] = m
	}
	for _, call := range b.env.since(a.simMark)[:b.simMark-a.simMark] {
		w.Sim[call.Action]++
	}
	for node, pb := range b.procs {
		pa, ok := a.procs[node]
		if !ok {
			continue
		}
		w.Procs[node] = procDelta{RSSMiB: float64(pb.RSSKiB) / 1024, PeakMiB: float64(pb.HWMKiB) / 1024,
			CPUPct: cpuPercent(pa, pb, false), HooksCPUPct: cpuPercent(pa, pb, true),
			CPUSeconds: float64(pb.Self-pa.Self) / clockTicks, HooksSec: float64(pb.Children-pa.Children) / clockTicks}
	}
	return w
}

// logTails is the end of the first few agents' logs, for a failed run.
func (c *cluster) logTails(n int) []string {
	logs, _ := filepath.Glob(filepath.Join(c.l.Dir, "*-agent.log"))
	slices.Sort(logs)
	var out []string
	for _, path := range logs[:min(n, len(logs))] {
		out = append(out, fmt.Sprintf("last lines of %s: %s", filepath.Base(path), oneLine(demo.Tail(path, 5))))
	}
	return out
}

func copyLogs(from, to string) error {
	logs, _ := filepath.Glob(filepath.Join(from, "*-agent.log"))
	if len(logs) == 0 {
		return errors.New("no logs")
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(l)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) milestones(fault time.Time, victim string, groups []string) map[string]time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]time.Duration{}
	first := func(key string, at time.Time) {
		if d := at.Sub(fault); d >= 0 {
			if old, ok := m[key]; !ok || d < old {
				m[key] = d
			}
		}
	}
	for _, f := range c.failed {
		if f.Member == victim {
			first("detected", f.At)
		}
	}
	for _, e := range c.events {
		switch {
		case e.Kind == "fence" && e.Node == victim:
			first("fence-requested", e.Time.Add(-e.Duration))
			first("fence-confirmed", e.Time)
		case e.Kind == "move" && slices.Contains(groups, e.Group):
			first("first-move", e.Time)
			if d := e.Time.Sub(fault); d >= 0 && d > m["last-move"] {
				m["last-move"] = d
			}
		}
	}
	return m
}
