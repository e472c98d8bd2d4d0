// Command report runs ec2ha's benchmarks and scenario timings and writes
// bench/report.md with the raw data under bench/data/. `make bench` runs
// it from the repository root; see bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

var started = time.Now()

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench [%5.0fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, a...))
}

type options struct {
	out, data, bin string
	runs, count    int
	demoRuns       int
	stop, call     time.Duration
	poll           time.Duration
	apiDelay       int
	full, skipGo   bool
	skipMembership bool
	only           string
	steady         time.Duration // quiet window of the cluster runs
	manyAgents     int           // agents in the large cluster run; 0 skips it
	groups         string        // group counts of the 3-agent cluster runs
	sections       map[string]bool
}

// Sections of the report, for -only. Each can be run on its own while
// working on it; the report then says which were left out.
var sectionNames = []string{"go", "membership", "members500", "scenarios", "demo", "cluster", "agents100"}

var sectionHelp = map[string]string{
	"go":         "micro-benchmarks (decide, ec2sim, moves, fence)",
	"membership": "BenchmarkDetection rows (section 4)",
	"members500": "the bounded 500-member in-process attempt (section 4)",
	"scenarios":  "fence, moves and the fence_aws/awseip/awsvip side by side (sections 1-3)",
	"demo":       "`ec2ha demo --json` runs: failover timeline (6a)",
	"cluster":    "3 agents with 1 and 50 groups: EC2 calls, memory, CPU (6b, 6c)",
	"agents100":  "-many-agents agents (default 100) with 1 group: EC2 calls, memory, CPU (6b, 6c)",
}

func (o options) want(section string) bool { return o.sections[section] }

func main() {
	var o options
	flag.StringVar(&o.out, "out", "bench/report.md", "the report")
	flag.StringVar(&o.data, "data", "bench/data", "directory for the raw data")
	flag.StringVar(&o.bin, "bin", "bin/ec2ha", "the ec2ha binary, for the demo sections")
	flag.IntVar(&o.runs, "runs", 10, "timed runs per scenario and tool (plus one warm-up)")
	flag.IntVar(&o.count, "count", 10, "go test -count for the micro-benchmarks")
	flag.IntVar(&o.demoRuns, "demo-runs", 5, "runs of `ec2ha demo --json`")
	flag.DurationVar(&o.stop, "stop-latency", 3*time.Second, "the simulator's stop latency in the slow profile (ec2sim.DemoDurations.Stopping)")
	flag.DurationVar(&o.call, "call-latency", 50*time.Millisecond, "latency added to every API call in the slow profile")
	flag.DurationVar(&o.poll, "poll", 500*time.Millisecond, "ec2ha's fencing.poll_interval (the configuration default)")
	flag.IntVar(&o.apiDelay, "ra-api-delay", 0, "api_delay (seconds slept after each EC2 change) for awseip/awsvip; their default is 3")
	flag.BoolVar(&o.full, "full", false, "every membership profile, size and loss, and 5-minute cluster windows (roughly 40 minutes more)")
	flag.BoolVar(&o.skipGo, "skip-go", false, "skip the go test benchmarks (for working on the report)")
	flag.BoolVar(&o.skipMembership, "skip-membership", false, "skip the membership detection benchmarks")
	flag.StringVar(&o.only, "only", "", "comma-separated sections to run, of: "+strings.Join(sectionNames, ", ")+" (default all)")
	flag.DurationVar(&o.steady, "steady", 45*time.Second, "quiet window of each cluster run, from which steady-state calls per hour are extrapolated (-full: 5m)")
	flag.StringVar(&o.groups, "cluster-groups", "1,50", "group counts of the 3-agent cluster runs (section cluster)")
	flag.IntVar(&o.manyAgents, "many-agents", 100, "agents in the agents100 run (at most 200: one loopback address each)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench/cmd/report [flags]\n\nSections (-only):\n")
		for _, n := range sectionNames {
			fmt.Fprintf(flag.CommandLine.Output(), "  %-11s %s\n", n, sectionHelp[n])
		}
		fmt.Fprintf(flag.CommandLine.Output(), "\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	var err error
	if o.sections, err = parseSections(o.only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if o.skipGo {
		o.sections["go"], o.sections["membership"], o.sections["members500"] = false, false, false
	}
	if o.skipMembership {
		o.sections["membership"], o.sections["members500"] = false, false
	}
	if o.full && !flagSet("steady") {
		o.steady = 5 * time.Minute
	}
	if o.manyAgents < 0 || o.manyAgents > 200 {
		fmt.Fprintf(os.Stderr, "bench: -many-agents %d: give 0 (skip) to 200, one loopback address each\n", o.manyAgents)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.data, 0o755); err != nil {
		return err
	}
	// The Python tools and ec2ha's SDK client find these dummy keys; the
	// simulator accepts any.
	os.Setenv("AWS_ACCESS_KEY_ID", "AKIDSIMULATOR")
	os.Setenv("AWS_SECRET_ACCESS_KEY", "simulator-secret")
	os.Unsetenv("AWS_PROFILE")
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	r := &report{opts: o, Machine: machine(), Go: map[string]goRun{}}
	cmdline := "make bench"
	if len(os.Args) > 1 {
		cmdline = "go run ./bench/cmd/report " + strings.Join(os.Args[1:], " ")
	}
	r.Command = cmdline

	if benches := goBenches(o); len(benches) > 0 {
		for _, g := range benches {
			logf("%s", g.command())
			res, took, u, err := g.runUsage(o.data)
			gr := goRun{Bench: g, Results: res, Took: took, Usage: u}
			if err != nil {
				gr.Err = err.Error()
				logf("error: %v", err)
			}
			r.Go[g.File] = gr
		}
		r.Benchstat = benchstat(o.data)
	}

	if o.want("scenarios") {
		tmp, err := os.MkdirTemp("", "ec2ha-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		tools := findTools(tmp, o.apiDelay)
		profiles := []profile{{Name: "zero", Stopping: 0, Call: 0}, {Name: "slow", Stopping: o.stop, Call: o.call}}
		r.Profiles = profiles
		r.Scen = runScenarios(ctx, profiles, o.runs, tools, o.poll)
		if err := writeSamples(filepath.Join(o.data, "scenarios.csv"), r.Scen.Samples); err != nil {
			return err
		}
	}

	r.Demo = newDemoResult(o.bin + " demo --json")
	if o.want("demo") {
		r.Demo = runDemo(ctx, o.bin, o.demoRuns, o.data)
	}
	var specs []clusterSpec
	if o.want("cluster") {
		for _, f := range strings.Split(o.groups, ",") {
			g, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || g < 1 || g > 100 {
				return fmt.Errorf("-cluster-groups %q: give group counts from 1 to 100, e.g. 1,50", o.groups)
			}
			name := fmt.Sprintf("3 agents, %d groups", g)
			if g == 1 {
				name = "3 agents, 1 group"
			}
			// Start-up grows with the groups: each start is observed and
			// acted on in turn.
			specs = append(specs, clusterSpec{Name: name, Nodes: 3, Groups: g, Steady: o.steady, Ready: 90*time.Second + time.Duration(g)*6*time.Second})
		}
	}
	if o.want("agents100") && o.manyAgents > 0 {
		// A shorter window: a hundred agents on a small machine is the
		// expensive run, and the per-agent figures settle quickly.
		specs = append(specs, clusterSpec{Name: fmt.Sprintf("%d agents, 1 group", o.manyAgents), Nodes: o.manyAgents, Groups: 1,
			Steady: min(o.steady, 30*time.Second), Ready: 4 * time.Minute})
	}
	if len(specs) > 0 {
		r.Clusters = runClusters(ctx, o.bin, specs, o.data)
	}
	r.Took = time.Since(started)
	md := r.markdown()
	if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
		return err
	}
	logf("wrote %s and %s/ in %v", o.out, o.data, r.Took.Round(time.Second))
	return nil
}

// goBenches lists the go test runs. The membership runs dominate: each
// crash is one detection (1.5–3s for fast, 6–10s for lan) plus the
// restart, and each sub-benchmark starts its cluster twice (b.N=1 first).
func goBenches(o options) []goBench {
	c := o.count
	var bs []goBench
	if o.want("go") {
		bs = append(bs,
			goBench{File: "decide.txt", Pkg: "./failover", Pattern: "^BenchmarkDecideFailover$", Benchtime: "0.2s", Count: c, Extra: []string{"-benchmem"}},
			goBench{File: "ec2sim.txt", Pkg: "./ec2/ec2sim", Pattern: "^Benchmark(RequestThroughput|DescribeInstancesTagFilter|DescribeInstancesServerSide)$", Benchtime: "0.3s", Count: c},
			goBench{File: "moves.txt", Pkg: "./ec2/moves", Pattern: "^BenchmarkCompleteMove$", Benchtime: "0.3s", Count: c},
			goBench{File: "fence.txt", Pkg: "./fencing", Pattern: "^BenchmarkFence$/^stop-0s$", Benchtime: "20x", Count: 3},
		)
	}
	if o.want("members500") {
		// One pass (b.N=1, one crash) with a hard bound: at 500 members
		// the in-process cluster needs more CPU than a small machine has,
		// and what happens within the bound is the finding. The benchmark
		// gives up converging 45 s after the members started and says so
		// at once; the rest of the bound is its clean-up.
		bs = append(bs, goBench{File: "membership-fast-500.txt", Pkg: "./membership", Pattern: members500Pattern, Benchtime: "1x", Count: 1, Bound: 100 * time.Second})
	}
	if !o.want("membership") {
		return bs
	}
	if o.full {
		bs = append(bs,
			goBench{File: "membership-fast.txt", Pkg: "./membership", Pattern: "^BenchmarkDetection$/^fast$/^n=(3|10|100)$/", Benchtime: "20x", Count: 1, Bound: 60 * time.Minute},
			goBench{File: "membership-lan.txt", Pkg: "./membership", Pattern: "^BenchmarkDetection$/^lan$/", Benchtime: "10x", Count: 1, Bound: 60 * time.Minute},
		)
		return bs
	}
	// The bounds stop a hung run (its goroutine dump stays in the data
	// file) from eating the budget.
	return append(bs,
		goBench{File: "membership-fast-small.txt", Pkg: "./membership", Pattern: "^BenchmarkDetection$/^fast$/^n=(3|10)$/", Benchtime: "8x", Count: 1, Bound: 6 * time.Minute},
		goBench{File: "membership-fast-100.txt", Pkg: "./membership", Pattern: "^BenchmarkDetection$/^fast$/^n=100$/^loss=0%$", Benchtime: "4x", Count: 1, Bound: 4 * time.Minute},
		goBench{File: "membership-lan-3.txt", Pkg: "./membership", Pattern: "^BenchmarkDetection$/^lan$/^n=3$/^loss=0%$", Benchtime: "4x", Count: 1, Bound: 3 * time.Minute},
	)
}

// benchstat runs benchstat over the micro-benchmark files when it is
// installed (go install golang.org/x/perf/cmd/benchstat@latest).
func benchstat(dataDir string) string {
	path, err := exec.LookPath("benchstat")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "benchstat")
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		path = p
	}
	var files []string
	for _, f := range []string{"decide.txt", "ec2sim.txt", "moves.txt"} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err == nil {
			files = append(files, f)
		}
	}
	var out []byte
	for _, f := range files {
		cmd := exec.Command(path, f)
		cmd.Dir = dataDir
		b, err := cmd.CombinedOutput()
		if err != nil {
			logf("benchstat %s: %v", f, err)
			continue
		}
		out = append(out, []byte("== "+f+"\n")...)
		out = append(out, b...)
		out = append(out, '\n')
	}
	if len(out) == 0 {
		return ""
	}
	if err := os.WriteFile(filepath.Join(dataDir, "benchstat.txt"), out, 0o644); err != nil {
		return ""
	}
	return "benchstat.txt"
}

// machine describes where the figures were measured.
func machine() map[string]string {
	m := map[string]string{"goos/goarch": runtime.GOOS + "/" + runtime.GOARCH, "cpus": fmt.Sprint(runtime.NumCPU())}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m["memory"] = strings.Join(strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:], " ")
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["load average at start"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if out, err := output("uname", "-sr"); err == nil {
		m["kernel"] = out
	}
	if out, err := output("go", "version"); err == nil {
		m["go"] = out
	}
	if out, err := output("git", "rev-parse", "--short", "HEAD"); err == nil {
		dirty, _ := output("git", "status", "--porcelain", "--untracked-files=no")
		if dirty != "" {
			out += " (work tree has uncommitted changes)"
		}
		m["commit"] = out
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m["os"] = strings.Trim(v, `"`)
			}
		}
	}
	return m
}

const members500Pattern = "^BenchmarkDetection$/^fast$/^n=500$/^loss=0%$"

func parseSections(only string) (map[string]bool, error) {
	m := map[string]bool{}
	if strings.TrimSpace(only) == "" {
		for _, n := range sectionNames {
			m[n] = true
		}
		return m, nil
	}
	for _, n := range strings.Split(only, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(sectionNames, n) {
			return nil, fmt.Errorf("-only %q: unknown section %q; use some of %s", only, n, strings.Join(sectionNames, ", "))
		}
		m[n] = true
	}
	return m, nil
}

func flagSet(name string) (set bool) {
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

func readFile(dir, file string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, file)) }
