package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/internal/api"
)

func TestSummarize(t *testing.T) {
	var xs []float64
	for i := 100; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	s := summarize(xs, "ms")
	if s.N != 100 || s.Median != 50.5 || s.P99 != 99 || s.Min != 1 || s.Max != 100 || s.MedianAbsDeviation != 25 {
		t.Fatalf("%+v", s)
	}
	if s := summarize([]float64{3, 1, 2}, ""); s.Median != 2 || s.P99 != 3 {
		t.Fatalf("%+v", s)
	}
}

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkDecideFailover-2   	  381222	       622.7 ns/op	     312 B/op	       7 allocs/op
BenchmarkDecideFailover-2   	  381222	       600.0 ns/op	     312 B/op	       7 allocs/op
BenchmarkDetection/fast/n=3/loss=0%-2         	       8	       967.7 B/s/node	         0 false-pos	      1700 median-ms
--- BENCH: BenchmarkDetection/fast/n=3/loss=0%-2
PASS
`)
	r := parseBench(out)
	if got := r["BenchmarkDecideFailover"]["ns/op"]; len(got) != 2 || got[1] != 600 {
		t.Fatalf("ns/op %v", got)
	}
	if got := r["BenchmarkDetection/fast/n=3/loss=0%"]["median-ms"]; len(got) != 1 || got[0] != 1700 {
		t.Fatalf("median-ms %v", got)
	}
}

func TestFloor(t *testing.T) {
	p := profile{Stopping: 3 * time.Second, Call: 50 * time.Millisecond}
	t0 := time.Unix(0, 0)
	calls := []call{{"DescribeInstances", t0}, {"DescribeInstances", t0.Add(50 * time.Millisecond)},
		{"StopInstances", t0.Add(100 * time.Millisecond)},
		{"DescribeInstances", t0.Add(200 * time.Millisecond)},  // while stopping
		{"DescribeInstances", t0.Add(3200 * time.Millisecond)}, // after stopped (stop+50ms+3s)
		{"CreateTags", t0.Add(3300 * time.Millisecond)}}
	if got, want := p.floor(calls), 3*time.Second+5*50*time.Millisecond; got != want {
		t.Fatalf("floor %v, want %v", got, want)
	}
	if got := p.floor(calls[:2]); got != 100*time.Millisecond {
		t.Fatalf("floor without a stop %v", got)
	}
}

func TestDemoJSON(t *testing.T) {
	v, err := lastJSON([]byte("starting\n{\"steps\":[{\"name\":\"detected\",\"duration_ms\":1500},{\"name\":\"fenced\",\"duration\":\"3.2s\"}],\"total_ms\":4700}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := newDemoResult("ec2ha demo --json")
	d.absorb(v)
	if len(d.Steps) != 2 || d.StepMS["fenced"][0] != 3200 || d.StepMS["detected"][0] != 1500 || d.TotalMS[0] != 4700 {
		t.Fatalf("%+v", d)
	}
}

func TestDemoReportShape(t *testing.T) {
	v, err := lastJSON([]byte(`{"fault":"crash","ok":true,"steps":[{"key":"fault","step_ns":0,"since_fault_ns":0},{"key":"detected","step_ns":1500000000,"since_fault_ns":1500000000}],"total_ns":9000000000,"client_downtime_ns":4000000000}`))
	if err != nil {
		t.Fatal(err)
	}
	d := newDemoResult("ec2ha demo --json")
	d.absorb(v)
	if len(d.Steps) != 2 || d.StepMS["detected"][0] != 1500 || d.SinceMS["detected"][0] != 1500 || d.TotalMS[0] != 9000 || d.DowntimeMS[0] != 4000 {
		t.Fatalf("%+v", d)
	}
}

func TestParseStatus(t *testing.T) {
	text := "Name:\tec2ha\nState:\tS (sleeping)\nVmPeak:\t 1300000 kB\nVmHWM:\t   41236 kB\nVmRSS:\t   38112 kB\nThreads:\t9\n"
	rss, hwm, err := parseStatus(text)
	if err != nil || rss != 38112 || hwm != 41236 {
		t.Fatalf("rss %d hwm %d err %v", rss, hwm, err)
	}
	// A zombie has no memory lines: an error, not zeros that would read
	// as a tiny agent.
	if _, _, err := parseStatus("Name:\tec2ha\nState:\tZ (zombie)\n"); err == nil {
		t.Fatal("no error for a status without VmRSS")
	}
}

func TestParseStat(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime stime cutime cstime
	// are fields 14-17.
	text := "4242 (ec2ha (agent) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 7 3 20 0 9 0 1234 1300000000 9528 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	self, children, err := parseStat(text)
	if err != nil || self != 300 || children != 10 {
		t.Fatalf("self %d children %d err %v", self, children, err)
	}
	if _, _, err := parseStat("4242 (short) S 1 2"); err == nil {
		t.Fatal("no error for a truncated stat line")
	}
	a := procSample{At: time.Unix(0, 0), Self: 100}
	b := procSample{At: time.Unix(10, 0), Self: 150, Children: 20}
	if got := cpuPercent(a, b, false); got != 5 { // 50 ticks = 0.5 s over 10 s
		t.Fatalf("cpu %v%%, want 5%%", got)
	}
	if got := cpuPercent(a, b, true); got != 2 {
		t.Fatalf("hooks cpu %v%%, want 2%%", got)
	}
}

func TestPromLabeled(t *testing.T) {
	text := `# HELP ec2ha_ec2_api_calls_total EC2 API calls by action.
# TYPE ec2ha_ec2_api_calls_total counter
ec2ha_ec2_api_calls_total{action="DescribeInstances"} 1800
ec2ha_ec2_api_calls_total{action="DescribeAddresses"} 900
ec2ha_ec2_api_calls_total_extra{action="DescribeInstances"} 5
ec2ha_ec2_api_call_duration_seconds_count{action="DescribeInstances"} 1800
ec2ha_group_owner{group="web",node="node-2"} 1
ec2ha_quorate 1
ec2ha_coordinator 0
`
	calls := promLabeled(text, "ec2ha_ec2_api_calls_total", "action")
	if len(calls) != 2 || calls["DescribeInstances"] != 1800 || calls["DescribeAddresses"] != 900 {
		t.Fatalf("calls %v", calls)
	}
	if q := promLabeled(text, "ec2ha_quorate", ""); q[""] != 1 {
		t.Fatalf("quorate %v", q)
	}
	if o := promLabeled(text, "ec2ha_group_owner", "node"); o["node-2"] != 1 {
		t.Fatalf("owner %v", o)
	}
	if c := promLabeled(text, "ec2ha_coordinator", ""); c[""] != 0 || len(c) != 1 {
		t.Fatalf("coordinator %v", c)
	}
}

func TestDemoPhases(t *testing.T) {
	// The shape `ec2ha demo --json` prints (internal/demo.Report), cut
	// to the milestones the breakdown uses.
	out := `{"fault":"crash","ok":true,"steps":[
{"key":"fault","since_fault_ns":0,"step_ns":0},
{"key":"detected","since_fault_ns":1340000000,"step_ns":1340000000},
{"key":"quorum","since_fault_ns":1396000000,"step_ns":56000000},
{"key":"fence-requested","since_fault_ns":1848000000,"step_ns":452000000},
{"key":"fence-confirmed","since_fault_ns":4849000000,"step_ns":3001000000},
{"key":"eip-moved","since_fault_ns":4881000000,"step_ns":32000000},
{"key":"overlay-moved","since_fault_ns":4882000000,"step_ns":1000000},
{"key":"serving","since_fault_ns":4922000000,"step_ns":40000000}],
"total_ns":4922000000,"client_downtime_ns":4969000000}`
	v, err := lastJSON([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	d := newDemoResult("ec2ha demo --json")
	d.absorb(v)
	want := map[string]float64{phaseDetection: 1340, phaseDecision: 508, phaseFence: 3001, phaseMoves: 33, phaseService: 40, phaseServing: 4922}
	for k, w := range want {
		if got := d.PhaseMS[k]; len(got) != 1 || got[0] != w {
			t.Errorf("%s: %v, want %v", k, got, w)
		}
	}
	// The parts add up to the whole.
	sum := 0.0
	for _, k := range phaseOrder[:len(phaseOrder)-1] {
		sum += d.PhaseMS[k][0]
	}
	if sum != d.PhaseMS[phaseServing][0] {
		t.Errorf("parts add up to %v, total %v", sum, d.PhaseMS[phaseServing][0])
	}
}

func TestDemoPhasesMissingStep(t *testing.T) {
	// A run without an overlay route still has its moves (the Elastic IP);
	// a run that never served has no service parts, rather than zeros.
	p := phases(map[string]float64{"fault": 0, "detected": 1500, "fence-requested": 2000, "fence-confirmed": 5000, "eip-moved": 5100})
	if p[phaseMoves] != 100 {
		t.Errorf("moves %v", p[phaseMoves])
	}
	if _, ok := p[phaseService]; ok {
		t.Errorf("service answering without a serving step: %v", p[phaseService])
	}
	if _, ok := p[phaseServing]; ok {
		t.Errorf("fault → serving without a serving step")
	}
}

func TestDescribe500(t *testing.T) {
	out := "    helpers_test.go:137: timed out waiting for the cluster to converge; last state: n000=alive n001=alive n002=suspect n003=dead n004=alive\nFAIL\n"
	got := describe500(out, "exit status 1")
	if !strings.Contains(got, "the cluster to converge") || !strings.Contains(got, "3 alive, 1 suspect, 1 dead") {
		t.Fatalf("%q", got)
	}
	got = describe500("n=500: not converged 45s after the last of the members started (starting them took 1m2s); the observer sees 212 members: map[alive:200 suspect:12], 200 votes\n", "stopped after the 3m0s bound")
	if !strings.HasPrefix(got, "did not converge: not converged 45s") || !strings.Contains(got, "212 members") || strings.Contains(got, "Shutdown") {
		t.Fatalf("%q", got)
	}
	got = describe500("n=500: not converged 45s after …\ngoroutine 1 [running]:\ngithub.com/ec2ha/ec2ha/membership.(*Node).Shutdown(0x1)\n", "stopped after the 3m0s bound")
	if !strings.Contains(got, "shutting the members down") {
		t.Fatalf("%q", got)
	}
	got = describe500("goroutine 7 [running]:\ngithub.com/ec2ha/ec2ha/membership.(*cluster).start(0x1)\n", "stopped after the 3m0s bound (SIGQUIT; goroutine dump in the data file)")
	if !strings.Contains(got, "still starting the members") {
		t.Fatalf("%q", got)
	}
	got = describe500("panic: test timed out after 4m0s\n\trunning tests:\n", "exit status 2")
	if !strings.Contains(got, "4m0s bound") {
		t.Fatalf("%q", got)
	}
}

func TestParseSections(t *testing.T) {
	all, err := parseSections("")
	if err != nil || len(all) != len(sectionNames) {
		t.Fatalf("%v %v", all, err)
	}
	some, err := parseSections("cluster, demo")
	if err != nil || !some["cluster"] || !some["demo"] || some["go"] {
		t.Fatalf("%v %v", some, err)
	}
	if _, err := parseSections("cluster,agent"); err == nil || !strings.Contains(err.Error(), `"agent"`) {
		t.Fatalf("unknown section: %v", err)
	}
}

func TestWindowPerHour(t *testing.T) {
	w := window{Took: time.Minute, Sim: map[string]int{"DescribeInstances": 30, "DescribeAddresses": 30}}
	if got := w.perHour(float64(w.simTotal())); got != 3600 {
		t.Fatalf("per hour %v", got)
	}
	if got := (window{}).perHour(10); got != 0 {
		t.Fatalf("empty window %v", got)
	}
}

func TestMilestones(t *testing.T) {
	fault := time.Unix(1000, 0)
	c := &cluster{
		failed: []failedEvent{
			{Observer: "node-2", Member: "node-1", At: fault.Add(1600 * time.Millisecond)},
			{Observer: "node-3", Member: "node-1", At: fault.Add(1500 * time.Millisecond)},
			{Observer: "node-2", Member: "node-3", At: fault.Add(-time.Minute)}, // before the crash, another member
		},
		events: []api.Event{
			{Kind: "fence", Node: "node-1", Time: fault.Add(5100 * time.Millisecond), Duration: 3 * time.Second},
			{Kind: "move", Group: "web", Time: fault.Add(5200 * time.Millisecond)},
			{Kind: "move", Group: "2", Time: fault.Add(7000 * time.Millisecond)},
			{Kind: "move", Group: "3", Time: fault.Add(9000 * time.Millisecond)}, // not the victim's
		},
	}
	m := c.milestones(fault, "node-1", []string{"web", "2"})
	want := map[string]time.Duration{"detected": 1500 * time.Millisecond, "fence-requested": 2100 * time.Millisecond,
		"fence-confirmed": 5100 * time.Millisecond, "first-move": 5200 * time.Millisecond, "last-move": 7 * time.Second}
	for k, w := range want {
		if m[k] != w {
			t.Errorf("%s = %v, want %v", k, m[k], w)
		}
	}
	if len(m) != len(want) {
		t.Errorf("milestones %v", m)
	}
}
