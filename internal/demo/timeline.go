package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// Milestones of a failover, in the order they are expected. The timeline
// reports each with its time since the fault and the time since the
// milestone before it.
const (
	StepFault         = "fault"
	StepDetected      = "detected"
	StepQuorum        = "quorum"
	StepFenceRequest  = "fence-requested"
	StepFenceConfirm  = "fence-confirmed"
	StepEIPMoved      = "eip-moved"
	StepOverlayMoved  = "overlay-moved"
	StepServing       = "serving"
	StepLaunched      = "replacement-launched"
	StepRunning       = "replacement-running"
	StepJoined        = "joined"
	StepFaultsCleared = "faults-cleared"
)

// Expected lists the milestones a successful run reaches, in order.
var Expected = []string{StepFault, StepDetected, StepQuorum, StepFenceRequest, StepFenceConfirm,
	StepEIPMoved, StepOverlayMoved, StepServing, StepLaunched, StepRunning, StepJoined}

// Step is one milestone reached.
type Step struct {
	Key    string        `json:"key"`
	Label  string        `json:"label"`
	Source string        `json:"source"` // sim, agent, client, demo
	At     time.Time     `json:"at"`
	Since  time.Duration `json:"since_fault_ns"`
	Took   time.Duration `json:"step_ns"` // since the milestone before it
}

// Report is the timeline as data, what --json prints.
type Report struct {
	Fault    string        `json:"fault"`
	Nodes    int           `json:"nodes"`
	Victim   string        `json:"victim"`
	Survivor string        `json:"new_owner,omitempty"`
	OK       bool          `json:"ok"`
	Error    string        `json:"error,omitempty"`
	Steps    []Step        `json:"steps"`
	Missing  []string      `json:"missing,omitempty"`
	Total    time.Duration `json:"total_ns"`
	// Downtime is what a client saw: from the last 200 of the old owner
	// to the first 200 of the new one.
	Downtime time.Duration `json:"client_downtime_ns"`
}

// Timeline collects milestones and notes while a fault plays out and
// prints each as it happens.
type Timeline struct {
	mu     sync.Mutex
	live   io.Writer
	now    func() time.Time
	origin time.Time // the fault; zero before it
	steps  map[string]Step
	last   time.Time // the newest milestone, for "took" in live lines
}

// NewTimeline prints live lines to live (which may be io.Discard).
func NewTimeline(live io.Writer) *Timeline {
	return &Timeline{live: live, now: time.Now, steps: map[string]Step{}}
}

// Start sets the fault's time: times are measured from it.
func (t *Timeline) Start(at time.Time, label string) {
	t.mu.Lock()
	t.origin = at
	t.mu.Unlock()
	t.Mark(StepFault, label, "demo", at)
}

// Started reports whether the fault has been injected.
func (t *Timeline) Started() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.origin.IsZero()
}

// Mark records milestone key at the given time unless it was reached
// already, prints it, and reports whether it was new.
func (t *Timeline) Mark(key, label, source string, at time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.steps[key]; ok {
		return false
	}
	if at.IsZero() {
		at = t.now()
	}
	s := Step{Key: key, Label: label, Source: source, At: at}
	if !t.origin.IsZero() {
		s.Since = at.Sub(t.origin)
	}
	t.steps[key] = s
	took := ""
	if !t.last.IsZero() && key != StepFault && at.After(t.last) {
		took = fmt.Sprintf("(+%s)", fmtDur(at.Sub(t.last)))
	}
	if at.After(t.last) {
		t.last = at
	}
	fmt.Fprintf(t.live, "%-12s  %-9s ** %s\n", t.stampLocked(at), "["+source+"]", strings.TrimSpace(label+" "+took))
	return true
}

// Has reports whether milestone key was reached.
func (t *Timeline) Has(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.steps[key]
	return ok
}

// At returns when milestone key was reached.
func (t *Timeline) At(key string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.steps[key]
	return s.At, ok
}

// Note prints an event that is not a milestone.
func (t *Timeline) Note(source, text string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at.IsZero() {
		at = t.now()
	}
	fmt.Fprintf(t.live, "%-12s  %-9s    %s\n", t.stampLocked(at), "["+source+"]", text)
}

func (t *Timeline) stampLocked(at time.Time) string {
	if t.origin.IsZero() {
		return at.Format("15:04:05.000")
	}
	d := at.Sub(t.origin)
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return fmt.Sprintf("T%s%7.3fs", sign, d.Seconds())
}

// Missing lists the expected milestones not reached, in order.
func (t *Timeline) Missing(expected []string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, k := range expected {
		if _, ok := t.steps[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// Steps returns the milestones reached, by time, each with the time since
// the one before it.
func (t *Timeline) Steps() []Step {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Step, 0, len(t.steps))
	for _, s := range t.steps {
		out = append(out, s)
	}
	order := func(k string) int {
		if i := slices.Index(Expected, k); i >= 0 {
			return i
		}
		return len(Expected)
	}
	slices.SortStableFunc(out, func(a, b Step) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return order(a.Key) - order(b.Key)
	})
	for i := range out {
		if i > 0 {
			out[i].Took = out[i].At.Sub(out[i-1].At)
		}
	}
	return out
}

// Report returns the timeline as data; Total runs from the fault to the
// last expected milestone reached.
func (t *Timeline) Report(expected []string) Report {
	r := Report{Steps: t.Steps(), Missing: t.Missing(expected)}
	for _, s := range r.Steps {
		if slices.Contains(expected, s.Key) && s.Since > r.Total {
			r.Total = s.Since
		}
	}
	r.OK = len(r.Missing) == 0
	return r
}

// RenderSummary prints the table of milestones and the totals.
func RenderSummary(w io.Writer, r Report) {
	fmt.Fprintf(w, "\nTimeline (fault: %s on %s, %d nodes):\n", r.Fault, r.Victim, r.Nodes)
	fmt.Fprintf(w, "  %11s  %9s  %s\n", "since fault", "step", "")
	for _, s := range r.Steps {
		fmt.Fprintf(w, "  %11s  %9s  %s\n", fmtDur(s.Since), fmtDur(s.Took), s.Label)
	}
	for _, m := range r.Missing {
		fmt.Fprintf(w, "  NOT REACHED: %s\n", m)
	}
	fmt.Fprintf(w, "\nTotal: %s from the fault to the last step", fmtDur(r.Total))
	if r.Downtime > 0 {
		fmt.Fprintf(w, "; the client saw %s without an answer", fmtDur(r.Downtime))
	}
	fmt.Fprintln(w)
}

// WriteJSON writes r indented.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.3fs", d.Seconds())
}
