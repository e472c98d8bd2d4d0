package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

type goRun struct {
	Bench   goBench
	Results benchResults
	Took    time.Duration
	Usage   usage
	Err     string
}

type report struct {
	opts      options
	Command   string
	Machine   map[string]string
	Go        map[string]goRun
	Benchstat string
	Profiles  []profile
	Scen      *scenarioResult
	Demo      demoResult
	Clusters  []clusterResult
	Took      time.Duration
}

type md struct{ strings.Builder }

func (b *md) p(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }

func (r *report) markdown() string {
	var b md
	b.p("# ec2ha performance report")
	b.p("")
	b.p("Written by `bench/cmd/report` (`make bench`) on %s in %v. Every number below was measured in that run; the raw data is in [`bench/data/`](data/). Nothing here is run by CI.",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), r.Took.Round(time.Second))
	b.p("")
	b.p("Reproduce: `make bench` from the repository root (the command this run used: `%s`). The side-by-side needs Debian's `fence-agents` and `resource-agents`, a Python with boto3 ≥ 1.31 and an `aws` CLI: `bench/setup-tools.sh` installs what apt can. `go run ./bench/cmd/report -full` adds every membership profile, size and loss rate and 5-minute steady-state windows (roughly 40 minutes more); `-only SECTION,...` runs some sections only.", r.Command)
	b.p("")
	b.p("## Machine")
	b.p("")
	b.p("| | |")
	b.p("|---|---|")
	for _, k := range sortedKeys(r.Machine) {
		b.p("| %s | %s |", k, r.Machine[k])
	}
	b.p("")
	b.p("The machine is shared (other builds and tests may run at the same time), so the spread columns matter: a wide min–max with a tight median absolute deviation (MAD) means a few disturbed runs.")
	b.p("")
	b.p("## How to read the tables")
	b.p("")
	b.p("- **n** samples; **median**; **p99** by nearest rank, which with fewer than 100 samples is the slowest sample, so read it as \"worst of n\"; **min–max**; **MAD**, the median absolute deviation from the median.")
	b.p("- Scenario timings (sections 1–3) are one sample per operation, after one untimed warm-up run per tool and profile. Go benchmark figures (sections 4–5) are one sample per `-count` run, each the mean over that run's iterations.")
	b.p("- Simulator profiles, each a fresh `ec2sim` served over HTTP on loopback with a per-instance IMDS listener:")
	for _, p := range r.Profiles {
		b.p("  - **%s**: %s.", p.Name, p)
	}
	b.p("- **floor**: the part of a run's wall time the simulator's configured latencies impose: the call latency of every call before `StopInstances`, of `StopInstances`, and of every call after the instance reached `stopped`, plus the stop latency; polls made while the instance is stopping overlap it. For moves every call counts. **overhead = wall − floor**: the controller's own time (process start, SDK, HTTP, waiting between polls). In the zero profile the floor is 0.")
	b.p("")

	if skipped := r.skipped(); len(skipped) > 0 {
		b.p("**Partial run**: only `-only %s`; not run: %s. Those sections say so below.", r.opts.only, strings.Join(skipped, ", "))
		b.p("")
	}
	if r.Scen != nil {
		r.fenceSection(&b)
		r.movesSection(&b)
		r.sideBySide(&b)
	} else {
		b.p("## 1–3. Fence, address moves, side by side")
		b.p("")
		b.p("Not run in this run (section `scenarios`).")
		b.p("")
	}
	r.membershipSection(&b)
	r.microSection(&b)
	r.agentSections(&b)

	b.p("## Raw data")
	b.p("")
	if r.Scen != nil {
		b.p("- `data/scenarios.csv`: every scenario sample (profile, tool, operation, wall, EC2 calls, floor, overhead, outcome).")
	}
	for _, f := range sortedKeys(r.Go) {
		g := r.Go[f]
		b.p("- `data/%s`: `%s` (%v)", f, g.Bench.command(), g.Took.Round(time.Second))
	}
	if r.Benchstat != "" {
		b.p("- `data/%s`: benchstat over the micro-benchmarks.", r.Benchstat)
	}
	for _, f := range r.Demo.Raw {
		b.p("- `data/%s`: `%s` output.", f, r.Demo.Command)
	}
	for _, c := range r.Clusters {
		b.p("- `data/cluster-%s.json`: the %s run (section 6b/6c), every per-agent count and /proc reading.", slug(c.Spec.Name), c.Spec.Name)
	}
	if r.Scen != nil && len(r.Scen.Errors) > 0 {
		b.p("")
		b.p("## Errors during this run")
		b.p("")
		for _, e := range r.Scen.Errors {
			b.p("- %s", oneLine(e))
		}
	}
	for _, f := range sortedKeys(r.Go) {
		if e := r.Go[f].Err; e != "" {
			b.p("- `%s` failed: `%s`", f, oneLine(e))
		}
	}
	return b.String()
}

func okCount(ss []sample) (ok int) {
	for _, s := range ss {
		if s.OK {
			ok++
		}
	}
	return ok
}

func wallMS(ss []sample, f func(sample) float64) []float64 {
	var out []float64
	for _, s := range ss {
		if s.OK {
			out = append(out, f(s))
		}
	}
	return out
}

func wall(s sample) float64     { return ms(s.Wall) }
func overhead(s sample) float64 { return ms(s.overhead()) }
func calls(s sample) float64    { return float64(s.Calls) }

const scenHeader = "| profile | tool | operation | ok/runs | wall ms: median | p99 | min–max | MAD | EC2 calls (median) | overhead ms: median | p99 |"
const scenRule = "|---|---|---|---|---|---|---|---|---|---|---|"

func (r *report) scenRow(b *md, k series, ss []sample) {
	w := summarize(wallMS(ss, wall), "ms")
	o := summarize(wallMS(ss, overhead), "ms")
	c := summarize(wallMS(ss, calls), "")
	if w.N == 0 {
		b.p("| %s | %s | %s | 0/%d | – | – | – | – | – | – | – |", k.Profile, k.Tool, k.Op, len(ss))
		return
	}
	b.p("| %s | %s | %s | %d/%d | %s | %s | %s–%s | %s | %s | %s | %s |", k.Profile, k.Tool, k.Op, okCount(ss), len(ss),
		num(w.Median), num(w.P99), num(w.Min), num(w.Max), num(w.MedianAbsDeviation), num(c.Median), num(o.Median), num(o.P99))
}

func (r *report) rows(b *md, want func(series) bool) {
	if r.Scen == nil {
		return
	}
	g := r.Scen.group()
	var keys []series
	for k := range g {
		if want(k) {
			keys = append(keys, k)
		}
	}
	order := map[string]int{"zero": 0, "slow": 1}
	slices.SortFunc(keys, func(a, c series) int {
		if d := order[a.Profile] - order[c.Profile]; d != 0 {
			return d
		}
		if a.Tool != c.Tool {
			if a.Tool == "ec2ha" {
				return -1
			}
			if c.Tool == "ec2ha" {
				return 1
			}
			return strings.Compare(a.Tool, c.Tool)
		}
		return strings.Compare(a.Op, c.Op)
	})
	b.p(scenHeader)
	b.p(scenRule)
	for _, k := range keys {
		r.scenRow(b, k, g[k])
	}
	b.p("")
}

func (r *report) fenceSection(b *md) {
	b.p("## 1. Fence: request → confirmed stopped (ec2ha `fencing`)")
	b.p("")
	b.p("`fencing.PowerFencer.Fence` with one stop-force level, `poll_interval` %v (the configuration default), through ec2ha's own EC2 client (`ec2.NewClient`, adaptive retryer) over HTTP to the simulator: the safety checks (describe self, describe target and its cluster tag), `StopInstances` with Force, polls until `stopped`, then the history tags. Each run fences a fresh running member.", r.opts.poll)
	b.p("")
	r.rows(b, func(k series) bool { return k.Op == "fence" && k.Tool == "ec2ha" })
	if g, ok := r.Go["fence.txt"]; ok {
		if s := summarize(g.Results["BenchmarkFence/stop-0s"]["ns/op"], "ns/op"); s.N > 0 {
			b.p("Cross-check, `BenchmarkFence/stop-0s` (fencing's own benchmark, in-process httptest simulator, 250 ms poll): median %s ms per fence over %d runs of 20 fences (min–max %s–%s ms).",
				num(s.Median/1e6), s.N, num(s.Min/1e6), num(s.Max/1e6))
			b.p("")
		}
	}
	b.p("Goal (issue 10): controller overhead under 500 ms. In the slow profile the overhead is mostly the wait for the next poll after the instance stopped (uniform over 0–%v), which `fencing.poll_interval` trades against DescribeInstances calls.", r.opts.poll)
	b.p("")
}

func (r *report) movesSection(b *md) {
	b.p("## 2. Address moves (ec2ha `ec2/moves`)")
	b.p("")
	b.p("One Elastic IP (`MoveEIP`, compare-and-set on the association), one secondary private IP (`MoveSecondaryIP`, reassignment) and one overlay route (`MoveRoute`, one route table) moved between two running instances, alternating direction; `all-three` is the group, done one after the other as the executor does.")
	b.p("")
	r.rows(b, func(k series) bool { return k.Tool == "ec2ha" && k.Op != "fence" })
	if g, ok := r.Go["moves.txt"]; ok {
		res := g.Results["BenchmarkCompleteMove"]
		c, t := summarize(res["ec2calls/move"], ""), summarize(res["ns/op"], "")
		if c.N > 0 {
			b.p("`BenchmarkCompleteMove` (in-process httptest simulator, the three moves): %s EC2 calls per move (min–max %s–%s), %s µs per move median, p99 %s µs over %d runs.",
				num(c.Median), num(c.Min), num(c.Max), num(t.Median/1e3), num(t.P99/1e3), t.N)
			b.p("")
		}
	}
}

func (r *report) sideBySide(b *md) {
	b.p("## 3. Side by side: fence_aws, awseip, awsvip")
	b.p("")
	t := r.Scen.Tools
	b.p("The same simulator, the same profiles, in the same run. Each tool is run as Pacemaker runs it: a new process per action, Python start-up included, on the instance it acts for.")
	b.p("")
	b.p("How they are pointed at the simulator, without changing them:")
	b.p("")
	b.p("- `AWS_ENDPOINT_URL` names the simulator; botocore honours it from 1.31. fence_aws's own client takes no endpoint option, so with an older botocore (Debian bookworm's `python3-botocore` is 1.29) it goes to the real `ec2.us-east-1.amazonaws.com`, which fails here with `Failed: Incorrect Region.` (botocore's EndpointConnectionError) after about 10 s of retries. So fence_aws is run by an interpreter whose botocore is new enough.")
	b.p("- fence_aws, awseip and awsvip fetch the instance's identity from the hard-coded `http://169.254.169.254` (fence_aws with `requests` for its self-check: `get_instance_id`, then `DescribeInstances` on itself, and it does not fence if that fails). `http_proxy` points at the acting instance's simulated IMDS listener, which answers proxy-form requests; `no_proxy=127.0.0.1` keeps the EC2 endpoint direct. `AWS_EC2_METADATA_SERVICE_ENDPOINT` is set too.")
	b.p("- The resource agents call `aws --profile default`; a throw-away `AWS_CONFIG_FILE` and credentials file define it. `api_delay` (the agents' sleep after each EC2 change, default 3 s) is set to %d so the table shows the tools' own cost: with the default every awseip/awsvip start or stop takes 3 s more.", r.opts.apiDelay)
	b.p("")
	b.p("| | |")
	b.p("|---|---|")
	if t.FenceAWS != "" {
		b.p("| fence_aws | `%s %s --region %s --action off --plug <target>`, Python %s, botocore %s |", t.Python, t.FenceAWS, region, pyVersion(t.Python), t.Botocore)
	} else {
		b.p("| fence_aws | **not run**: %s |", oneLine(errString(t.FenceAWSErr)))
	}
	if t.AWSCLI != "" {
		b.p("| awseip, awsvip | `%s/awseip start|stop`, `%s/awsvip start` with `OCF_RESKEY_*`; AWS CLI `%s` (%s) |", raDir, raDir, t.AWSCLI, t.AWSVersion)
	} else {
		b.p("| awseip, awsvip | **not run**: %s |", oneLine(errString(t.RAErr)))
	}
	for _, k := range sortedKeys(t.Versions) {
		b.p("| %s | %s |", k, t.Versions[k])
	}
	b.p("")
	for _, n := range t.Notes {
		b.p("Note: %s.", n)
		b.p("")
	}

	// The comparison table.
	b.p("| profile | operation | ec2ha median / p99 ms | tool | tool median / p99 ms | tool ÷ ec2ha (median) | EC2 calls ec2ha / tool |")
	b.p("|---|---|---|---|---|---|---|")
	g := r.Scen.group()
	pairs := []struct{ op, tool, toolOp, label string }{
		{"fence", "fence_aws", "fence", "fence (stop, confirmed)"},
		{"eip", "awseip", "eip", "Elastic IP move (awseip: stop on old + start on new)"},
		{"secondary-ip", "awsvip", "secondary-ip", "secondary IP move (awsvip start on new)"},
	}
	for _, p := range r.Profiles {
		for _, pr := range pairs {
			e := g[series{p.Name, "ec2ha", pr.op}]
			o := g[series{p.Name, pr.tool, pr.toolOp}]
			es, ts := summarize(wallMS(e, wall), ""), summarize(wallMS(o, wall), "")
			ec, oc := summarize(wallMS(e, calls), ""), summarize(wallMS(o, calls), "")
			switch {
			case len(o) == 0:
				b.p("| %s | %s | %s / %s | %s | not run (see above) | | |", p.Name, pr.label, num(es.Median), num(es.P99), pr.tool)
			case ts.N == 0:
				b.p("| %s | %s | %s / %s | %s | all %d runs failed: %s | | |", p.Name, pr.label, num(es.Median), num(es.P99), pr.tool, len(o), oneLine(o[0].Note))
			default:
				ratio := "–"
				if es.Median > 0 {
					ratio = num(ts.Median/es.Median) + "×"
				}
				failed := ""
				if ts.N < len(o) {
					failed = fmt.Sprintf(" (%d of %d runs failed)", len(o)-ts.N, len(o))
				}
				b.p("| %s | %s | %s / %s | %s | %s / %s%s | %s | %s / %s |", p.Name, pr.label, num(es.Median), num(es.P99), pr.tool, num(ts.Median), num(ts.P99), failed, ratio, num(ec.Median), num(oc.Median))
			}
		}
		b.p("| %s | overlay route move | %s / %s | aws-vpc-move-ip | not run: it also adds the address to a host interface and changes the host's routing (`ip addr`/`ip route` as root), which this report does not do to a shared machine; `make e2e`'s namespaces are the place | | |",
			p.Name, num(summarize(wallMS(g[series{p.Name, "ec2ha", "route"}], wall), "").Median), num(summarize(wallMS(g[series{p.Name, "ec2ha", "route"}], wall), "").P99))
	}
	b.p("")
	cli := summarize(wallMS(g[series{"zero", "aws-cli", "one call"}], wall), "")
	if cli.N > 0 {
		b.p("Reading it: ec2ha runs these operations inside the long-lived agent, so in the zero profile its time is the API round trips alone, while each tool run starts Python and imports botocore: one `aws` CLI call costs %s ms here before any latency, and an awseip stop plus start runs five of them (plus `curl` for IMDS) for one Elastic IP move. In the slow profile the EC2 calls dominate the fence for both; the difference left is start-up and the poll interval (fence_aws polls every second, `--stonith-status-sleep` default 1 s; ec2ha every %v). Neither side includes failure detection (section 4) or a cluster manager's own timers.", num(cli.Median), r.opts.poll)
		b.p("")
	}
	b.p("Every sample, with the same columns as sections 1–2:")
	b.p("")
	r.rows(b, func(k series) bool { return k.Tool != "ec2ha" })
	b.p("`aws-cli / one call` is a single `aws ec2 describe-instances`: Python start-up and one request, the unit each resource agent step is made of. `awseip eip-stop`/`eip-start` are the two halves of `awseip eip`.")
	b.p("")
	if len(r.Scen.Checks) > 0 {
		b.p("After a fence (zero profile, one functional run each):")
		b.p("")
		for _, c := range r.Scen.Checks {
			b.p("- %s", c)
		}
		b.p("")
	}
}

func pyVersion(py string) string {
	v, err := output(py, "-c", "import platform; print(platform.python_version())")
	if err != nil {
		return "?"
	}
	return v
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var memName = regexp.MustCompile(`^BenchmarkDetection/(\w+)/n=(\d+)/loss=([\d.]+)%$`)
var memLog = regexp.MustCompile(`(\w+) n=(\d+) loss=([\d.]+)%: (\d+) crashes, .*\(expected ≈([^,]+), bound ([^)]+)\), (\d+) false positives in ([^,]+),`)

func (r *report) membershipSection(b *md) {
	b.p("## 4. Failure detection and false positives (membership)")
	b.p("")
	b.p("`membership`'s `BenchmarkDetection`, reused as is: an in-process cluster on the memtest transport with the given packet loss; each iteration crashes a random member and times until the first node declares it failed, then restarts it. The median and p99 are over that run's crashes; false positives are failure events about members that were not crashed, over the whole run. The cluster starts twice per row (the benchmark's b.N=1 pass first), and only the second pass is reported.")
	b.p("")
	type row struct {
		profile      string
		n            int
		loss         float64
		med, p99, fp float64
		fph, bw      float64
		crashes      string
		expect, bnd  string
		window       string
		file         string
	}
	var rows []row
	var cmds []string
	for _, f := range sortedKeys(r.Go) {
		if !strings.HasPrefix(f, "membership") || f == "membership-fast-500.txt" {
			continue
		}
		g := r.Go[f]
		cmds = append(cmds, "`"+g.Bench.command()+"`")
		logs := map[string][]string{}
		for _, m := range memLog.FindAllStringSubmatch(readData(r.opts.data, f), -1) {
			logs[m[1]+"/"+m[2]+"/"+m[3]] = m // the last log line is the reported pass
		}
		for name, units := range g.Results {
			m := memName.FindStringSubmatch(name)
			if m == nil {
				continue
			}
			n, _ := strconv.Atoi(m[2])
			loss, _ := strconv.ParseFloat(m[3], 64)
			last := func(u string) float64 {
				v := units[u]
				if len(v) == 0 {
					return -1
				}
				return v[len(v)-1]
			}
			rw := row{profile: m[1], n: n, loss: loss, med: last("median-ms"), p99: last("p99-ms"), fp: last("false-pos"),
				fph: last("false-pos/node-h"), bw: last("B/s/node"), file: f}
			if l, ok := logs[m[1]+"/"+m[2]+"/"+m[3]]; ok {
				rw.crashes, rw.expect, rw.bnd, rw.window = l[4], l[5], l[6], l[8]
			}
			rows = append(rows, rw)
		}
	}
	if len(rows) == 0 {
		if r.opts.want("membership") {
			b.p("Not measured: the benchmark failed (see Errors).")
		} else {
			b.p("Not run in this run (section `membership`).")
		}
		b.p("")
		r.members500(b)
		return
	}
	slices.SortFunc(rows, func(a, c row) int {
		if a.profile != c.profile {
			return strings.Compare(a.profile, c.profile)
		}
		if a.n != c.n {
			return a.n - c.n
		}
		switch {
		case a.loss < c.loss:
			return -1
		case a.loss > c.loss:
			return 1
		}
		return 0
	})
	b.p("| profile | members | loss | crashes | detection median ms | p99 ms | model: expected / bound | false positives (per node-hour) | run length | gossip B/s per node |")
	b.p("|---|---|---|---|---|---|---|---|---|---|")
	for _, rw := range rows {
		b.p("| %s | %d | %g%% | %s | %s | %s | %s / %s | %s (%s) | %s | %s |", rw.profile, rw.n, rw.loss, rw.crashes, num(rw.med), num(rw.p99),
			rw.expect, rw.bnd, num(rw.fp), num(rw.fph), rw.window, num(rw.bw))
	}
	b.p("")
	b.p("Commands: %s.", strings.Join(cmds, ", "))
	b.p("")
	if !r.opts.full {
		b.p("Not measured in this run, to keep `make bench` near 25 minutes: fast at 100 members with 1%% and 5%% loss, lan beyond 3 members without loss (each lan crash takes 6–10 s to detect), and wan. `go run ./bench/cmd/report -full` runs every fast and lan row with 20 and 10 crashes.")
	}
	r.members500(b)
	b.p("")
	b.p("With so few crashes per row the p99 is the slowest crash; a false-positive rate of 0 over a few minutes bounds the rate only loosely (see the run length).")
	b.p("")
}

func readData(dir, file string) string {
	b, err := readFile(dir, file)
	if err != nil {
		return ""
	}
	return string(b)
}

func (r *report) microSection(b *md) {
	b.p("## 5. Decision cost and simulator throughput")
	b.p("")
	b.p("| benchmark | unit | runs | median | p99 | min–max | MAD |")
	b.p("|---|---|---|---|---|---|---|")
	var cmds []string
	for _, f := range []string{"decide.txt", "ec2sim.txt", "moves.txt"} {
		g, ok := r.Go[f]
		if !ok {
			continue
		}
		cmds = append(cmds, "`"+g.Bench.command()+"`")
		for _, name := range sortedKeys(g.Results) {
			for _, unit := range sortedKeys(g.Results[name]) {
				if f == "ec2sim.txt" && unit == "ns/op" && strings.Contains(name, "Throughput") {
					continue // per-op time of parallel clients; req/s says it
				}
				s := summarize(g.Results[name][unit], unit)
				b.p("| %s | %s | %s |", strings.TrimPrefix(name, "Benchmark"), unit, s.cells())
			}
		}
	}
	b.p("")
	if len(cmds) > 0 {
		b.p("Commands: %s.", strings.Join(cmds, ", "))
		b.p("")
	}
	b.p("`DecideFailover` is one call of the pure `failover.Decide` for a three-node cluster whose active member is dead and stopped. `RequestThroughput` is small `DescribeAddresses` calls from parallel SDK clients over HTTP to one simulator (GOMAXPROCS = %s). `DescribeInstancesTagFilter` is the membership discovery call (10 tagged instances out of 1,000) through the SDK; `DescribeInstancesServerSide` the simulator's share of it without HTTP.", r.Machine["cpus"])
	if r.Benchstat != "" {
		b.p("benchstat's view of the same files is in `data/%s`.", r.Benchstat)
	}
	b.p("")
}
