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
}

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
	flag.BoolVar(&o.full, "full", false, "every membership profile, size and loss (about 25 minutes more)")
	flag.BoolVar(&o.skipGo, "skip-go", false, "skip the go test benchmarks (for working on the report)")
	flag.BoolVar(&o.skipMembership, "skip-membership", false, "skip the membership detection benchmarks")
	flag.Parse()

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

	if !o.skipGo {
		for _, g := range goBenches(o) {
			logf("%s", g.command())
			res, took, err := g.run(o.data)
			gr := goRun{Bench: g, Results: res, Took: took}
			if err != nil {
				gr.Err = err.Error()
				logf("error: %v", err)
			}
			r.Go[g.File] = gr
		}
		r.Benchstat = benchstat(o.data)
	}

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

	r.Demo = runDemo(ctx, o.bin, o.demoRuns, o.data)
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
	bs := []goBench{
		{File: "decide.txt", Pkg: "./failover", Pattern: "^BenchmarkDecideFailover$", Benchtime: "0.2s", Count: c, Extra: []string{"-benchmem"}},
		{File: "ec2sim.txt", Pkg: "./ec2/ec2sim", Pattern: "^Benchmark(RequestThroughput|DescribeInstancesTagFilter|DescribeInstancesServerSide)$", Benchtime: "0.3s", Count: c},
		{File: "moves.txt", Pkg: "./ec2/moves", Pattern: "^BenchmarkCompleteMove$", Benchtime: "0.3s", Count: c},
		{File: "fence.txt", Pkg: "./fencing", Pattern: "^BenchmarkFence$/^stop-0s$", Benchtime: "20x", Count: 3},
	}
	if o.skipMembership {
		return bs
	}
	if o.full {
		bs = append(bs,
			goBench{File: "membership-fast.txt", Pkg: "./membership", Pattern: "^BenchmarkDetection$/^fast$/", Benchtime: "20x", Count: 1, Extra: []string{"-timeout", "60m"}},
			goBench{File: "membership-lan.txt", Pkg: "./membership", Pattern: "^BenchmarkDetection$/^lan$/", Benchtime: "10x", Count: 1, Extra: []string{"-timeout", "60m"}},
		)
		return bs
	}
	// The timeouts stop a hung run (its goroutine dump stays in the data
	// file) from eating the budget.
	return append(bs,
		goBench{File: "membership-fast-small.txt", Pkg: "./membership", Pattern: "^BenchmarkDetection$/^fast$/^n=(3|10)$/", Benchtime: "8x", Count: 1, Extra: []string{"-timeout", "6m"}},
		goBench{File: "membership-fast-100.txt", Pkg: "./membership", Pattern: "^BenchmarkDetection$/^fast$/^n=100$/^loss=0%$", Benchtime: "4x", Count: 1, Extra: []string{"-timeout", "4m"}},
		goBench{File: "membership-lan-3.txt", Pkg: "./membership", Pattern: "^BenchmarkDetection$/^lan$/^n=3$/^loss=0%$", Benchtime: "4x", Count: 1, Extra: []string{"-timeout", "3m"}},
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

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

func readFile(dir, file string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, file)) }
