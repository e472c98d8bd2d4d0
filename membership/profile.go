package membership

import (
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/memberlist"
)

// Timing is the set of memberlist timers a profile fixes. A zero field in
// Config.Timing keeps the profile's value.
type Timing struct {
	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	GossipInterval          time.Duration
	PushPullInterval        time.Duration
}

// Profiles are the timing presets.
//
// A crash is detected in four steps: some member's round-robin probe
// reaches the crashed node (half a probe interval on average; up to three,
// as each member reshuffles its probe order every round),
// the direct, indirect and TCP probes fail (one probe interval), the
// suspicion timer runs out, and the dead message is gossiped to the
// observer (about one gossip interval). memberlist's suspicion timer
// (state.go, suspicion.go) is
//
//	min = SuspicionMult × max(1, log10(n)) × ProbeInterval
//	max = SuspicionMaxTimeoutMult × min
//	k   = SuspicionMult − 2 confirmations expected, or 0 when n−2 < k
//
// With k = 0 the timer is min. Otherwise it starts at max and shrinks
// logarithmically with each independent confirmation from another member
// (max − (max−min)·log(c+1)/log(k+1)), reaching min after k of them. In a
// healthy cluster confirmations arrive about once per probe interval, so the
// typical case is near min; max is the bound when nobody confirms.
//
//	profile  probe/gossip  mult/maxmult  n=3 (k=0)      n=10           n=100
//	fast     250ms/100ms   4/4           ≈1.5s (≤2.2s)  ≈1.5s (≤5.2s)  ≈2.5s (≤9.2s)
//	lan      1s/200ms      4/6           ≈5.7s (≤8.4s)  ≈5.7s (≤28s)   ≈9.7s (≤52s)
//	wan      5s/500ms      6/6           ≈38s (≤51s)    ≈38s (≤201s)   ≈68s (≤381s)
//
// (fast, n=3: 0.125s until a probe + 0.25s for it to fail + min = 4 × 1 ×
// 250ms = 1s + 0.1s of gossip.) Measured with BenchmarkDetection on the
// in-process transport on a loaded 2-core machine (median / p99 over 0, 1
// and 5% loss; no false positives except one in the lan n=100 run at 5%;
// the later run in bench/report.md section 4 saw one each in fast n=10 at
// 0% and at 5% loss, none at n=3):
//
//	fast n=3   1.7s / 2.0s (30 crashes)   lan n=3    6.0–6.8s / 7.0–8.0s
//	fast n=10  1.5–1.6s / 1.65–1.95s      lan n=10   6.0–6.8s / 7.7–8.6s
//	fast n=100 2.5–2.8s / 2.75–3.5s       lan n=100  9.3–10.3s / 11.3–13.2s
//
// fast aims at crash detection
// under 2s in a 3-node cluster inside one VPC; its 200ms probe timeout and
// the indirect and TCP fallback probes keep 1% packet loss from declaring
// anyone dead, and a falsely suspected node has the whole 1s suspicion to
// refute it.
var Profiles = map[string]Timing{
	"fast": {
		ProbeInterval:           250 * time.Millisecond,
		ProbeTimeout:            200 * time.Millisecond,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 4,
		GossipInterval:          100 * time.Millisecond,
		PushPullInterval:        15 * time.Second,
	},
	"lan": timingOf(memberlist.DefaultLANConfig()),
	"wan": timingOf(memberlist.DefaultWANConfig()),
}

func timingOf(c *memberlist.Config) Timing {
	return Timing{
		ProbeInterval:           c.ProbeInterval,
		ProbeTimeout:            c.ProbeTimeout,
		SuspicionMult:           c.SuspicionMult,
		SuspicionMaxTimeoutMult: c.SuspicionMaxTimeoutMult,
		GossipInterval:          c.GossipInterval,
		PushPullInterval:        c.PushPullInterval,
	}
}

// ResolveTiming returns the named profile with the non-zero fields of
// overrides applied.
func ResolveTiming(profile string, overrides Timing) (Timing, error) {
	t, ok := Profiles[profile]
	if !ok {
		return Timing{}, fmt.Errorf("membership: profile %q is unknown: use fast, lan or wan", profile)
	}
	set := func(dst *time.Duration, v time.Duration) {
		if v != 0 {
			*dst = v
		}
	}
	set(&t.ProbeInterval, overrides.ProbeInterval)
	set(&t.ProbeTimeout, overrides.ProbeTimeout)
	set(&t.GossipInterval, overrides.GossipInterval)
	set(&t.PushPullInterval, overrides.PushPullInterval)
	if overrides.SuspicionMult != 0 {
		t.SuspicionMult = overrides.SuspicionMult
	}
	if overrides.SuspicionMaxTimeoutMult != 0 {
		t.SuspicionMaxTimeoutMult = overrides.SuspicionMaxTimeoutMult
	}
	if t.ProbeTimeout >= t.ProbeInterval {
		return Timing{}, fmt.Errorf("membership: probe timeout %v must be shorter than the probe interval %v", t.ProbeTimeout, t.ProbeInterval)
	}
	if t.SuspicionMult < 1 || t.SuspicionMaxTimeoutMult < 1 {
		return Timing{}, fmt.Errorf("membership: suspicion multipliers must be at least 1")
	}
	return t, nil
}

// ExpectedDetection is the typical crash detection time for n members
// (the first figure of each cell in the Profiles table): half a probe
// interval until a probe, one interval for it to fail, the minimum
// suspicion timeout and one gossip interval.
func (t Timing) ExpectedDetection(n int) time.Duration {
	return t.ProbeInterval/2 + t.ProbeInterval + t.minSuspicion(n) + t.GossipInterval
}

// DetectionBound is the detection time when the probe comes late and no
// other member confirms the suspicion: three probe intervals until a probe,
// one for it to fail, the maximum suspicion timeout (the minimum, when too
// few members exist to confirm) and two gossip intervals.
func (t Timing) DetectionBound(n int) time.Duration {
	s := t.minSuspicion(n)
	if k := t.SuspicionMult - 2; k >= 1 && n-2 >= k {
		s *= time.Duration(t.SuspicionMaxTimeoutMult)
	}
	return 4*t.ProbeInterval + s + 2*t.GossipInterval
}

func (t Timing) minSuspicion(n int) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	return time.Duration(float64(t.SuspicionMult) * scale * float64(t.ProbeInterval))
}

// deadNodeReclaimTime is how long a member must have been dead before
// memberlist lets another address take its name; memberlist's default, 0,
// never allows it ("Conflicting address") until the dead member is
// forgotten after GossipToTheDeadTime (30s), which would keep a replacement
// instance that reuses a dead member's node name out that long.
//
// The wait only has to outlive the old life's last gossip: the alive and
// dead messages about it are retransmitted for a few gossip intervals, and
// a probe round takes one probe interval, so eight probe intervals leave a
// wide margin. It must also stay well under the quickest replacement
// (fencing confirmed, then an EC2 launch and a boot: tens of seconds at
// least), or a replacement's first join would be refused and it would get
// in only at a later push/pull; hence the 10s cap (fast 2s, lan 8s, wan
// 10s rather than 40s). A node that was
// only falsely declared dead keeps its address, so this never applies to
// it. Two live instances configured with one name are a configuration
// error this does not protect against.
func (t Timing) deadNodeReclaimTime() time.Duration { return min(8*t.ProbeInterval, 10*time.Second) }

func (t Timing) apply(c *memberlist.Config) {
	c.ProbeInterval = t.ProbeInterval
	c.ProbeTimeout = t.ProbeTimeout
	c.SuspicionMult = t.SuspicionMult
	c.SuspicionMaxTimeoutMult = t.SuspicionMaxTimeoutMult
	c.GossipInterval = t.GossipInterval
	c.PushPullInterval = t.PushPullInterval
}
