package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// skipped lists the sections -only left out.
func (r *report) skipped() []string {
	var out []string
	for _, n := range sectionNames {
		if !r.opts.want(n) {
			out = append(out, n)
		}
	}
	return out
}

func (r *report) agentSections(b *md) {
	b.p("## 6. Figures that need the agent")
	b.p("")
	r.timelineSection(b)
	r.callsSection(b)
	r.resourceSection(b)
}

func msOf(d time.Duration) string { return num(ms(d)) }

func (r *report) timelineSection(b *md) {
	d := r.Demo
	c := d.Configured
	b.p("### 6a. Failover timeline: detection, quorum/decision, fence, moves, service answering")
	b.p("")
	if !r.opts.want("demo") {
		b.p("Not run in this run (section `demo`).")
		b.p("")
		return
	}
	b.p("From %d runs of `%s`: three agents (`ec2ha agent` processes) on 127.0.0.11–13 against the embedded simulator; the active node's agent and application are SIGKILLed and its instance stops answering; the demo records each milestone from the simulator's events, the agents' history and a client polling the service.", d.Runs, d.Command)
	b.p("")
	if d.NotMeasured != "" {
		b.p("Not measured: %s.", strings.TrimSuffix(d.NotMeasured, "."))
		b.p("")
		return
	}
	b.p("What the demo configures (read from `internal/demo` and `ec2sim` in this tree): gossip profile `%s` (typical detection %v for %d members, bound %v: section 4 and `docs/performance.md`), `cluster.settle_time` %v (the engine waits that long after a membership change before acting, so a flap does not fence), `fencing.poll_interval` %v, and the simulator's stop latency %v (`stopping` → `stopped`; replacements stay `pending` %v). No latency is added to API calls.",
		c.Profile, c.Expected, c.Nodes, c.Bound, c.SettleTime, c.PollInterval, c.StopLatency, c.PendingLaunch)
	b.p("")
	b.p("**Breakdown** (ms, per run; the parts add up to fault → service answering):")
	b.p("")
	b.p("| part | configured wait in it | n | median | p99 | min–max | MAD | median minus the configured wait |")
	b.p("|---|---|---|---|---|---|---|---|")
	waits := map[string]time.Duration{phaseDetection: 0, phaseDecision: c.SettleTime, phaseFence: c.StopLatency}
	waitText := map[string]string{phaseDetection: fmt.Sprintf("membership timers (typical %v)", c.Expected),
		phaseDecision: fmt.Sprintf("settle_time %v", c.SettleTime), phaseFence: fmt.Sprintf("simulator stop latency %v", c.StopLatency),
		phaseMoves: fmt.Sprintf("next fence poll (≤ %v)", c.PollInterval), phaseService: "start hook, client poll (100 ms)"}
	for _, p := range phaseOrder[:len(phaseOrder)-1] {
		s := summarize(d.PhaseMS[p], "ms")
		rest := "–"
		if w, ok := waits[p]; ok && w > 0 && s.N > 0 {
			rest = num(s.Median - ms(w))
		}
		b.p("| %s | %s | %s | %s |", p, waitText[p], s.cells(), rest)
	}
	total := summarize(d.PhaseMS[phaseServing], "ms")
	b.p("| **%s** | | %s | |", phaseServing, total.cells())
	b.p("")

	// The controller's own overhead, two ways.
	var simOnly, own []float64
	for i, t := range d.PhaseMS[phaseServing] {
		simOnly = append(simOnly, t-ms(c.StopLatency))
		if i < len(d.PhaseMS[phaseDetection]) {
			own = append(own, t-ms(c.StopLatency)-ms(c.SettleTime)-d.PhaseMS[phaseDetection][i])
		}
	}
	so, ow := summarize(simOnly, "ms"), summarize(own, "ms")
	b.p("**Controller overhead**, against issue 10's goal of under 500 ms:")
	b.p("")
	b.p("| | n | median | p99 | min–max | MAD | goal met (p99 < 500 ms) |")
	b.p("|---|---|---|---|---|---|---|")
	b.p("| fault → serving minus the simulator's stop latency | %s | %s |", so.cells(), yesNo(so.N > 0 && so.P99 < 500))
	b.p("| the same, minus the measured detection and settle_time too: ec2ha's own work from detection to service | %s | %s |", ow.cells(), yesNo(ow.N > 0 && ow.P99 < 500))
	b.p("")
	b.p("The first row is the issue's literal definition (total minus the simulator's configured latencies). It includes failure detection, which is set by the gossip timers and not by ec2ha's own speed (section 4 measures it per profile), and the deliberate settle_time. The second row is what remains: deciding, fencing calls and polls, both address moves, the start hook and the client's next probe.")
	b.p("")
	b.p("The full milestone list (each step's time since the step before it, ms, and since the fault), including the replacement launch and re-join, which come after the service is back:")
	b.p("")
	b.p("| step | runs | median | p99 | min–max | MAD | since the fault: median | p99 |")
	b.p("|---|---|---|---|---|---|---|---|")
	for _, s := range d.Steps {
		since := summarize(d.SinceMS[s], "ms")
		b.p("| %s | %s | %s | %s |", s, summarize(d.StepMS[s], "ms").cells(), num(since.Median), num(since.P99))
	}
	if len(d.TotalMS) > 0 {
		b.p("| **total (to re-join)** | %s | | |", summarize(d.TotalMS, "ms").cells())
	}
	if len(d.DowntimeMS) > 0 {
		b.p("| **client-observed downtime** | %s | | |", summarize(d.DowntimeMS, "ms").cells())
	}
	b.p("")
	b.p("`fence-confirmed` is the simulator's event (the instance reached `stopped`); ec2ha notices it at its next poll, which is why the wait up to `fencing.poll_interval` falls into the address moves. The client-observed downtime runs from the last 200 of the old owner to the first of the new one, so it starts a little before the fault.")
	b.p("")
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func (r *report) clustersRun() bool { return r.opts.want("cluster") || r.opts.want("agents100") }

func (r *report) callsSection(b *md) {
	b.p("### 6b. EC2 API calls per failover and per hour in steady state")
	b.p("")
	if !r.clustersRun() {
		b.p("Not run in this run (sections `cluster`, `agents100`).")
		b.p("")
		return
	}
	b.p("A real cluster of `ec2ha agent` processes, built with the demo's harness (`demo.BuildWorld`, `demo.NodeConfig`, `demo.Supervisor`) against a simulator served on loopback (stop latency %v, no call latency). Every group is the demo's: one Elastic IP and one overlay IP in the main route table, start/stop/monitor hooks on a state file (groups after the first: their own addresses, node order rotated so they spread, and the default 10 s monitor interval). Replacement is off (the demo's 6a shows it). Calls are counted two ways: per agent, from each agent's `ec2ha_ec2_api_calls_total` on its metrics endpoint, and per action on the simulator's side of the HTTP connection; the two agree when every call the agents made reached the simulator. Readiness is read from the agents' metrics and history, not from `ec2ha status`, which itself reads EC2.", ecStop())
	b.p("")
	b.p("**Steady state** (after every group has started and 5 s have passed; the per-hour figures are **extrapolated** from the window, not measured over an hour):")
	b.p("")
	b.p("| cluster | window | calls in window (agents / simulator) | per hour, extrapolated | agents that called EC2 | false positives in the window | by action (simulator, per hour) |")
	b.p("|---|---|---|---|---|---|---|")
	for _, c := range r.Clusters {
		if c.Err != "" && c.Steady.Took == 0 {
			b.p("| %s | – | failed: %s | | | | |", c.Spec.Name, oneLine(c.Err))
			continue
		}
		w := c.Steady
		callers := callingAgents(w)
		fp := "0"
		if w.Failed > 0 {
			fp = fmt.Sprintf("%d member-failed events about %d live members", w.Failed, w.FailedMembers)
		}
		b.p("| %s | %v | %s / %d | %s | %s | %s | %s |", c.Spec.Name, w.Took.Round(time.Second), num(w.total()), w.simTotal(),
			num(w.perHour(float64(w.simTotal()))), callersText(callers, len(w.ByAgent), c.Coordinator), fp, byActionPerHour(w))
	}
	b.p("")
	b.p("The window is from the first snapshot's start to the second's; reading a hundred agents' metrics, histories and /proc takes a while on a loaded machine, so a window can be longer than `-steady`. The agents' count (their own metric) and the simulator's can differ: the simulator counts every HTTP attempt, the metric one per logical call with its retries, and the snapshots read the two a moment apart. False positives are member-failed events in the agents' histories while nothing was crashed; when there are any, the coordinator may have changed in the window (two agents then called EC2), and the figures say more about the machine than about ec2ha.")
	b.p("")
	b.p("Goal (issue 10): the steady-state cost does not grow with the number of agents, because only the coordinator reads EC2. Compare the 3-agent and the many-agent rows with one group; and the 50-group row shows that it does not grow with the groups either: every read is one `DescribeInstances`, one `DescribeAddresses` for all Elastic IPs and one `DescribeRouteTables` for all overlay IPs, at every resync (2 s) and before each action.")
	b.p("")
	b.p("**Per failover** (the owner of the first group crashes: agent SIGKILLed, instance gone; counted on the survivors and the simulator from the crash until 2 s after the victim's last group started elsewhere):")
	b.p("")
	b.p("| cluster | groups moved | crash → last group started | milestones after the crash (agents' histories) | calls (simulator) | minus the steady-state rate over the span | by action (simulator) |")
	b.p("|---|---|---|---|---|---|---|")
	for _, c := range r.Clusters {
		if c.Failover == nil {
			reason := c.Err
			if reason == "" {
				reason = "not run"
			}
			b.p("| %s | – | – | – | %s | | |", c.Spec.Name, oneLine(reason))
			continue
		}
		f := c.Failover
		steadyRate := 0.0
		if c.Steady.Took > 0 {
			steadyRate = float64(c.Steady.simTotal()) / c.Steady.Took.Seconds()
		}
		net := float64(f.simTotal()) - steadyRate*f.Took.Seconds()
		b.p("| %s | %d of %d (%s's) | %s ms | %s | %d | %s | %s |", c.Spec.Name, c.VictimOwned, c.Spec.Groups, c.Victim, msOf(c.FailoverTook), milestoneText(c.Milestones), f.simTotal(), num(net), byAction(f.Sim))
	}
	b.p("")
	b.p("Sections 1 and 2 give the calls of one fence and one group's moves in isolation; here they come with the coordinator's reads before each action, the fence's polls every `fencing.poll_interval` through the %v stop, and the history tags.", ecStop())
	b.p("")
	notes := false
	for _, c := range r.Clusters {
		for _, n := range c.Notes {
			b.p("- %s: %s", c.Spec.Name, oneLine(n))
			notes = true
		}
	}
	if notes {
		b.p("")
	}
}

func ecStop() time.Duration { return configuredByDemo().StopLatency }

// callingAgents lists the agents that made calls in the window.
func callingAgents(w window) []string {
	var out []string
	for node, m := range w.ByAgent {
		total := 0.0
		for _, v := range m {
			total += v
		}
		if total > 0 {
			out = append(out, node)
		}
	}
	slices.Sort(out)
	return out
}

func callersText(callers []string, agents int, coordinator string) string {
	if len(callers) == 0 {
		return fmt.Sprintf("none of %d", agents)
	}
	list := strings.Join(callers, ", ")
	if len(callers) > 5 {
		list = strings.Join(callers[:5], ", ") + ", …"
	}
	s := fmt.Sprintf("%d of %d (%s)", len(callers), agents, list)
	if coordinator != "" {
		s += "; coordinator " + coordinator
	}
	return s
}

func byActionPerHour(w window) string {
	var parts []string
	for _, a := range sortedKeys(w.Sim) {
		parts = append(parts, fmt.Sprintf("%s %s", a, num(w.perHour(float64(w.Sim[a])))))
	}
	return strings.Join(parts, ", ")
}

func byAction(m map[string]int) string {
	var parts []string
	for _, a := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", a, m[a]))
	}
	return strings.Join(parts, ", ")
}

func (r *report) resourceSection(b *md) {
	b.p("### 6c. Agent resident memory and CPU, idle and during a failover")
	b.p("")
	if !r.clustersRun() {
		b.p("Not run in this run (sections `cluster`, `agents100`).")
		b.p("")
		return
	}
	b.p("The same runs as 6b. Read from `/proc/PID/status` (VmRSS; VmHWM, the peak so far) and `/proc/PID/stat` (utime+stime of the agent; cutime+cstime, the hook commands it ran and reaped), per agent process. CPU is the share of one core over the window. Idle is the steady-state window; during a failover is the survivors from the crash until 2 s after the last group started.")
	b.p("")
	b.p("| cluster | phase | agents | RSS MiB: median | max | peak (VmHWM) max | agent CPU %%: median | max | all agents | coordinator / new owner | hooks CPU %%: median |")
	b.p("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, c := range r.Clusters {
		if c.Err != "" && c.Steady.Took == 0 {
			b.p("| %s | – | failed: %s | | | | | | | | |", c.Spec.Name, oneLine(c.Err))
			continue
		}
		r.resourceRow(b, c, "idle", c.Steady, c.Coordinator)
		if c.Failover != nil {
			r.resourceRow(b, c, fmt.Sprintf("failover (%s ms)", msOf(c.FailoverTook)), *c.Failover, c.ownerAfter())
		}
	}
	b.p("")
	b.p("The machine has %s CPUs shared with other work, so CPU shares are upper bounds of what the agent needs: a starved process also spends more time catching up.", r.Machine["cpus"])
	if many := manyName(r); many != "" {
		b.p("The %s run starts every agent at once, each probing and gossiping with the fast profile; its agents' CPU shares add up to how much of this machine it takes (see the false positives in 6b when it is not enough).", many)
	}
	b.p("")
	for _, c := range r.Clusters {
		if c.Startup > 0 {
			b.p("- %s: start-up (agents started → all quorate, every group started) %v.", c.Spec.Name, c.Startup.Round(100*time.Millisecond))
		}
	}
	b.p("")
}

func manyName(r *report) string {
	for _, c := range r.Clusters {
		if c.Spec.Nodes > 3 {
			return c.Spec.Name
		}
	}
	return ""
}

// ownerAfter is the survivor that did the most EC2 calls in the failover:
// the coordinator that fenced and moved.
func (c clusterResult) ownerAfter() string {
	if c.Failover == nil {
		return ""
	}
	best, most := "", 0.0
	for node, m := range c.Failover.ByAgent {
		t := 0.0
		for _, v := range m {
			t += v
		}
		if t > most {
			best, most = node, t
		}
	}
	return best
}

func (r *report) resourceRow(b *md, c clusterResult, phase string, w window, lead string) {
	var rss, cpu, hooks []float64
	peak, sum := 0.0, 0.0
	for _, p := range w.Procs {
		rss = append(rss, p.RSSMiB)
		cpu = append(cpu, p.CPUPct)
		sum += p.CPUPct
		hooks = append(hooks, p.HooksCPUPct)
		peak = max(peak, p.PeakMiB)
	}
	rs, cs, hs := summarize(rss, ""), summarize(cpu, ""), summarize(hooks, "")
	leadText := "–"
	if p, ok := w.Procs[lead]; ok {
		leadText = fmt.Sprintf("%s: %s MiB, %s%%", lead, num(p.RSSMiB), num(p.CPUPct))
	}
	b.p("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |", c.Spec.Name, phase, rs.N, num(rs.Median), num(rs.Max), num(peak),
		num(cs.Median), num(cs.Max), num(sum), leadText, num(hs.Median))
}

// The 500-member attempt's outcome, read from its go test output.
var (
	timedOutWaiting = regexp.MustCompile(`timed out waiting for ([^;]+); last state: (.*)`)
	memberState     = regexp.MustCompile(`\S+=(alive|suspect|dead|left)\b`)
	testTimedOut    = regexp.MustCompile(`panic: test timed out after (\S+)`)
	notConverged    = regexp.MustCompile(`n=\d+: (not converged .*)`)
)

type attempt500 struct {
	Ran       bool
	OK        bool
	Outcome   string
	Took, CPU time.Duration
	MaxRSSMiB float64
}

func (r *report) attempt500() attempt500 {
	g, ok := r.Go["membership-fast-500.txt"]
	if !ok {
		return attempt500{}
	}
	a := attempt500{Ran: true, Took: g.Took, CPU: g.Usage.CPU, MaxRSSMiB: g.Usage.MaxRSSMiB}
	name := "BenchmarkDetection/fast/n=500/loss=0%"
	if res, ok := g.Results[name]; ok && len(res["median-ms"]) > 0 {
		a.OK = true
		a.Outcome = fmt.Sprintf("converged and detected a crash in %s ms", num(res["median-ms"][0]))
		return a
	}
	a.Outcome = describe500(readData(r.opts.data, "membership-fast-500.txt"), g.Err)
	return a
}

// describe500 says how a failed 500-member run ended, from its output.
func describe500(out, errText string) string {
	if m := timedOutWaiting.FindStringSubmatch(out); m != nil {
		counts := map[string]int{}
		for _, s := range memberState.FindAllStringSubmatch(m[2], -1) {
			counts[s[1]]++
		}
		var parts []string
		for _, k := range []string{"alive", "suspect", "dead", "left"} {
			if counts[k] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
			}
		}
		view := "an empty view"
		if len(parts) > 0 {
			view = strings.Join(parts, ", ")
		}
		return fmt.Sprintf("gave up waiting for %s after the test helpers' 45 s; the observer's view then held %s of the 500", m[1], view)
	}
	if m := notConverged.FindStringSubmatch(out); m != nil {
		s := "did not converge: " + m[1]
		if strings.Contains(errText, "stopped after the") && strings.Contains(out, "membership.(*Node).Shutdown(") {
			s += "; it then spent the rest of its bound in the clean-up, shutting the members down one by one (the goroutine dump shows `Node.Shutdown`), until it was stopped"
		}
		return s
	}
	if strings.Contains(errText, "stopped after the") {
		where := "somewhere the goroutine dump in the data file shows"
		switch {
		case strings.Contains(out, "membership.(*cluster).start("):
			where = "still starting the members one by one"
		case strings.Contains(out, "membership.converge("):
			where = "waiting for the cluster to converge"
		case strings.Contains(out, "membership.(*Node).Shutdown("):
			where = "shutting the members down after a failure"
		}
		return fmt.Sprintf("%s, %s", oneLine(errText), where)
	}
	if m := testTimedOut.FindStringSubmatch(out); m != nil {
		return fmt.Sprintf("still not done when go test's %s bound stopped it (goroutine dump in the data file)", m[1])
	}
	if errText != "" {
		return "failed: " + oneLine(errText)
	}
	return "produced no result line"
}

func (r *report) members500(b *md) {
	a := r.attempt500()
	if !a.Ran {
		b.p("500 members in process: not run in this run (section `members500`).")
		b.p("")
		return
	}
	cmd := "`" + r.Go["membership-fast-500.txt"].Bench.command() + "`"
	cores := 0.0
	if a.Took > 0 {
		cores = a.CPU.Seconds() / a.Took.Seconds()
	}
	b.p("**500 members in process** (fast, no loss, one crash; %s): %s. Wall %v, CPU %v (%s cores busy on average of this machine's %s), peak resident %s MiB (go test and the test binary).",
		cmd, a.Outcome, a.Took.Round(time.Second), a.CPU.Round(time.Second), num(cores), r.Machine["cpus"], num(a.MaxRSSMiB))
	if !a.OK {
		b.p("So detection at 500 members is not measured here. No member had been crashed yet when the run gave up, so any member the observer saw as dead or suspect was a false positive. Every in-process member runs its own probe and gossip timers: at fast's 250 ms probe and 100 ms gossip interval, 500 members ask for about 2,000 probes (each with a 200 ms timeout) and 5,000 encrypted gossip rounds to 3 peers a second from these cores, so probes are answered late, members are suspected and, without enough CPU to refute in time, declared dead. On a multi-host test bed each host runs one member; this machine cannot stand in for that.")
	}
	b.p("")
}

func milestoneText(m map[string]time.Duration) string {
	var parts []string
	for _, k := range []string{"detected", "fence-requested", "fence-confirmed", "first-move", "last-move"} {
		if d, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %s ms", k, msOf(d)))
		}
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}
