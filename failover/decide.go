package failover

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Decision is the engine's answer to one observation.
type Decision struct {
	// Coordinator is the node that acts for this view ("" if none).
	Coordinator string
	// Actions are to be carried out in order. Nothing and Wait entries only
	// explain; the executor records them as events.
	Actions []Action
}

// stoppingPoll is how often to look again at an instance EC2 shows
// stopping: the fence that stops it is already under way.
const stoppingPoll = time.Second

// RequeueAfter is when to observe and decide again if nothing else
// happens: the soonest After of the decision's waits, zero if none says.
func (d Decision) RequeueAfter() time.Duration {
	var after time.Duration
	for _, a := range d.Actions {
		if a.Kind == Wait && a.After > 0 && (after == 0 || a.After < after) {
			after = a.After
		}
	}
	return after
}

// Effects returns the actions that change something.
func (d Decision) Effects() []Action {
	var out []Action
	for _, a := range d.Actions {
		if a.effect() {
			out = append(out, a)
		}
	}
	return out
}

// Coordinator returns the node that acts for the view: the alive non-witness
// member with the lowest name. Every member of a partition sees the same
// view after gossip converges and so picks the same node; while views
// disagree two nodes may each believe they coordinate, which is why every
// action also needs quorum and every recovery is gated on EC2's state, not on
// who coordinates.
func Coordinator(obs Observation) string {
	best := ""
	for _, m := range obs.Members {
		if m.State == Alive && !m.Witness && (best == "" || m.Name < best) {
			best = m.Name
		}
	}
	return best
}

// Decide returns what should be done now, given cfg and obs. It is a pure
// function: the same inputs give the same decision.
func Decide(cfg Config, obs Observation) Decision {
	d := Decision{Coordinator: Coordinator(obs)}
	if !obs.Quorum.Quorate {
		d.Actions = noQuorum(cfg, obs)
		return d
	}
	if d.Coordinator != obs.Local {
		d.Actions = []Action{{Kind: Nothing, Reason: fmt.Sprintf("%s coordinates", d.Coordinator)}}
		return d
	}
	if obs.Intents.Maintenance {
		d.Actions = []Action{{Kind: Nothing, Reason: "maintenance mode: observing only" + wouldDo(plan(cfg, obs))}}
		return d
	}
	if settled := obs.Now.Sub(obs.ViewSince); settled < cfg.SettleTime {
		d.Actions = []Action{{Kind: Wait, After: cfg.SettleTime - settled,
			Reason: fmt.Sprintf("membership changed %s ago; settling for %s", settled.Round(time.Millisecond), cfg.SettleTime)}}
		return d
	}
	if heard, needed, missing := hearing(obs); heard < needed {
		d.Actions = []Action{{Kind: Wait, After: hearPoll,
			Reason: fmt.Sprintf("membership changed %s ago; heard from %d of the %d votes needed since then (not yet: %s) before acting on them",
				obs.Now.Sub(obs.ViewSince).Round(time.Millisecond), heard, needed, strings.Join(missing, ", "))}}
		return d
	}
	d.Actions = plan(cfg, obs)
	return d
}

// hearPoll is how soon to look again while waiting to hear from a voter.
const hearPoll = 100 * time.Millisecond

// hearing counts the votes this node has heard since the membership last
// changed: its own, and each alive voter's it received anything from
// after the change. The failure detector declares unreachable members
// dead one at a time, as its probes reach them, so a node cut off from
// everyone sees its first peer die while the others still look alive;
// counting their votes, it would fence a healthy peer from the minority
// side. A member heard from after the change is on this side of any
// partition, and a majority of those is enough: waiting for every voter
// would take a hundred-member cluster tens of seconds, since each member
// hears from a given peer only every few dozen probe intervals. Zero
// Heard means unknown and counts as heard; an unknown majority
// (Quorum.Needed zero) waits for every alive voter.
func hearing(obs Observation) (heard, needed int, missing []string) {
	alive := 0
	for _, m := range obs.Members {
		if m.State != Alive {
			continue
		}
		alive++
		if m.Name == obs.Local || m.Heard.IsZero() || !m.Heard.Before(obs.ViewSince) {
			heard++
		} else {
			missing = append(missing, m.Name)
		}
	}
	needed = obs.Quorum.Needed
	if needed == 0 {
		needed = alive
	}
	return heard, needed, missing
}

func wouldDo(acts []Action) string {
	var parts []string
	for _, a := range acts {
		if a.effect() {
			parts = append(parts, a.String())
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; would " + strings.Join(parts, "; ")
}

// noQuorum is the no-quorum policy "stop": no cluster action, and after
// NoQuorumStopAfter the node stops its own groups so that a partitioned
// active node stops serving before the quorate side fences it.
func noQuorum(cfg Config, obs Observation) []Action {
	why := "no quorum (" + obs.Quorum.Reason + "): taking no cluster action"
	var acts []Action
	for _, g := range obs.Groups {
		if g.Running != obs.Local {
			continue
		}
		if lost := obs.Now.Sub(obs.Quorum.Since); lost < cfg.NoQuorumStopAfter {
			acts = append(acts, Action{Kind: Wait, Group: g.Name, Node: obs.Local, After: cfg.NoQuorumStopAfter - lost,
				Reason: fmt.Sprintf("%s; stopping local group after %s without quorum (%s so far)", why, cfg.NoQuorumStopAfter, lost)})
			continue
		}
		acts = append(acts, Action{Kind: StopGroup, Group: g.Name, Node: obs.Local, Local: true,
			Reason: fmt.Sprintf("%s; stopping local group after %s without quorum", why, cfg.NoQuorumStopAfter)})
	}
	if len(acts) == 0 {
		acts = []Action{{Kind: Nothing, Reason: why}}
	}
	return acts
}

// world indexes an observation for the policies.
type world struct {
	cfg      Config
	obs      Observation
	members  map[string]Member
	nodeOf   map[string]string // instance ID -> node
	localIID string
}

func newWorld(cfg Config, obs Observation) world {
	w := world{cfg: cfg, obs: obs, members: map[string]Member{}, nodeOf: map[string]string{}}
	for _, m := range obs.Members {
		w.members[m.Name] = m
		if m.InstanceID != "" {
			w.nodeOf[m.InstanceID] = m.Name
		}
	}
	w.localIID = w.members[obs.Local].InstanceID
	return w
}

func (w world) alive(node string) bool {
	m, ok := w.members[node]
	return ok && m.State == Alive
}

// up reports whether node can run groups: alive, not a witness, and EC2
// shows its instance running.
func (w world) up(node string) bool {
	m, ok := w.members[node]
	if !ok || m.State != Alive || m.Witness {
		return false
	}
	inst, ok := w.obs.Instances[m.InstanceID]
	return ok && inst.State == Running
}

// failing reports whether node has reached g's migration threshold.
func (w world) failing(g GroupConfig, gs GroupState, node string) bool {
	return g.MigrationThreshold > 0 && gs.MonitorFailures[node] >= g.MigrationThreshold
}

func (w world) healthy(g GroupConfig, gs GroupState, node string) bool {
	return w.up(node) && !w.obs.Intents.Standby[node] && !w.failing(g, gs, node) && slices.Contains(g.Nodes, node)
}

func plan(cfg Config, obs Observation) []Action {
	w := newWorld(cfg, obs)
	states := map[string]GroupState{}
	for _, gs := range obs.Groups {
		states[gs.Name] = gs
	}
	var acts []Action
	for _, g := range cfg.Groups {
		gs := states[g.Name]
		gs.Name = g.Name
		acts = append(acts, w.placeGroup(g, gs)...)
	}
	acts = append(acts, w.fenceLost(acts)...)
	acts = append(acts, w.replacements()...)
	// Stable by kind: fences, then stops, moves, starts, launches and
	// terminations, each group's steps keeping their relative order.
	sort.SliceStable(acts, func(i, j int) bool { return acts[i].Kind < acts[j].Kind })
	return acts
}

// current is the node the group is on now, for stickiness: the single holder
// of its resources, else where its start hook runs.
func (w world) current(gs GroupState) string {
	if len(gs.Holders) == 1 {
		if n := w.nodeOf[gs.Holders[0]]; n != "" {
			return n
		}
	}
	return gs.Running
}

// target chooses where g should run and says why.
func (w world) target(g GroupConfig, gs GroupState) (string, string) {
	cur := w.current(gs)
	if mv, ok := w.obs.Intents.Moves[g.Name]; ok && (mv.From == "" || mv.From == cur) {
		if mv.To != "" && mv.To != cur && w.healthy(g, gs, mv.To) {
			return mv.To, "operator moved " + g.Name + " to " + mv.To
		}
		if mv.To == "" {
			for _, n := range g.Nodes {
				if n != cur && w.healthy(g, gs, n) {
					return n, "operator moved " + g.Name + " away from " + cur
				}
			}
		}
	}
	first := ""
	for _, n := range g.Nodes {
		if w.healthy(g, gs, n) {
			first = n
			break
		}
	}
	if cur != "" && w.healthy(g, gs, cur) {
		if g.Failback && first != cur {
			return first, fmt.Sprintf("failback: %s is preferred over %s", first, cur)
		}
		return cur, "stays on " + cur
	}
	switch {
	case first == "":
		return "", ""
	case cur == "":
		return first, fmt.Sprintf("%s is the most preferred healthy node", first)
	default:
		return first, fmt.Sprintf("%s cannot run it (%s); %s is the most preferred healthy node", cur, w.why(g, gs, cur), first)
	}
}

// why says what makes node unfit for g.
func (w world) why(g GroupConfig, gs GroupState, node string) string {
	m, ok := w.members[node]
	switch {
	case !ok:
		return "not a member"
	case m.State != Alive:
		return "member " + [...]string{"alive", "suspect", "dead", "left"}[m.State]
	case !w.up(node):
		return "instance " + string(w.obs.Instances[m.InstanceID].State)
	case w.obs.Intents.Standby[node]:
		return "standby"
	case w.failing(g, gs, node):
		return fmt.Sprintf("monitor failed %d times", gs.MonitorFailures[node])
	}
	return "not eligible"
}

func (w world) placeGroup(g GroupConfig, gs GroupState) []Action {
	tgt, reason := w.target(g, gs)
	if tgt == "" {
		return []Action{{Kind: Nothing, Group: g.Name, Reason: "no healthy eligible node for " + g.Name}}
	}
	tgtIID := w.members[tgt].InstanceID
	// Everything that might serve g elsewhere must be released first: the
	// node where its start hook runs, and every other holder of its
	// resources.
	var release []Action
	if gs.Running != "" && gs.Running != tgt {
		release = append(release, w.releaseNode(g, gs, gs.Running, reason)...)
	}
	for _, h := range gs.Holders {
		if h == tgtIID {
			continue
		}
		if n := w.nodeOf[h]; n != "" && w.alive(n) && gs.Running != n {
			continue // its node is up and confirms the group stopped there
		}
		if n := w.nodeOf[h]; n != "" && n == gs.Running {
			continue // handled above
		}
		release = append(release, w.releaseInstance(g, h, reason)...)
	}
	if len(release) > 0 {
		return release
	}
	var acts []Action
	if len(gs.Holders) != 1 || gs.Holders[0] != tgtIID {
		acts = append(acts, Action{Kind: MoveResources, Group: g.Name, Node: tgt, Reason: reason})
	}
	if gs.Running != tgt {
		acts = append(acts, Action{Kind: StartGroup, Group: g.Name, Node: tgt, Reason: reason})
	}
	if len(acts) == 0 {
		return []Action{{Kind: Nothing, Group: g.Name, Reason: g.Name + " runs on " + tgt}}
	}
	return acts
}

// releaseNode makes node stop serving g: by its stop hook if it is alive and
// may stop gracefully, else by fencing its instance.
func (w world) releaseNode(g GroupConfig, gs GroupState, node, reason string) []Action {
	m := w.members[node]
	if inst, ok := w.obs.Instances[m.InstanceID]; ok && inst.down() {
		return nil
	}
	fence := w.failing(g, gs, node) && g.FenceOnMonitorFailure
	if w.alive(node) && (!fence || node == w.obs.Local) {
		return []Action{{Kind: StopGroup, Group: g.Name, Node: node, Reason: reason + "; stopping it on " + node + " first"}}
	}
	if m.InstanceID == "" {
		return []Action{{Kind: Nothing, Group: g.Name, Reason: reason + "; but " + node + " has no known instance to fence"}}
	}
	return w.releaseInstance(g, m.InstanceID, reason)
}

// releaseInstance fences iid, which holds g's resources or may run g, unless
// EC2 already shows it down.
func (w world) releaseInstance(g GroupConfig, iid, reason string) []Action {
	inst, ok := w.obs.Instances[iid]
	switch {
	case ok && inst.down():
		return nil
	case ok && (inst.State == Stopping || inst.State == ShuttingDown):
		return []Action{{Kind: Wait, Group: g.Name, Instance: iid, After: stoppingPoll, Reason: reason + "; waiting for " + iid + " to stop"}}
	case iid == w.localIID:
		return []Action{{Kind: Nothing, Group: g.Name, Instance: iid, Reason: reason + "; but " + iid + " is the deciding node and is never fenced by itself"}}
	case !ok || !inst.ClusterTagged:
		return []Action{{Kind: Nothing, Group: g.Name, Instance: iid, Reason: reason + "; but " + iid + " lacks the cluster tag and is never fenced"}}
	}
	return []Action{{Kind: Fence, Group: g.Name, Instance: iid, Reason: reason + "; fencing " + iid + " before recovery"}}
}

// lostGrace is how many settle times a failed member that holds no group
// stays dead before it is fenced.
const lostGrace = 4

// fenceLost fences the instance of every member that failed (not one that
// left gracefully) while EC2 still shows it running, whether or not it
// held a group: like Pacemaker's STONITH of a lost node, so that a hung
// standby cannot come back with stale state, and so that it can be
// replaced and the cluster return to its size. Instances a group's
// placement already fences are skipped.
func (w world) fenceLost(planned []Action) []Action {
	fencing := map[string]bool{}
	for _, a := range planned {
		if a.Kind == Fence {
			fencing[a.Instance] = true
		}
	}
	var acts []Action
	for _, m := range w.obs.Members {
		inst, ok := w.obs.Instances[m.InstanceID]
		if m.State != Dead || !ok || inst.State != Running || !inst.ClusterTagged || m.InstanceID == w.localIID || fencing[m.InstanceID] {
			continue
		}
		// Nothing waits on a member that holds no group, so a failure
		// detection that a link flap made up gets time to be refuted.
		if dead := w.obs.Now.Sub(m.Since); !m.Since.IsZero() && dead < lostGrace*w.cfg.SettleTime {
			acts = append(acts, Action{Kind: Wait, Instance: m.InstanceID, Node: m.Name, After: lostGrace*w.cfg.SettleTime - dead,
				Reason: fmt.Sprintf("%s failed %s ago; fencing its instance %s once it has stayed dead %s, since it holds no group", m.Name, dead.Round(time.Millisecond), m.InstanceID, lostGrace*w.cfg.SettleTime)})
			continue
		}
		acts = append(acts, Action{Kind: Fence, Instance: m.InstanceID, Node: m.Name,
			Reason: fmt.Sprintf("%s failed while EC2 shows its instance %s running; fencing it so it cannot come back unannounced and can be replaced", m.Name, m.InstanceID)})
	}
	return acts
}

// replacements launches a replacement for each fenced member's instance and
// terminates the fenced instance once its replacement runs.
func (w world) replacements() []Action {
	r := w.cfg.Replacement
	if !r.Enabled {
		return nil
	}
	replacedBy := map[string]Instance{}
	for _, inst := range w.obs.Instances {
		if inst.ReplacesID != "" {
			replacedBy[inst.ReplacesID] = inst
		}
	}
	var acts []Action
	// A replacement usually joins as the member it replaces, so the fenced
	// instance is found through the replacement rather than the view.
	for old, repl := range replacedBy {
		inst, ok := w.obs.Instances[old]
		if ok && repl.State == Running && inst.State == Stopped && inst.ClusterTagged && old != w.localIID {
			acts = append(acts, Action{Kind: Terminate, Instance: old,
				Reason: fmt.Sprintf("its replacement %s is running", repl.ID)})
		}
	}
	sort.Slice(acts, func(i, j int) bool { return acts[i].Instance < acts[j].Instance })
	launched := w.obs.ReplacementsLastHour
	for _, m := range w.obs.Members {
		inst, ok := w.obs.Instances[m.InstanceID]
		if m.State != Dead || !ok || !inst.down() || !inst.ClusterTagged || m.InstanceID == w.localIID {
			continue
		}
		if _, has := replacedBy[m.InstanceID]; has {
			continue
		}
		if launched >= r.MaxPerHour {
			acts = append(acts, Action{Kind: Nothing, Instance: m.InstanceID, Node: m.Name,
				Reason: fmt.Sprintf("%s is %s but %d replacements launched in the past hour (limit %d)", m.Name, inst.State, launched, r.MaxPerHour)})
			continue
		}
		launched++
		acts = append(acts, Action{Kind: LaunchReplacement, Instance: m.InstanceID, Node: m.Name,
			Reason: fmt.Sprintf("%s is dead and its instance %s", m.Name, inst.State)})
	}
	return acts
}
