package demo

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/internal/api"
)

func TestTimeline(t *testing.T) {
	var live bytes.Buffer
	tl := NewTimeline(&live)
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	tl.now = func() time.Time { return t0 }
	tl.Note("demo", "before the fault", t0.Add(-time.Second))
	if tl.Started() {
		t.Fatal("started before Start")
	}
	tl.Start(t0, "crash of node-1")
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tl.Mark(StepDetected, "node-1 failed", "agent", at(1500))
	// Milestones may arrive out of order (polled history, event queue).
	tl.Mark(StepFenceRequest, "fence requested", "sim", at(2100))
	tl.Mark(StepQuorum, "quorum kept", "agent", at(1600))
	if tl.Mark(StepDetected, "again", "agent", at(9000)) {
		t.Error("a milestone was recorded twice")
	}
	tl.Mark(StepFenceConfirm, "fence confirmed", "sim", at(5100))
	tl.Note("sim", "a note", at(5200))

	steps := tl.Steps()
	var keys []string
	for _, s := range steps {
		keys = append(keys, s.Key)
	}
	if got := strings.Join(keys, ","); got != "fault,detected,quorum,fence-requested,fence-confirmed" {
		t.Fatalf("order %s", got)
	}
	if steps[2].Since != 1600*time.Millisecond || steps[2].Took != 100*time.Millisecond || steps[4].Took != 3*time.Second {
		t.Errorf("durations: %+v", steps)
	}
	rep := tl.Report(Expected)
	if rep.OK || rep.Total != 5100*time.Millisecond || rep.Missing[0] != StepEIPMoved {
		t.Errorf("report %+v", rep)
	}

	out := live.String()
	for _, want := range []string{"11:59:59.000  [demo]       before the fault", "T+  0.000s    [demo]    ** crash of node-1\n",
		"T+  1.500s    [agent]   ** node-1 failed (+1.500s)", "** quorum kept\n", "T+  5.200s    [sim]        a note"} {
		if !strings.Contains(out, want) {
			t.Errorf("live output lacks %q:\n%s", want, out)
		}
	}

	rep.Fault, rep.Victim, rep.Nodes = "crash", "node-1", 3
	var sum bytes.Buffer
	RenderSummary(&sum, rep)
	for _, want := range []string{"Timeline (fault: crash on node-1, 3 nodes)", "1.600s", "0.100s", "fence confirmed", "NOT REACHED: eip-moved", "Total: 5.100s"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Total != rep.Total || len(back.Steps) != 5 {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
}

func TestIsMemberFailure(t *testing.T) {
	for _, c := range []struct {
		e    api.Event
		want bool
	}{
		{api.Event{Kind: "member-failed", Node: "node-1"}, true},
		{api.Event{Kind: "member", Outcome: "failed"}, true},
		{api.Event{Kind: "member", Message: "node-1 is dead"}, true},
		{api.Event{Kind: "member-joined"}, false},
		{api.Event{Kind: "fence", Outcome: "failed"}, false},
	} {
		if got := isMemberFailure(c.e); got != c.want {
			t.Errorf("%+v: %v", c.e, got)
		}
	}
	if s := describeEvent(api.Event{Kind: "fence", Node: "node-1", Outcome: "ok", Message: "stopped", Duration: 3210 * time.Millisecond}); s != "fence node-1 ok: stopped (3.21s)" {
		t.Errorf("describeEvent: %q", s)
	}
}
