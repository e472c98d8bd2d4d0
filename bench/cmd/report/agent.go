package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The failover timeline comes from `ec2ha demo --json`. The demo is
// written elsewhere; this reads its output tolerantly and says "not
// measured" with the reason when something is missing. What it looks for
// is described in bench/README.md. EC2 calls and agent resources come
// from the cluster runs (cluster.go).

type demoResult struct {
	NotMeasured string // reason the whole demo section is empty
	Command     string
	Runs        int
	Steps       []string             // in first-seen order
	StepMS      map[string][]float64 // per step: time since the step before it, one value per run
	SinceMS     map[string][]float64 // per step: time since the fault
	TotalMS     []float64
	DowntimeMS  []float64 // client-observed
	// PhaseMS are the failover's parts (phaseOrder), one value per run.
	PhaseMS map[string][]float64
	// What the demo configures, to subtract from the phases.
	Configured demoConfigured
	Raw        []string // data files
}

func newDemoResult(command string) demoResult {
	return demoResult{Command: command, StepMS: map[string][]float64{}, SinceMS: map[string][]float64{},
		PhaseMS: map[string][]float64{}, Configured: configuredByDemo()}
}

// The parts of a failover in the report's breakdown, from the demo's
// milestones (internal/demo's Step* keys).
const (
	phaseDetection = "detection (fault → a member declares it failed)"
	phaseDecision  = "quorum and decision (→ fence requested)"
	phaseFence     = "fence (requested → EC2 reports stopped)"
	phaseMoves     = "address moves (→ Elastic IP and overlay route moved)"
	phaseService   = "service answering (→ first 200 from the new owner)"
	phaseServing   = "fault → service answering"
)

var phaseOrder = []string{phaseDetection, phaseDecision, phaseFence, phaseMoves, phaseService, phaseServing}

// phases splits one run's milestones (ms since the fault) into the
// failover's parts; a part whose ends are missing is left out.
func phases(since map[string]float64) map[string]float64 {
	out := map[string]float64{}
	span := func(name, from, to string) {
		a, okA := since[from]
		b, okB := since[to]
		if okA && okB {
			out[name] = b - a
		}
	}
	if _, ok := since["fault"]; !ok && len(since) > 0 {
		since["fault"] = 0
	}
	// The moves end when the later of the two addresses has moved.
	if e, ok := since["eip-moved"]; ok {
		since["moved"] = e
	}
	if o, ok := since["overlay-moved"]; ok && o > since["moved"] {
		since["moved"] = o
	}
	span(phaseDetection, "fault", "detected")
	span(phaseDecision, "detected", "fence-requested")
	span(phaseFence, "fence-requested", "fence-confirmed")
	span(phaseMoves, "fence-confirmed", "moved")
	span(phaseService, "moved", "serving")
	span(phaseServing, "fault", "serving")
	return out
}

func runDemo(ctx context.Context, bin string, runs int, dataDir string) demoResult {
	d := newDemoResult(bin + " demo --json")
	if _, err := os.Stat(bin); err != nil {
		d.NotMeasured = fmt.Sprintf("%s does not exist (make build failed?)", bin)
		return d
	}
	help, _ := exec.CommandContext(ctx, bin, "demo", "--help").CombinedOutput()
	if !bytes.Contains(help, []byte("--json")) {
		d.NotMeasured = fmt.Sprintf("`%s demo --help` lists no --json flag yet (the demo, issue 9, is being written)", bin)
		return d
	}
	for i := 1; i <= runs; i++ {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		cmd := exec.CommandContext(cctx, bin, "demo", "--json")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		logf("demo run %d/%d", i, runs)
		err := cmd.Run()
		cancel()
		name := fmt.Sprintf("demo-%d.json", i)
		_ = os.WriteFile(filepath.Join(dataDir, name), out.Bytes(), 0o644)
		d.Raw = append(d.Raw, name)
		if err != nil {
			d.NotMeasured = fmt.Sprintf("`%s` failed on run %d: %v: %s", d.Command, i, err, oneLine(lastLine(errb.String())))
			return d
		}
		v, err := lastJSON(out.Bytes())
		if err != nil {
			d.NotMeasured = fmt.Sprintf("`%s` printed no JSON document on run %d: %v", d.Command, i, err)
			return d
		}
		if m, ok := v.(map[string]any); ok && m["ok"] == false {
			d.NotMeasured = fmt.Sprintf("`%s` reported a failed run (%d): %v; missing steps %v", d.Command, i, m["error"], m["missing"])
			return d
		}
		d.absorb(v)
		d.Runs++
	}
	if len(d.Steps) == 0 && len(d.TotalMS) == 0 {
		d.NotMeasured = fmt.Sprintf("`%s` output has no timeline (no steps/timeline/phases array with durations; see bench/README.md)", d.Command)
	}
	return d
}

// lastJSON returns the whole output as one JSON document, or else its
// last line that is one (JSON lines).
func lastJSON(b []byte) (any, error) {
	var v any
	if err := json.Unmarshal(b, &v); err == nil {
		return v, nil
	}
	var last any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var lines []any
	for sc.Scan() {
		var x any
		if json.Unmarshal(sc.Bytes(), &x) == nil {
			lines = append(lines, x)
			last = x
		}
	}
	if last == nil {
		return nil, fmt.Errorf("%d bytes, none of it JSON", len(b))
	}
	if len(lines) > 1 {
		// JSON lines of steps: treat them as a timeline.
		return map[string]any{"steps": lines}, nil
	}
	return last, nil
}

func (d *demoResult) absorb(v any) {
	m, _ := v.(map[string]any)
	if m == nil {
		if arr, ok := v.([]any); ok {
			m = map[string]any{"steps": arr}
		} else {
			return
		}
	}
	since := map[string]float64{} // this run's steps, since the fault
	for _, key := range []string{"steps", "timeline", "phases", "events"} {
		arr, ok := m[key].([]any)
		if !ok {
			continue
		}
		for _, el := range arr {
			o, ok := el.(map[string]any)
			if !ok {
				continue
			}
			name := firstString(o, "key", "name", "step", "phase", "event")
			dur, ok := durationMS(o, "step_ns", "duration_ms", "durationMs", "ms", "duration", "seconds", "took")
			if at, ok := durationMS(o, "since_fault_ns", "since_ms"); ok && name != "" {
				d.SinceMS[name] = append(d.SinceMS[name], at)
				since[name] = at
			}
			if name == "" || !ok {
				continue
			}
			if _, seen := d.StepMS[name]; !seen {
				d.Steps = append(d.Steps, name)
			}
			d.StepMS[name] = append(d.StepMS[name], dur)
		}
		break
	}
	for k, v := range phases(since) {
		d.PhaseMS[k] = append(d.PhaseMS[k], v)
	}
	if t, ok := durationMS(m, "total_ns", "total_ms", "totalMs", "total", "total_seconds"); ok {
		d.TotalMS = append(d.TotalMS, t)
	}
	if t, ok := durationMS(m, "client_downtime_ns", "client_downtime_ms", "downtime_ms"); ok {
		d.DowntimeMS = append(d.DowntimeMS, t)
	}
}

func firstString(o map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := o[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// durationMS reads the first present key: *_ms/ms keys in milliseconds,
// seconds keys in seconds, and "duration"/"took"/"total" as a Go duration
// string or, if a number, seconds.
func durationMS(o map[string]any, keys ...string) (float64, bool) {
	for _, k := range keys {
		v, present := o[k]
		if !present {
			continue
		}
		if s, ok := v.(string); ok {
			if d, err := time.ParseDuration(s); err == nil {
				return ms(d), true
			}
		}
		x, ok := number(v)
		if !ok || math.IsNaN(x) {
			continue
		}
		switch {
		case strings.HasSuffix(strings.ToLower(k), "ns"):
			return x / 1e6, true
		case strings.HasSuffix(strings.ToLower(k), "ms"):
			return x, true
		default:
			return x * 1000, true
		}
	}
	return 0, false
}
