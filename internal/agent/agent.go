package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/ec2/replace"
	"github.com/ec2ha/ec2ha/failover"
	"github.com/ec2ha/ec2ha/fencing"
	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/clock"
	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/metrics"
	"github.com/ec2ha/ec2ha/internal/sdnotify"
	"github.com/ec2ha/ec2ha/internal/version"
	"github.com/ec2ha/ec2ha/membership"
)

// NodeTag names the tag that gives an instance its member name. A
// replacement carries the name of the member it replaces, so the cluster's
// configuration (group node lists) stays valid after self-healing.
const NodeTag = "ec2ha:node"

// Options are what Run needs besides the configuration.
type Options struct {
	Logger *slog.Logger
	Clock  clock.Clock
	// Reload re-reads the configuration for SIGHUP; nil disables reload.
	Reload func() (*config.Config, error)
	// Hangup delivers SIGHUP.
	Hangup <-chan struct{}
}

// Agent is one running ec2ha agent.
type Agent struct {
	log     *slog.Logger
	clk     clock.Clock
	id      ec2.Identity
	name    string
	ec2     ec2.API
	node    *membership.Node
	fencer  *fencing.PowerFencer
	replace *replace.Replacer // nil when replacement is off
	metrics *metrics.Agent
	journal *journal
	local   *localGroups
	obs     *observer
	wake    chan struct{}
	ready   atomic.Bool
	// launching holds the fenced instances whose replacement is being
	// launched by this node.
	launching sync.Map
	// stopped is closed when the agent begins to stop.
	stopped chan struct{}
	// killed makes the agent vanish as a crash would: no hooks, no
	// leave message (tests only).
	killed atomic.Bool

	mu  sync.Mutex
	cfg *config.Config
	// restartExecutor ends the running executor so a new one starts with
	// the reloaded configuration.
	restartExecutor context.CancelFunc
	// engine is the decision engine's configuration, rebuilt on reload.
	engine failover.Config

	failoverMu sync.Mutex
	// failovers are the group moves this node coordinates, by group,
	// from their first step until the group starts elsewhere.
	failovers map[string]failoverStart
}

// Run starts an agent and runs it until ctx ends.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	a, err := New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	return a.Run(ctx, opts)
}

// Run serves the local API and runs the coordinator until ctx ends, then
// shuts down as node.shutdown says.
func (a *Agent) Run(ctx context.Context, opts Options) error {
	cfg, _ := a.config()
	srv, err := startServers(cfg, &backend{a}, a.metrics, a.log)
	if err != nil {
		_ = a.node.Shutdown()
		return err
	}
	if _, err := sdnotify.Ready(); err != nil {
		a.log.Warn("telling systemd the agent is ready", "err", err)
	}
	a.ready.Store(true)

	runCtx, stopRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.watchMembership(runCtx) })
	wg.Go(func() { a.runExecutor(runCtx) })
	a.record(api.Event{Kind: "agent", Node: a.name, Outcome: api.OutcomeOK,
		Message: fmt.Sprintf("agent %s started on %s (%s), ec2ha %s", a.name, a.id.InstanceID, a.id.AZ, version.Version)})

	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-opts.Hangup:
			if opts.Reload != nil {
				a.reload(opts.Reload)
			}
		}
	}

	_, _ = sdnotify.Stopping()
	close(a.stopped)
	if !a.killed.Load() {
		cfg, _ = a.config()
		a.shutdown(cfg)
	}
	stopRun()
	wg.Wait()
	a.local.stopMonitors()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.close(shutdownCtx)
	if a.killed.Load() {
		return nil
	}
	err = a.node.Leave(2 * time.Second)
	a.log.Info("agent stopped", "node", a.name)
	return err
}

// New starts an agent in the order the cluster needs: identity from IMDS,
// the EC2 client, the node name, fencing and replacement, then membership
// (join). It acts only once Run is called.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Agent, error) {
	return start(ctx, cfg, opts)
}

func start(ctx context.Context, cfg *config.Config, opts Options) (*Agent, error) {
	a := &Agent{
		log:     opts.Logger,
		clk:     opts.Clock,
		cfg:     cfg,
		metrics: metrics.New(),
		journal: newJournal(1000),
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.clk == nil {
		a.clk = clock.Real{}
	}
	a.engine = engineConfig(cfg)

	imds := ec2.NewIMDS(cfg.AWS.IMDSEndpoint)
	id, err := ec2.ReadIdentity(ctx, imds, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if cfg.Node.InstanceID != "" && cfg.Node.InstanceID != id.InstanceID {
		return nil, fmt.Errorf("node.instance_id is %s but IMDS says this is %s: remove node.instance_id or correct it", cfg.Node.InstanceID, id.InstanceID)
	}
	a.id = id
	region := cfg.AWS.Region
	if region == "" {
		region = id.Region
	}
	client, err := ec2.NewClient(ctx, ec2.ClientConfig{Region: region, Endpoint: cfg.AWS.Endpoint,
		MaxAttempts: cfg.AWS.MaxAttempts, CallTimeout: cfg.AWS.CallTimeout, IMDS: imds})
	if err != nil {
		return nil, err
	}
	a.ec2 = ec2.Observed(client, a.metrics.ObserveEC2Call)
	if a.name, err = a.resolveName(ctx, cfg); err != nil {
		return nil, err
	}
	a.log = a.log.With("node", a.name)
	spec := nodeSpec(cfg, a.name)
	a.local = newLocalGroups(a, spec != nil && spec.Witness)
	a.obs = &observer{a: a, since: a.clk.Now()}

	a.fencer, err = fencing.New(a.ec2, fencing.Config{
		Cluster: cfg.Cluster.Name, Self: id.InstanceID, Levels: fenceLevels(cfg.Fencing),
		PollInterval: cfg.Fencing.PollInterval, FencingDelay: cfg.Cluster.TwoNodeFencingDelay,
		VanishedIsFenced: cfg.Fencing.VanishedIsFenced, Clock: a.clk, Logger: a.log,
	})
	if err != nil {
		return nil, err
	}
	if r := cfg.Replacement; r.Enabled {
		a.replace, err = replace.New(a.ec2, a.clk, replace.Config{
			LaunchTemplateID: r.LaunchTemplate.ID, LaunchTemplateName: r.LaunchTemplate.Name, Version: r.LaunchTemplate.Version,
			Subnets: r.Subnets, ClusterTagKey: fencing.ClusterTag, ClusterTagValue: cfg.Cluster.Name,
			MaxPerHour: r.MaxPerHour, PollInterval: time.Second, Fate: fate(r.FencedInstance),
		})
		if err != nil {
			return nil, err
		}
	}

	mcfg, err := a.membershipConfig(cfg)
	if err != nil {
		return nil, err
	}
	if a.node, err = membership.Start(mcfg); err != nil {
		return nil, err
	}
	a.log.Info("joined gossip", "address", a.node.Addr(), "instance", id.InstanceID, "zone", id.AZ)
	return a, nil
}

// kill stops gossip at once, as a crashed instance would, and makes Run
// return without handing over, stopping hooks or leaving once its context
// ends.
func (a *Agent) kill() {
	a.killed.Store(true)
	_ = a.node.Shutdown()
}

// resolveName is node.name, else the instance's ec2ha:node tag, else the
// instance id.
func (a *Agent) resolveName(ctx context.Context, cfg *config.Config) (string, error) {
	name := cfg.Node.Name
	if name == "" {
		out, err := a.ec2.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{a.id.InstanceID}})
		if err != nil {
			return "", fmt.Errorf("reading this instance's %s tag for its node name (or set node.name): %w", NodeTag, err)
		}
		for _, r := range out.Reservations {
			for _, inst := range r.Instances {
				name = tagOf(inst.Tags, NodeTag)
			}
		}
	}
	if name == "" {
		name = a.id.InstanceID
	}
	if len(cfg.Nodes) > 0 && nodeSpec(cfg, name) == nil {
		return "", fmt.Errorf("this node is %q but nodes lists only %v: set node.name or the instance's %s tag to one of them", name, nodeNames(cfg), NodeTag)
	}
	return name, nil
}

func (a *Agent) membershipConfig(cfg *config.Config) (membership.Config, error) {
	var keys [][]byte
	if !cfg.Gossip.Insecure {
		key, err := config.ReadKeyFile(cfg.Gossip.KeyFile)
		if err != nil {
			return membership.Config{}, fmt.Errorf("gossip.key_file: %w", err)
		}
		keys = [][]byte{key}
	} else {
		a.log.Warn("gossip is NOT encrypted (gossip.insecure): anyone on the network can join this cluster")
	}
	var join []string
	for _, n := range cfg.Nodes {
		if n.Address != "" && n.Name != a.name {
			join = append(join, n.Address)
		}
	}
	join = append(join, cfg.Gossip.Join...)
	var discover membership.Discoverer
	if cfg.Gossip.Discover {
		discover = membership.EC2Discovery{EC2: a.ec2, Cluster: cfg.Cluster.Name, Port: cfg.Gossip.BindPort}
	}
	expected := cfg.Cluster.ExpectedVotes
	if expected == 0 {
		expected = len(cfg.Nodes)
	}
	bindAddr, advertise := cfg.Gossip.BindAddr, cfg.Gossip.AdvertiseAddr
	if advertise == "" && (bindAddr == "" || bindAddr == "0.0.0.0") {
		advertise = a.id.PrivateIP
	}
	return membership.Config{
		ClusterName: cfg.Cluster.Name, NodeName: a.name,
		BindAddr: bindAddr, BindPort: cfg.Gossip.BindPort,
		AdvertiseAddr: advertise, AdvertisePort: cfg.Gossip.AdvertisePort,
		Keys: keys, Insecure: cfg.Gossip.Insecure,
		Profile: cfg.Gossip.Profile,
		Timing: membership.Timing{ProbeInterval: cfg.Gossip.ProbeInterval, ProbeTimeout: cfg.Gossip.ProbeTimeout,
			SuspicionMult: cfg.Gossip.SuspicionMult, GossipInterval: cfg.Gossip.GossipInterval},
		Join: join, Discover: discover,
		Meta: a.local.meta(),
		Quorum: membership.QuorumPolicy{ExpectedVotes: expected, TwoNode: cfg.Cluster.TwoNode,
			WaitForAll: cfg.Cluster.WaitForAll},
		Logger: a.log, Registerer: a.metrics.Registry, Clock: a.clk,
		Handler: a.handleCall,
	}, nil
}

// config returns the configuration in force.
func (a *Agent) config() (*config.Config, failover.Config) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg, a.engine
}

// poke wakes the executor for an early step.
func (a *Agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// watchMembership turns membership events into history and early steps.
func (a *Agent) watchMembership(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-a.node.Events():
			switch ev.Type {
			case membership.EventUpdate:
				// metadata changes (a group started elsewhere) matter to
				// the coordinator but are not history
			default:
				msg := fmt.Sprintf("member %s %s", ev.Node.Name, ev.Type)
				if ev.Reason != "" {
					msg += ": " + ev.Reason
				}
				a.journal.add(api.Event{Time: ev.Time, Kind: "member-" + string(ev.Type), Node: ev.Node.Name, Message: msg})
				a.log.Info("membership", "member", ev.Node.Name, "event", ev.Type, "reason", ev.Reason)
			}
			q := a.node.Quorum()
			metrics.SetBool(a.metrics.Quorate, q.Has())
			_, _ = sdnotify.Status(fmt.Sprintf("%s: %d/%d votes", q.State, q.Votes, q.Expected))
			a.poke()
		}
	}
}

// runExecutor runs the decision loop, rebuilt when a reload changes the
// engine's configuration. The executor keeps no state, so replacing it
// loses nothing.
func (a *Agent) runExecutor(ctx context.Context) {
	for ctx.Err() == nil {
		_, engine := a.config()
		exec := &failover.Executor{Config: engine, Observer: a.obs, Actor: &actor{a}, Clock: a.clk,
			Resync: 2 * time.Second, Record: a.recordDecision,
			Failed: func(err error) { a.log.Warn("coordinator step failed; trying again", "err", err) }}
		loopCtx, cancel := context.WithCancel(ctx)
		a.mu.Lock()
		a.restartExecutor = cancel
		a.mu.Unlock()
		_ = exec.Run(loopCtx, a.wake)
		cancel()
	}
}

// shutdown hands the groups running here over before leaving.
func (a *Agent) shutdown(cfg *config.Config) {
	running := a.local.names()
	if len(running) == 0 {
		return
	}
	if cfg.Node.Shutdown == "handover" && a.handoverPossible() {
		a.log.Info("handing groups over before leaving", "groups", running, "timeout", cfg.Node.ShutdownTimeout)
		a.local.setLeaving()
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Node.ShutdownTimeout)
		defer cancel()
		// Done when every group runs on another node: leaving as soon as
		// the stop hook ran here would leave the addresses on this
		// instance with nobody running the group, and the coordinator
		// would then have to fence this instance to recover them.
		for !a.runElsewhere(running) && ctx.Err() == nil && a.handoverPossible() {
			a.poke()
			_ = clock.Sleep(ctx, a.clk, 100*time.Millisecond)
		}
		if a.runElsewhere(running) {
			a.record(api.Event{Kind: "handover", Node: a.name, Outcome: api.OutcomeOK, Message: a.name + " handed its groups over before stopping"})
			return
		}
		a.log.Warn("handover did not finish (timed out, quorum lost, or no other node can take the groups); stopping the groups here", "groups", a.local.names())
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Node.ShutdownTimeout)
	defer cancel()
	for _, g := range a.local.names() {
		if err := a.local.stop(ctx, g, "agent stopping"); err != nil {
			a.log.Error("stopping group on shutdown", "group", g, "err", err)
		}
	}
}

// runElsewhere reports whether each group runs on another alive member.
func (a *Agent) runElsewhere(groups []string) bool {
	if len(a.local.names()) > 0 {
		return false
	}
	view := a.node.View()
	for _, g := range groups {
		found := false
		for _, m := range view.Members {
			if m.Name != a.name && m.State == membership.StateAlive && slices.Contains(m.Meta.Running, g) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// handoverPossible reports whether another member could take the groups:
// without one, waiting for a handover only delays the stop.
func (a *Agent) handoverPossible() bool {
	if !a.node.Quorum().Has() {
		return false
	}
	for _, m := range a.node.View().Members {
		if m.Name != a.name && m.State == membership.StateAlive && !m.Meta.Witness && !m.Meta.Standby {
			return true
		}
	}
	return false
}

// record adds e to the local history and sends it to every other member,
// so `ec2ha history` on any node shows what the coordinator did.
func (a *Agent) record(e api.Event) {
	if e.Time.IsZero() {
		e.Time = a.clk.Now()
	}
	a.journal.add(e)
	body, err := encodeCall(call{Op: opEvent, Event: &e})
	if err != nil {
		return
	}
	for _, m := range a.node.View().Members {
		if m.Name == a.name || m.State != membership.StateAlive {
			continue
		}
		go func(to string) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, _ = a.node.Call(ctx, to, body)
		}(m.Name)
	}
}

// recordDecision keeps the engine's explanations (waits and reasons for
// doing nothing) in the history when they change; executed actions are
// recorded by the actor with their durations.
func (a *Agent) recordDecision(ev failover.Event) {
	act := ev.Action
	if act.Kind != failover.Nothing && act.Kind != failover.Wait {
		return
	}
	if !a.obs.explanationChanged(act) {
		return
	}
	a.log.Info("decision", "action", act.Kind.String(), "group", act.Group, "reason", act.Reason)
	e := api.Event{Time: a.clk.Now(), Kind: "decision", Group: act.Group, Node: act.Node, Message: act.Reason}
	// The coordinator's explanations ("maintenance mode: observing
	// only; would fence ...") are shared like its actions, so `history`
	// on any node says why nothing happens; the others' ("node-1
	// coordinates", no quorum here) stay local.
	if a.obs.isCoordinator() {
		a.record(e)
		return
	}
	a.journal.add(e)
}

func engineConfig(cfg *config.Config) failover.Config {
	ec := failover.Config{
		SettleTime:        cfg.Cluster.SettleTime,
		NoQuorumStopAfter: cfg.Cluster.NoQuorumStopAfter,
		Replacement:       failover.Replacement{Enabled: cfg.Replacement.Enabled, MaxPerHour: cfg.Replacement.MaxPerHour},
	}
	if cfg.Cluster.NoQuorumPolicy != "stop" {
		// "freeze": keep serving without quorum, take no action. A stop
		// delay longer than any uptime is that policy in the engine's one
		// knob.
		ec.NoQuorumStopAfter = 100 * 365 * 24 * time.Hour
	}
	for _, g := range cfg.Groups {
		ec.Groups = append(ec.Groups, failover.GroupConfig{Name: g.Name, Nodes: g.Nodes, Failback: g.Failback,
			MigrationThreshold: g.MigrationThreshold, FenceOnMonitorFailure: g.FenceOnMonitorFailure})
	}
	return ec
}

func fenceLevels(f config.Fencing) []fencing.Level {
	method := func(m string) fencing.Method {
		if m == "terminate" {
			return fencing.Terminate
		}
		return fencing.StopForce
	}
	if len(f.Levels) == 0 {
		return []fencing.Level{{Method: method(f.Action), Timeout: f.Timeout}}
	}
	var out []fencing.Level
	for _, l := range f.Levels {
		t := l.Timeout
		if t == 0 {
			t = f.Timeout
		}
		out = append(out, fencing.Level{Method: method(l.Method), Timeout: t})
	}
	return out
}

func fate(s string) replace.Fate {
	switch s {
	case "keep":
		return replace.KeepStopped
	case "start":
		return replace.Restart
	}
	return replace.Terminate
}

func nodeSpec(cfg *config.Config, name string) *config.NodeSpec {
	for i := range cfg.Nodes {
		if cfg.Nodes[i].Name == name {
			return &cfg.Nodes[i]
		}
	}
	return nil
}

func nodeNames(cfg *config.Config) []string {
	var out []string
	for _, n := range cfg.Nodes {
		out = append(out, n.Name)
	}
	return out
}

var errNoQuorum = errors.New("this node has no quorum")
