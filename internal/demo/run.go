package demo

import (
	"bufio"
	"context"
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

	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
)

// Faults the demo can inject on the active node.
const (
	FaultCrash     = "crash"
	FaultPartition = "partition"
	FaultThrottle  = "throttle"
)

// Options configure a demo run.
type Options struct {
	Nodes int
	Fault string
	// Keep leaves the cluster running after the timeline until ctx ends.
	Keep bool
	// JSON prints the report as JSON on Out; live lines go to Err.
	JSON bool
	// Exe is the ec2ha binary the agents and applications run from.
	Exe string
	// StepTimeout bounds the wait for each next step; 60s if zero.
	StepTimeout time.Duration
	// ThrottleRate is the share of EC2 calls answered RequestLimitExceeded
	// during a throttle fault; 0.25 if zero.
	ThrottleRate float64
	// Durations of the simulated instance states; DemoDurations if zero.
	Durations ec2sim.Durations
	Out, Err  io.Writer
}

// nodeProcs are the processes standing in for one node's machine.
type nodeProcs struct {
	node       Node
	instanceID string
	agent, app *Proc
}

type run struct {
	o   Options
	sim *SimServer
	ec2 *awsec2.Client
	w   *World
	l   Layout
	p   Ports
	sup *Supervisor
	tl  *Timeline
	out io.Writer // final output: summary, status
	log io.Writer // live lines

	mu       sync.Mutex
	procs    map[string]*nodeProcs // by node name
	initial  map[string]bool       // instance ids of the original nodes
	imds     map[string]string     // instance id -> IMDS endpoint, from launch events
	started  map[string]bool       // instances whose processes were started
	eipOn    string                // instance holding the Elastic IP
	routeENI string                // interface the overlay route targets
	eniOwner map[string]string     // eni -> instance, from the events seen

	// Set at the fault.
	victim      Node
	victimInst  string
	routeBefore string
	replacement string
	// Client view.
	lastOldOK time.Time
	newOwner  string
	errs      chan error
}

// Run plays the whole demo: world, agents, fault, timeline, status, and
// clean-up. It returns an error if a step does not happen in time.
func Run(ctx context.Context, o Options) (err error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 3 {
		return fmt.Errorf("--nodes %d: the demo needs at least 3 nodes so that the survivors keep a majority", o.Nodes)
	}
	if o.Fault == "" {
		o.Fault = FaultCrash
	}
	if !slices.Contains([]string{FaultCrash, FaultPartition, FaultThrottle}, o.Fault) {
		return fmt.Errorf("--fault %q: use crash, partition or throttle", o.Fault)
	}
	if o.ThrottleRate == 0 {
		o.ThrottleRate = 0.25
	}
	if o.ThrottleRate < 0 || o.ThrottleRate > 1 {
		return fmt.Errorf("--throttle-rate %v: give a share between 0 and 1", o.ThrottleRate)
	}
	if o.StepTimeout == 0 {
		o.StepTimeout = 60 * time.Second
	}
	if o.Durations == (ec2sim.Durations{}) {
		o.Durations = ec2sim.DemoDurations
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Err == nil {
		o.Err = os.Stderr
	}
	if o.Exe == "" {
		if o.Exe, err = os.Executable(); err != nil {
			return err
		}
	}
	// Everything printed goes through one lock: live lines come from the
	// simulator's event goroutine, the client and the agent watcher.
	out := &lockedWriter{w: o.Out, mu: &sync.Mutex{}}
	r := &run{o: o, sup: &Supervisor{}, out: out, log: out,
		procs: map[string]*nodeProcs{}, initial: map[string]bool{}, imds: map[string]string{},
		started: map[string]bool{}, eniOwner: map[string]string{}, errs: make(chan error, 8)}
	if o.JSON {
		r.log = &lockedWriter{w: o.Err, mu: out.mu}
	}
	r.o.Err = &lockedWriter{w: o.Err, mu: out.mu}
	r.tl = NewTimeline(r.log)
	defer func() { err = errors.Join(err, r.cleanup(err != nil)) }()
	return r.play(ctx)
}

func (r *run) play(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "ec2ha-demo-")
	if err != nil {
		return err
	}
	r.l = Layout{Dir: dir}
	if err := config.WriteKeyFile(r.l.KeyFile()); err != nil {
		return err
	}
	addrs := make([]string, r.o.Nodes)
	for i := range addrs {
		addrs[i] = NodeAddr(i + 1)
	}
	if r.p, err = FindPorts(addrs, 17946); err != nil {
		return fmt.Errorf("%w (the demo gives node N the loopback address 127.0.0.(10+N), which Linux provides)", err)
	}

	r.sim, err = StartSim(ec2sim.Options{Durations: r.o.Durations, IMDSHost: "127.0.0.1"})
	if err != nil {
		return err
	}
	r.ec2 = r.sim.Client()
	cancelEvents := r.sim.Sim.OnEvent(r.onSimEvent)
	defer cancelEvents()
	fmt.Fprintf(r.log, "EC2 simulator on %s (region %s); files in %s\n", r.sim.URL, r.sim.Sim.Region(), dir)

	setupCtx, cancel := context.WithTimeout(ctx, r.o.StepTimeout)
	w, err := BuildWorld(setupCtx, r.sim, r.o.Nodes)
	cancel()
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.w = w
	for _, n := range r.w.Nodes {
		r.initial[n.InstanceID] = true
	}
	r.mu.Unlock()
	fmt.Fprintf(r.log, "world: launch template %s (%s), Elastic IP %s (%s), overlay IP %s via %s\n",
		TemplateName, r.w.TemplateID, r.w.PublicIP, r.w.AllocationID, OverlayIP, r.w.RouteTable)
	for _, n := range r.w.Nodes {
		fmt.Fprintf(r.log, "  %s  %s  %s  %s  gossip %s:%d  app http://%s:%d/\n", n.Name, n.InstanceID, n.AZ, n.PrivateIP, n.Addr, r.p.Gossip, n.Addr, r.p.App)
	}
	for _, n := range r.w.Nodes {
		if err := r.startNode(n, n.InstanceID, true); err != nil {
			return err
		}
	}

	// 2. Wait for a quorate cluster with the group started and answering.
	owner, answer, err := r.waitReady(ctx)
	if err != nil {
		return err
	}

	// 3. The fault.
	clientCtx, stopClient := context.WithCancel(ctx)
	defer stopClient()
	var clientDone sync.WaitGroup
	clientDone.Add(1)
	go func() { defer clientDone.Done(); r.client(clientCtx, answer) }()
	defer clientDone.Wait()
	time.Sleep(300 * time.Millisecond) // a few good answers before the fault
	if err := r.inject(owner); err != nil {
		return err
	}

	// 4. Follow it until every step is reached.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go r.watchAgents(watchCtx)
	if err := r.waitSteps(ctx); err != nil {
		r.finish(err)
		return err
	}
	if r.o.Fault == FaultThrottle {
		_ = r.sim.Sim.SetFaults(ec2sim.Faults{})
		r.tl.Note("sim", "throttling cleared", time.Time{})
	}
	stopWatch()
	stopClient()
	clientDone.Wait()
	r.finish(nil)

	if r.o.Keep {
		r.explore(ctx)
	}
	return nil
}

// finish prints the summary (or JSON) and a survivor's status.
func (r *run) finish(failure error) {
	rep := r.tl.Report(Expected)
	rep.Fault, rep.Nodes, rep.Victim = r.o.Fault, r.o.Nodes, r.victim.Name
	r.mu.Lock()
	rep.Survivor = r.newOwner
	if at, ok := r.tl.At(StepServing); ok && !r.lastOldOK.IsZero() {
		rep.Downtime = at.Sub(r.lastOldOK)
	}
	r.mu.Unlock()
	if failure != nil {
		rep.OK, rep.Error = false, failure.Error()
	}
	if r.o.JSON {
		_ = WriteJSON(r.out, rep)
	} else {
		RenderSummary(r.out, rep)
	}
	if c := r.survivorClient(); c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if st, err := c.Status(ctx); err == nil {
			fmt.Fprintf(r.log, "\n$ ec2ha status --socket %s\n", r.l.Socket(st.Node))
			api.RenderStatus(r.log, st)
		}
	}
}

func (r *run) explore(ctx context.Context) {
	fmt.Fprintf(r.log, "\nThe cluster keeps running (--keep). Try, in another terminal:\n")
	r.mu.Lock()
	for _, n := range r.w.Nodes {
		if np := r.procs[n.Name]; np != nil && np.agent.Alive() {
			fmt.Fprintf(r.log, "  %s status --socket %s\n", r.o.Exe, r.l.Socket(n.Name))
		}
	}
	r.mu.Unlock()
	fmt.Fprintf(r.log, "  %s history --socket %s\n", r.o.Exe, r.l.Socket(r.w.Nodes[0].Name))
	fmt.Fprintf(r.log, "\n%s", ec2sim.Banner(r.sim.URL, r.sim.Sim.Region()))
	fmt.Fprintf(r.log, "Logs and configurations are in %s. Press Ctrl-C to stop everything.\n", r.l.Dir)
	<-ctx.Done()
}

// cleanup stops every process (SIGTERM, then SIGKILL), then the
// simulator, and removes the files. On failure it first shows the end of
// each agent's log.
func (r *run) cleanup(failed bool) error {
	if failed && r.l.Dir != "" {
		r.showLogs()
	}
	killed := r.sup.StopAll(5 * time.Second)
	if len(killed) > 0 {
		fmt.Fprintf(r.log, "killed after 5s without exiting on SIGTERM: %s\n", strings.Join(killed, ", "))
	}
	var err error
	if r.sim != nil {
		err = r.sim.Close()
	}
	if r.l.Dir != "" {
		err = errors.Join(err, os.RemoveAll(r.l.Dir))
	}
	if left := r.sup.Running(); len(left) > 0 {
		err = errors.Join(err, fmt.Errorf("%d processes still running after clean-up", len(left)))
	}
	return err
}

func (r *run) showLogs() {
	logs, _ := filepath.Glob(filepath.Join(r.l.Dir, "*-agent.log"))
	for _, path := range logs {
		fmt.Fprintf(r.o.Err, "\n--- last lines of %s ---\n", filepath.Base(path))
		fmt.Fprint(r.o.Err, tail(path, 15))
	}
}

// Tail returns the last n lines of the file at path, for failure reports.
func Tail(path string, n int) string { return tail(path, n) }

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error() + "\n"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return "(empty)\n"
	}
	return strings.Join(lines, "\n") + "\n"
}

// childEnv is the environment of the demo's children: this one without
// EC2HA_ and AWS_ settings that would point them elsewhere, plus dummy
// credentials for the simulator.
func (r *run) childEnv(extra ...string) []string { return ChildEnv(r.l.Dir, extra...) }

// ChildEnv is the environment of a child agent or application whose
// files are in dir: this process's without EC2HA_, AWS_ and DEMO_
// settings, plus dummy credentials for the simulator, plus extra.
func ChildEnv(dir string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "EC2HA_") || strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "DEMO_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"AWS_ACCESS_KEY_ID=demo", "AWS_SECRET_ACCESS_KEY=demo",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "no-aws-credentials"))
	return append(env, extra...)
}

// startNode boots node n's machine on instance id: its application and
// its agent, the agent's configuration pointing at the instance's IMDS.
// The node name is left to the agent (from the ec2ha:node tag) when the
// instance carries the tag.
func (r *run) startNode(n Node, instanceID string, tagged bool) error {
	imds, err := r.sim.Sim.IMDSEndpoint(instanceID)
	if err != nil {
		return err
	}
	name := ""
	if !tagged {
		name = n.Name
	}
	if err := WriteConfig(r.l.ConfigFile(n.Name), NodeConfig(r.w, r.l, r.p, r.sim.URL, n, name, imds)); err != nil {
		return err
	}
	// A new machine: no state from the one before.
	_ = os.Remove(r.l.StateFile(n.Name))
	_ = os.Remove(r.l.Socket(n.Name))
	appListen := net.JoinHostPort(n.Addr, strconv.Itoa(r.p.App))
	app, err := r.sup.Start(n.Name+"/app", []string{r.o.Exe, "demo", "app", "--node", n.Name, "--listen", appListen, "--state-file", r.l.StateFile(n.Name)},
		r.childEnv(), r.l.AppLog(n.Name, instanceID))
	if err != nil {
		return err
	}
	agent, err := r.sup.Start(n.Name+"/agent", []string{r.o.Exe, "agent", "--config", r.l.ConfigFile(n.Name)},
		r.childEnv("DEMO_STATE_FILE="+r.l.StateFile(n.Name)), r.l.AgentLog(n.Name, instanceID))
	if err != nil {
		app.Kill()
		return err
	}
	r.mu.Lock()
	r.procs[n.Name] = &nodeProcs{node: n, instanceID: instanceID, agent: agent, app: app}
	r.started[instanceID] = true
	r.mu.Unlock()
	r.tl.Note("demo", fmt.Sprintf("%s booted on %s: agent pid %d, app pid %d (log %s)", n.Name, instanceID, agent.Pid(), app.Pid(), filepath.Base(agent.Log)), time.Time{})
	return nil
}

// killInstance is a machine going away: whatever runs for the instance
// dies at once.
func (r *run) killInstance(instanceID, why string) {
	r.mu.Lock()
	var np *nodeProcs
	for _, p := range r.procs {
		if p.instanceID == instanceID {
			np = p
		}
	}
	r.mu.Unlock()
	if np == nil {
		return
	}
	var killed []string
	for _, p := range []*Proc{np.agent, np.app} {
		if p.Alive() {
			p.Kill()
			killed = append(killed, p.Name)
		}
	}
	if len(killed) > 0 {
		r.tl.Note("demo", fmt.Sprintf("%s (%s) %s: killed %s", np.node.Name, instanceID, why, strings.Join(killed, " and ")), time.Time{})
	}
}

func (r *run) agentClient(node string) *api.Client {
	return api.NewClient(r.l.Socket(node), "")
}

// survivorClient is an API client of a live agent, preferring the group's
// new owner.
func (r *run) survivorClient() *api.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	if np := r.procs[r.newOwner]; np != nil && np.agent.Alive() {
		return r.agentClient(r.newOwner)
	}
	for _, n := range r.w.Nodes {
		if np := r.procs[n.Name]; np != nil && np.agent.Alive() && n.Name != r.victim.Name {
			return r.agentClient(n.Name)
		}
	}
	return nil
}

// waitReady waits until every agent reports quorum and the group started
// on one node, and the client gets 200 from it. It returns the owner and
// the client's answer.
func (r *run) waitReady(ctx context.Context) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.StepTimeout)
	defer cancel()
	var owner string
	reported := map[string]bool{}
	for {
		owner = ""
		ready := true
		for _, n := range r.w.Nodes {
			r.mu.Lock()
			np := r.procs[n.Name]
			r.mu.Unlock()
			if !np.agent.Alive() {
				return "", "", fmt.Errorf("%s's agent exited during start-up (see its log below)", n.Name)
			}
			st, err := r.agentClient(n.Name).Status(ctx)
			if err != nil {
				ready = false
				continue
			}
			if !reported[n.Name+"/api"] {
				reported[n.Name+"/api"] = true
				r.tl.Note("agent", fmt.Sprintf("%s answers on its API socket (instance %s)", st.Node, instanceOf(st, st.Node)), time.Time{})
			}
			if !st.Quorum.Quorate {
				ready = false
				continue
			}
			if !reported["quorum"] {
				reported["quorum"] = true
				r.tl.Note("agent", fmt.Sprintf("cluster quorate: %d of %d votes", st.Quorum.Votes, st.Quorum.Expected), time.Time{})
			}
			g := groupOf(st, GroupName)
			if g == nil || g.State != "started" || g.Owner == "" || (owner != "" && g.Owner != owner) {
				ready = false
				continue
			}
			owner = g.Owner
		}
		if ready && owner != "" {
			if !reported["started"] {
				reported["started"] = true
				r.tl.Note("agent", fmt.Sprintf("group %s started on %s", GroupName, owner), time.Time{})
			}
			if node, code, body := r.probe(ctx); code == http.StatusOK && node == owner {
				r.tl.Note("client", fmt.Sprintf("%s → %s: %d %s", r.w.PublicIP, node, code, body), time.Time{})
				return owner, answerKey(node, code, body), nil
			}
		}
		select {
		case <-ctx.Done():
			return "", "", fmt.Errorf("the cluster was not ready within %s: want every agent quorate, group %s started on one node and answering", r.o.StepTimeout, GroupName)
		case err := <-r.errs:
			return "", "", err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func groupOf(st api.Status, name string) *api.Group {
	for i := range st.Groups {
		if st.Groups[i].Name == name {
			return &st.Groups[i]
		}
	}
	return nil
}

func memberOf(st api.Status, name string) *api.Member {
	for i := range st.Members {
		if st.Members[i].Name == name {
			return &st.Members[i]
		}
	}
	return nil
}

func instanceOf(st api.Status, name string) string {
	if m := memberOf(st, name); m != nil {
		return m.InstanceID
	}
	return "?"
}

// inject applies the fault to the owner's node.
func (r *run) inject(owner string) error {
	victim, ok := r.w.Node(owner)
	if !ok {
		return fmt.Errorf("the group runs on %q, which is not a demo node", owner)
	}
	r.mu.Lock()
	np := r.procs[owner]
	r.victim, r.victimInst = victim, np.instanceID
	r.routeBefore = r.routeENI
	r.mu.Unlock()
	now := time.Now()
	switch r.o.Fault {
	case FaultCrash, FaultThrottle:
		label := fmt.Sprintf("crash of %s (%s): agent and app SIGKILLed; EC2 still shows the instance running", owner, np.instanceID)
		if r.o.Fault == FaultThrottle {
			if err := r.sim.Sim.SetFaults(ec2sim.Faults{ThrottleRate: r.o.ThrottleRate}); err != nil {
				return err
			}
			label += fmt.Sprintf("; EC2 now answers %.0f%% of all API calls RequestLimitExceeded", 100*r.o.ThrottleRate)
		}
		r.tl.Start(now, label)
		np.agent.Kill()
		np.app.Kill()
		// The machine hangs: IMDS and status checks stop answering too.
		_ = r.sim.Sim.SetMachineGone(np.instanceID, true)
	case FaultPartition:
		r.tl.Start(now, fmt.Sprintf("partition of %s (%s): agent SIGSTOPped, so it neither sends nor answers gossip; its app keeps serving", owner, np.instanceID))
		np.agent.Pause()
	}
	return nil
}

// waitSteps waits until every expected milestone is reached, failing when
// none is reached for StepTimeout.
func (r *run) waitSteps(ctx context.Context) error {
	lastCount, lastProgress := 0, time.Now()
	for {
		missing := r.tl.Missing(Expected)
		if len(missing) == 0 {
			return nil
		}
		if n := len(Expected) - len(missing); n != lastCount {
			lastCount, lastProgress = n, time.Now()
		}
		if time.Since(lastProgress) > r.o.StepTimeout {
			return fmt.Errorf("no progress for %s: still waiting for %s", r.o.StepTimeout, strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while waiting for %s", strings.Join(missing, ", "))
		case err := <-r.errs:
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lockedWriter serialises writes to w; writers sharing mu share the lock.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
