package failover

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/internal/clock"
)

// The property test drives the engine and its executor through a simulated
// cluster: three nodes, two groups, EC2 instances that stop slowly, an
// API that fails or loses replies, partitions, agent crashes, instance
// crashes, flapping, monitor failures and operator commands. After every
// action it checks the safety invariants of issue 7, and at the end of each
// run, once faults stop, that every group is placed.
//
// EC2HA_FAILOVER_RUNS sets the number of runs (default 5000) and
// EC2HA_FAILOVER_SEED the first seed, for a longer or reproducing run.

var simNodes = []string{"a", "b", "c"}

type simWorld struct {
	t     *testing.T
	rng   *rand.Rand
	clk   *clock.Fake
	cfg   Config
	inst  map[string]*Instance
	iid   map[string]string // node -> current instance
	agent map[string]bool   // ec2ha process up
	part  map[string]int    // partition id per node
	// holders and hooks are the truth: who holds each group's resources,
	// and where its start hook runs.
	holders   map[string][]string
	hooks     map[string]map[string]bool
	told      map[string]map[string]bool // nodes told to start, no stop or fence since
	failures  map[string]map[string]int
	intents   Intents
	view      map[string]string
	viewSince map[string]time.Time
	quorate   map[string]bool
	qSince    map[string]time.Time
	// seen is what each node last learned of where each group's start hook
	// runs: hooks on nodes it cannot reach are known only from before.
	seen     map[string]map[string]string
	launches []time.Time
	apiFail  float64
	seq      int
	actions  int
	kinds    map[Kind]int
	log      []string
}

func newSimWorld(t *testing.T, seed int64) *simWorld {
	rng := rand.New(rand.NewSource(seed))
	w := &simWorld{
		t: t, rng: rng, clk: clock.NewFake(t0),
		cfg: Config{
			Groups: []GroupConfig{
				{Name: "web", Nodes: []string{"a", "b", "c"}, MigrationThreshold: 2, FenceOnMonitorFailure: rng.Intn(2) == 0},
				{Name: "db", Nodes: []string{"c", "b"}, Failback: rng.Intn(2) == 0, MigrationThreshold: 3},
			},
			SettleTime: 10 * time.Second, NoQuorumStopAfter: 20 * time.Second,
			Replacement: Replacement{Enabled: rng.Intn(2) == 0, MaxPerHour: 2},
		},
		inst: map[string]*Instance{}, iid: map[string]string{}, agent: map[string]bool{}, part: map[string]int{},
		holders: map[string][]string{}, hooks: map[string]map[string]bool{}, told: map[string]map[string]bool{},
		failures: map[string]map[string]int{}, view: map[string]string{}, viewSince: map[string]time.Time{},
		quorate: map[string]bool{}, qSince: map[string]time.Time{}, seen: map[string]map[string]string{},
		intents: Intents{Standby: map[string]bool{}, Moves: map[string]Move{}}, kinds: map[Kind]int{},
		apiFail: []float64{0, 0.1, 0.3}[rng.Intn(3)],
	}
	for _, n := range simNodes {
		id := "i-" + n
		w.inst[id] = &Instance{ID: id, State: Running, ClusterTagged: true}
		w.iid[n] = id
		w.agent[n] = true
		w.seen[n] = map[string]string{}
	}
	// An instance outside the cluster, which an operator may wrongly give a
	// group's resource.
	w.inst["i-foreign"] = &Instance{ID: "i-foreign", State: Running}
	for _, g := range w.cfg.Groups {
		w.hooks[g.Name] = map[string]bool{}
		w.told[g.Name] = map[string]bool{}
		w.failures[g.Name] = map[string]int{}
	}
	return w
}

func (w *simWorld) nodeOf(iid string) string {
	for n, id := range w.iid {
		if id == iid {
			return n
		}
	}
	return ""
}

// up reports whether node's agent runs and can talk.
func (w *simWorld) up(n string) bool { return w.agent[n] && w.inst[w.iid[n]].State == Running }

func (w *simWorld) reach(from, to string) bool {
	return w.up(from) && w.up(to) && w.part[from] == w.part[to]
}

func (w *simWorld) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("invariant broken: "+format+"\nlast events:\n%s", append(args, strings.Join(w.log[max(0, len(w.log)-40):], "\n"))...)
}

func (w *simWorld) note(format string, args ...any) {
	w.log = append(w.log, fmt.Sprintf("%s ", w.clk.Now().Sub(t0))+fmt.Sprintf(format, args...))
}

// membership recomputes each node's view, settle and quorum clocks.
func (w *simWorld) membership() {
	now := w.clk.Now()
	for _, n := range simNodes {
		var alive []string
		for _, m := range simNodes {
			if w.reach(n, m) {
				alive = append(alive, m)
			}
		}
		v := strings.Join(alive, ",")
		if v != w.view[n] {
			w.view[n], w.viewSince[n] = v, now
		}
		q := len(alive) >= 2
		if q != w.quorate[n] || w.qSince[n].IsZero() {
			w.quorate[n], w.qSince[n] = q, now
		}
	}
}

func (w *simWorld) observe(n string) Observation {
	obs := Observation{
		Now: w.clk.Now(), Local: n, ViewSince: w.viewSince[n],
		Quorum:    Quorum{Quorate: w.quorate[n], Reason: "view " + w.view[n], Since: w.qSince[n]},
		Instances: map[string]Instance{},
		Intents:   w.intents,
	}
	for _, m := range simNodes {
		st := Dead
		if w.reach(n, m) {
			st = Alive
		}
		mem := Member{Name: m, InstanceID: w.iid[m], State: st}
		if st == Alive && m != n {
			mem.Heard = obs.Now
		}
		obs.Members = append(obs.Members, mem)
	}
	for id, i := range w.inst {
		obs.Instances[id] = *i
	}
	for _, g := range w.cfg.Groups {
		gs := GroupState{Name: g.Name, Holders: slices.Clone(w.holders[g.Name]), MonitorFailures: map[string]int{}}
		// What n last heard, unless the node it heard of is reachable and
		// reports otherwise.
		if r := w.seen[n][g.Name]; r != "" && w.reach(n, r) && !w.hooks[g.Name][r] {
			w.seen[n][g.Name] = ""
		}
		for m := range w.hooks[g.Name] {
			if w.reach(n, m) {
				w.seen[n][g.Name] = m
			}
		}
		gs.Running = w.seen[n][g.Name]
		for m, f := range w.failures[g.Name] {
			gs.MonitorFailures[m] = f
		}
		obs.Groups = append(obs.Groups, gs)
	}
	for _, t := range w.launches {
		if now := w.clk.Now(); now.Sub(t) < time.Hour {
			obs.ReplacementsLastHour++
		}
	}
	return obs
}

// stopInstance is EC2 finishing a stop: nothing runs there any more.
func (w *simWorld) stopped(iid string) {
	n := w.nodeOf(iid)
	for _, g := range w.cfg.Groups {
		delete(w.hooks[g.Name], n)
		delete(w.told[g.Name], n)
	}
}

type simObserver struct {
	w    *simWorld
	node string
}

func (o simObserver) Observe(context.Context) (Observation, error) { return o.w.observe(o.node), nil }

type simActor struct {
	w    *simWorld
	node string
}

var errAPI = errors.New("simulated API failure")

func (s simActor) Do(_ context.Context, a Action) error {
	w, d := s.w, s.node
	w.actions++
	w.kinds[a.Kind]++
	w.note("%s does %s", d, a)
	// Safety invariants, checked against the truth.
	if a.Local {
		if a.Kind != StopGroup || a.Node != d {
			w.fail("%s took local action %v that is not stopping its own group", d, a)
		}
	} else if !w.quorate[d] {
		w.fail("%s acted without quorum: %v", d, a)
	}
	if (a.Kind == Fence || a.Kind == Terminate) && (!w.inst[a.Instance].ClusterTagged || a.Instance == w.iid[d]) {
		w.fail("%s fenced %s (tagged %v, its own %s)", d, a.Instance, w.inst[a.Instance].ClusterTagged, w.iid[d])
	}
	if a.Kind == MoveResources {
		for _, h := range w.holders[a.Group] {
			n := w.nodeOf(h)
			if h != w.iid[a.Node] && !w.inst[h].down() && (n == "" || w.hooks[a.Group][n]) {
				w.fail("%s moved %s from %s, which is %s and has not released it", d, a.Group, h, w.inst[h].State)
			}
		}
	}
	if a.Kind == StartGroup {
		for n := range w.told[a.Group] {
			if n != a.Node {
				w.fail("%s told %s to start %s while %s was told to and not stopped or fenced since", d, a.Node, a.Group, n)
			}
		}
	}
	if w.rng.Float64() < w.apiFail {
		w.note("  fails before taking effect")
		return errAPI
	}
	switch a.Kind {
	case Fence:
		if i := w.inst[a.Instance]; i.State == Running || i.State == Pending {
			i.State = Stopping
		}
	case StopGroup:
		if a.Node != d && !w.reach(d, a.Node) {
			return errors.New("node unreachable")
		}
		delete(w.hooks[a.Group], a.Node)
		delete(w.told[a.Group], a.Node)
	case MoveResources:
		w.holders[a.Group] = []string{w.iid[a.Node]}
	case StartGroup:
		if a.Node != d && !w.reach(d, a.Node) {
			return errors.New("node unreachable")
		}
		w.hooks[a.Group][a.Node] = true
		w.told[a.Group][a.Node] = true
	case LaunchReplacement:
		w.seq++
		id := fmt.Sprintf("%s-r%d", a.Instance, w.seq)
		w.inst[id] = &Instance{ID: id, State: Pending, ClusterTagged: true, ReplacesID: a.Instance}
		w.launches = append(w.launches, w.clk.Now())
	case Terminate:
		w.inst[a.Instance].State = Terminated
	}
	if w.rng.Float64() < w.apiFail {
		w.note("  reply lost after taking effect")
		return errAPI
	}
	return nil
}

// tick is EC2 and the node agents moving on by one step.
func (w *simWorld) tick() {
	w.clk.Advance(5 * time.Second)
	for id, i := range w.inst {
		switch i.State {
		case Stopping, ShuttingDown:
			if w.rng.Intn(2) == 0 {
				if i.State == Stopping {
					i.State = Stopped
				} else {
					i.State = Terminated
				}
				w.stopped(id)
				w.note("EC2: %s %s", id, i.State)
			}
		case Pending:
			i.State = Running
			// The replacement joins as the node it replaces.
			if n := w.nodeOf(i.ReplacesID); n != "" {
				w.iid[n], w.agent[n] = id, true
				w.note("EC2: %s running, joins as %s", id, n)
			}
		}
	}
	// Monitor hooks only run where the start hook runs.
	for g, hs := range w.failures {
		for n := range hs {
			if !w.hooks[g][n] {
				delete(hs, n)
			}
		}
	}
}

// chaos applies one random fault or operator command.
func (w *simWorld) chaos() {
	n := simNodes[w.rng.Intn(len(simNodes))]
	g := w.cfg.Groups[w.rng.Intn(len(w.cfg.Groups))].Name
	switch r := w.rng.Intn(100); {
	case r < 8: // the instance crashes or is stopped outside ec2ha
		if i := w.inst[w.iid[n]]; i.State == Running {
			i.State = Stopped
			w.stopped(i.ID)
			w.note("chaos: %s instance %s stopped", n, i.ID)
		}
	case r < 14: // it is started again
		if i := w.inst[w.iid[n]]; i.State == Stopped {
			i.State = Running
			w.agent[n] = true
			w.note("chaos: %s instance started", n)
		}
	case r < 22: // the agent crashes; hooks keep running
		w.agent[n] = false
		w.note("chaos: %s agent down", n)
	case r < 32:
		w.agent[n] = true
		w.note("chaos: %s agent up", n)
	case r < 40: // partition n from the rest
		w.part[n] = 1 + w.rng.Intn(2)
		w.note("chaos: %s partitioned into %d", n, w.part[n])
	case r < 50:
		clear(w.part)
		w.note("chaos: partitions healed")
	case r < 56: // a flap: lost for less than the settle time
		w.part[n] = 9
		w.membership()
		w.clk.Advance(3 * time.Second)
		delete(w.part, n)
		w.note("chaos: %s flapped", n)
	case r < 66:
		if w.hooks[g][n] {
			w.failures[g][n]++
			w.note("chaos: %s monitor failed on %s (%d)", g, n, w.failures[g][n])
		}
	case r < 70:
		delete(w.failures[g], n)
	case r < 74:
		w.intents.Standby[n] = !w.intents.Standby[n]
		w.note("chaos: standby %s = %v", n, w.intents.Standby[n])
	case r < 76:
		w.intents.Maintenance = !w.intents.Maintenance
		w.note("chaos: maintenance = %v", w.intents.Maintenance)
	case r < 80:
		to := ""
		if w.rng.Intn(2) == 0 {
			to = simNodes[w.rng.Intn(len(simNodes))]
		}
		cur := ""
		for h := range w.hooks[g] {
			cur = h
		}
		w.intents.Moves[g] = Move{From: cur, To: to}
		w.note("chaos: move %s from %q to %q", g, cur, to)
	case r < 82:
		clear(w.intents.Moves)
	case r < 84: // an operator gives a resource to an instance outside the cluster
		w.holders[g] = append(w.holders[g], "i-foreign")
		w.note("chaos: %s resource on i-foreign", g)
	case r < 88:
		w.holders[g] = slices.DeleteFunc(w.holders[g], func(h string) bool { return h == "i-foreign" })
	}
}

func (w *simWorld) step(ctx context.Context) {
	w.tick()
	w.membership()
	order := slices.Clone(simNodes)
	w.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, n := range order {
		if !w.up(n) {
			continue
		}
		e := &Executor{Config: w.cfg, Observer: simObserver{w, n}, Actor: simActor{w, n}, Clock: w.clk}
		_ = e.Step(ctx)
	}
}

// heal ends every fault and operator intent, leaving a cluster in which a
// healthy eligible node exists for every group.
func (w *simWorld) heal() {
	clear(w.part)
	for _, n := range simNodes {
		w.agent[n] = true
		if i := w.inst[w.iid[n]]; i.State == Stopped {
			i.State = Running
		}
	}
	w.intents = Intents{Standby: map[string]bool{}, Moves: map[string]Move{}}
	for _, g := range w.cfg.Groups {
		clear(w.failures[g.Name])
		w.holders[g.Name] = slices.DeleteFunc(w.holders[g.Name], func(h string) bool { return h == "i-foreign" })
	}
	w.apiFail = 0
	w.note("heal")
}

func (w *simWorld) checkPlaced() {
	for _, g := range w.cfg.Groups {
		var on []string
		for n := range w.hooks[g.Name] {
			on = append(on, n)
		}
		sort.Strings(on)
		if len(on) != 1 || !slices.Equal(w.holders[g.Name], []string{w.iid[on[0]]}) || !slices.Contains(g.Nodes, on[0]) {
			w.fail("after healing, %s runs on %v with resources on %v", g.Name, on, w.holders[g.Name])
		}
	}
}

func envInt(t *testing.T, name string, def int64) int64 {
	if s := os.Getenv(name); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an integer", name, s)
		}
		return v
	}
	return def
}

func TestPropertySimulatedCluster(t *testing.T) {
	runs := envInt(t, "EC2HA_FAILOVER_RUNS", 5000)
	first := envInt(t, "EC2HA_FAILOVER_SEED", 1)
	const chaosSteps, quietSteps = 60, 30
	ctx := context.Background()
	steps, actions, kinds := 0, 0, map[Kind]int{}
	for seed := first; seed < first+runs; seed++ {
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			w := newSimWorld(t, seed)
			for range chaosSteps {
				w.chaos()
				w.step(ctx)
			}
			w.heal()
			for range quietSteps {
				w.step(ctx)
			}
			w.checkPlaced()
			steps += chaosSteps + quietSteps
			actions += w.actions
			for k, c := range w.kinds {
				kinds[k] += c
			}
		})
		if !ok {
			t.Fatalf("reproduce with EC2HA_FAILOVER_SEED=%d EC2HA_FAILOVER_RUNS=1", seed)
		}
	}
	t.Logf("%d runs, %d steps, %d actions checked (by kind %v)", runs, steps, actions, kinds)
	// A simulation that never fences, fails over or stops without quorum
	// proves nothing about those paths.
	for _, k := range []Kind{Fence, StopGroup, MoveResources, StartGroup, LaunchReplacement, Terminate} {
		if kinds[k] == 0 && runs >= 100 {
			t.Errorf("no %v in %d runs: the simulation does not exercise it", k, runs)
		}
	}
}
