package main

import (
	"testing"
	"time"
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
	v, err := lastJSON([]byte("starting\n{\"steps\":[{\"name\":\"detected\",\"duration_ms\":1500},{\"name\":\"fenced\",\"duration\":\"3.2s\"}],\"total_ms\":4700,\"ec2_calls\":{\"failover\":12}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := demoResult{StepMS: map[string][]float64{}, SinceMS: map[string][]float64{}}
	d.absorb(v)
	if len(d.Steps) != 2 || d.StepMS["fenced"][0] != 3200 || d.StepMS["detected"][0] != 1500 || d.TotalMS[0] != 4700 || d.CallsPerFailover[0] != 12 {
		t.Fatalf("%+v", d)
	}
}

func TestDemoReportShape(t *testing.T) {
	v, err := lastJSON([]byte(`{"fault":"crash","ok":true,"steps":[{"key":"fault","step_ns":0,"since_fault_ns":0},{"key":"detected","step_ns":1500000000,"since_fault_ns":1500000000}],"total_ns":9000000000,"client_downtime_ns":4000000000}`))
	if err != nil {
		t.Fatal(err)
	}
	d := demoResult{StepMS: map[string][]float64{}, SinceMS: map[string][]float64{}}
	d.absorb(v)
	if len(d.Steps) != 2 || d.StepMS["detected"][0] != 1500 || d.SinceMS["detected"][0] != 1500 || d.TotalMS[0] != 9000 || d.DowntimeMS[0] != 4000 {
		t.Fatalf("%+v", d)
	}
}
