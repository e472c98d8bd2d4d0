package failover

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testConfig() Config {
	return Config{
		Groups:            []GroupConfig{{Name: "web", Nodes: []string{"a", "b", "c"}, MigrationThreshold: 3}},
		SettleTime:        10 * time.Second,
		NoQuorumStopAfter: 30 * time.Second,
		Replacement:       Replacement{Enabled: true, MaxPerHour: 2},
	}
}

// healthyObs is a settled, quorate three-node cluster seen from a, with web
// running on a.
func healthyObs() Observation {
	obs := Observation{
		Now: t0.Add(time.Minute), Local: "a", ViewSince: t0,
		Quorum:    Quorum{Quorate: true, Reason: "3 of 3 votes", Since: t0, Needed: 2},
		Instances: map[string]Instance{},
		Groups:    []GroupState{{Name: "web", Holders: []string{"i-a"}, Running: "a", MonitorFailures: map[string]int{}}},
		Intents:   Intents{Standby: map[string]bool{}, Moves: map[string]Move{}},
	}
	for _, n := range []string{"a", "b", "c"} {
		obs.Members = append(obs.Members, Member{Name: n, InstanceID: "i-" + n, State: Alive, Heard: t0.Add(time.Minute)})
		obs.Instances["i-"+n] = Instance{ID: "i-" + n, State: Running, ClusterTagged: true}
	}
	return obs
}

func member(obs *Observation, name string) *Member {
	for i := range obs.Members {
		if obs.Members[i].Name == name {
			return &obs.Members[i]
		}
	}
	panic(name)
}

func setInstance(obs *Observation, id string, st InstanceState) {
	inst := obs.Instances[id]
	inst.State = st
	obs.Instances[id] = inst
}

func onB(o *Observation) { o.Groups[0].Holders = []string{"i-b"}; o.Groups[0].Running = "b" }

func effects(d Decision) string {
	var s []string
	for _, a := range d.Effects() {
		x := a.Kind.String()
		if a.Node != "" {
			x += " " + a.Node
		}
		if a.Instance != "" {
			x += " " + a.Instance
		}
		s = append(s, x)
	}
	return strings.Join(s, ", ")
}

func TestDecidePolicies(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*Config)
		obs    func(*Observation)
		want   string // effects in order
		reason string // substring of some action's reason
	}{
		{name: "healthy cluster does nothing", want: "", reason: "web runs on a"},
		{name: "unplaced group starts on the most preferred node",
			obs:  func(o *Observation) { o.Groups[0].Holders = nil; o.Groups[0].Running = "" },
			want: "move-resources a, start-group a"},
		{name: "dead active node is fenced before anything moves",
			obs:  func(o *Observation) { o.Local = "b"; member(o, "a").State = Dead },
			want: "fence i-a", reason: "fencing i-a before recovery"},
		{name: "fenced node's group moves then starts on the next by priority",
			obs: func(o *Observation) {
				o.Local = "b"
				member(o, "a").State = Dead
				setInstance(o, "i-a", Stopped)
			},
			want: "move-resources b, start-group b, launch-replacement a i-a"},
		{name: "stopping instance is waited for, not moved from",
			obs: func(o *Observation) {
				o.Local = "b"
				member(o, "a").State = Dead
				setInstance(o, "i-a", Stopping)
			},
			want: "", reason: "waiting for i-a to stop"},
		{name: "untagged instance is never fenced",
			obs: func(o *Observation) {
				o.Local = "b"
				member(o, "a").State = Dead
				i := o.Instances["i-a"]
				i.ClusterTagged = false
				o.Instances["i-a"] = i
			},
			want: "", reason: "lacks the cluster tag"},
		{name: "a voter not heard from since the last change is waited for: the deciding node may be the one cut off",
			obs: func(o *Observation) {
				o.Local = "b"
				member(o, "a").State = Dead
				o.ViewSince = t0.Add(50 * time.Second)
				member(o, "c").Heard = t0.Add(40 * time.Second)
			},
			want: "", reason: "heard from 1 of the 2 votes needed since then (not yet: c)"},
		{name: "a majority heard from after the change is enough",
			obs: func(o *Observation) {
				o.Local = "b"
				member(o, "a").State = Dead
				o.ViewSince = t0.Add(50 * time.Second)
				o.Members = append(o.Members, Member{Name: "d", InstanceID: "i-d", State: Alive, Heard: t0.Add(40 * time.Second)},
					Member{Name: "e", InstanceID: "i-e", State: Alive, Heard: t0.Add(40 * time.Second)})
				o.Instances["i-d"] = Instance{ID: "i-d", State: Running, ClusterTagged: true}
				o.Instances["i-e"] = Instance{ID: "i-e", State: Running, ClusterTagged: true}
				o.Quorum.Needed = 3 // of 5: b, c and one of d, e
				member(o, "d").Heard = t0.Add(55 * time.Second)
			},
			want: "fence i-a", reason: "fencing i-a before recovery"},
		{name: "once every voter is heard from after the change the dead active is fenced",
			obs: func(o *Observation) {
				o.Local = "b"
				member(o, "a").State = Dead
				o.ViewSince = t0.Add(40 * time.Second)
				member(o, "c").Heard = t0.Add(45 * time.Second)
			},
			want: "fence i-a", reason: "fencing i-a before recovery"},
		{name: "a failed standby is fenced though it holds nothing",
			obs:  func(o *Observation) { member(o, "c").State = Dead },
			want: "fence c i-c", reason: "c failed while EC2 shows its instance i-c running"},
		{name: "a standby that failed a moment ago is given time to be refuted",
			obs: func(o *Observation) {
				member(o, "c").State = Dead
				member(o, "c").Since = o.Now.Add(-15 * time.Second)
			},
			want: "", reason: "fencing its instance i-c once it has stayed dead 40s"},
		{name: "a standby dead for four settle times is fenced",
			obs: func(o *Observation) {
				member(o, "c").State = Dead
				member(o, "c").Since = o.Now.Add(-41 * time.Second)
			},
			want: "fence c i-c"},
		{name: "a fenced standby is replaced, and the group stays",
			obs: func(o *Observation) {
				member(o, "c").State = Dead
				setInstance(o, "i-c", Stopped)
			},
			want: "launch-replacement c i-c"},
		{name: "a standby that left gracefully is not fenced",
			obs:  func(o *Observation) { member(o, "c").State = Left },
			want: "", reason: "web runs on a"},
		{name: "a failed standby without the cluster tag is not fenced",
			obs: func(o *Observation) {
				member(o, "c").State = Dead
				i := o.Instances["i-c"]
				i.ClusterTagged = false
				o.Instances["i-c"] = i
			},
			want: "", reason: "web runs on a"},
		{name: "stickiness: no failback when the preferred node returns",
			obs:  func(o *Observation) { o.Groups[0].Holders = []string{"i-b"}; o.Groups[0].Running = "b" },
			want: "", reason: "web runs on b"},
		{name: "failback when configured stops, moves, then starts",
			cfg:  func(c *Config) { c.Groups[0].Failback = true },
			obs:  func(o *Observation) { o.Groups[0].Holders = []string{"i-b"}; o.Groups[0].Running = "b" },
			want: "stop-group b", reason: "failback"},
		{name: "failback after the stop hook ran moves and starts",
			cfg:  func(c *Config) { c.Groups[0].Failback = true },
			obs:  func(o *Observation) { o.Groups[0].Holders = []string{"i-b"}; o.Groups[0].Running = "" },
			want: "move-resources a, start-group a"},
		{name: "monitor failures below the threshold keep the group",
			obs:  func(o *Observation) { o.Groups[0].MonitorFailures["a"] = 2 },
			want: ""},
		{name: "migration threshold stops the group on the failing node",
			obs:  func(o *Observation) { onB(o); o.Groups[0].MonitorFailures["b"] = 3 },
			want: "stop-group b", reason: "monitor failed 3 times"},
		{name: "migration threshold with fencing fences the failing node",
			cfg:  func(c *Config) { c.Groups[0].FenceOnMonitorFailure = true },
			obs:  func(o *Observation) { onB(o); o.Groups[0].MonitorFailures["b"] = 3 },
			want: "fence i-b"},
		{name: "the decider never fences itself for monitor failures",
			cfg:  func(c *Config) { c.Groups[0].FenceOnMonitorFailure = true },
			obs:  func(o *Observation) { o.Groups[0].MonitorFailures["a"] = 3 },
			want: "stop-group a"},
		{name: "standby drains its groups",
			obs:  func(o *Observation) { o.Intents.Standby["a"] = true },
			want: "stop-group a", reason: "standby"},
		{name: "standby node is not chosen",
			obs: func(o *Observation) {
				o.Intents.Standby["b"] = true
				o.Groups[0].Holders = []string{"i-a"}
				o.Groups[0].Running = ""
				o.Intents.Standby["a"] = true
			},
			want: "move-resources c, start-group c"},
		{name: "maintenance observes only and says what it would do",
			obs: func(o *Observation) {
				o.Intents.Maintenance = true
				o.Local = "b"
				member(o, "a").State = Dead
			},
			want: "", reason: "maintenance mode: observing only; would fence"},
		{name: "manual move to a target",
			obs:  func(o *Observation) { o.Intents.Moves["web"] = Move{From: "a", To: "c"} },
			want: "stop-group a", reason: "operator moved web to c"},
		{name: "manual move without a target picks the next by priority",
			obs:  func(o *Observation) { o.Intents.Moves["web"] = Move{From: "a"}; o.Groups[0].Running = "" },
			want: "move-resources b, start-group b"},
		{name: "satisfied move request does not move again",
			obs: func(o *Observation) {
				o.Intents.Moves["web"] = Move{From: "a"}
				o.Groups[0].Holders = []string{"i-b"}
				o.Groups[0].Running = "b"
			},
			want: ""},
		{name: "settle time holds a fresh change",
			obs: func(o *Observation) {
				o.Local = "b"
				member(o, "a").State = Dead
				o.ViewSince = o.Now.Add(-3 * time.Second)
			},
			want: "", reason: "settling"},
		{name: "non-coordinator does nothing",
			obs:  func(o *Observation) { o.Local = "b"; member(o, "a").State = Alive; o.Groups[0].Running = "" },
			want: "", reason: "a coordinates"},
		{name: "no quorum: no cluster action before the stop delay",
			obs: func(o *Observation) {
				o.Quorum = Quorum{Quorate: false, Reason: "1 of 3 votes", Since: o.Now.Add(-10 * time.Second)}
				member(o, "b").State = Dead
				member(o, "c").State = Dead
			},
			want: "", reason: "stopping local group after 30s"},
		{name: "no quorum: stops its own group after the delay",
			obs: func(o *Observation) {
				o.Quorum = Quorum{Quorate: false, Reason: "1 of 3 votes", Since: o.Now.Add(-30 * time.Second)}
				member(o, "b").State = Dead
				member(o, "c").State = Dead
			},
			want: "stop-group a"},
		{name: "split holders after an interrupted move are fenced or reclaimed",
			obs: func(o *Observation) {
				o.Local = "b"
				member(o, "a").State = Dead
				setInstance(o, "i-a", Stopped)
				o.Groups[0].Holders = []string{"i-a", "i-b"}
				o.Groups[0].Running = ""
			},
			want: "move-resources b, start-group b, launch-replacement a i-a"},
		{name: "replacement limit per hour",
			obs: func(o *Observation) {
				o.Local = "b"
				member(o, "a").State = Dead
				setInstance(o, "i-a", Stopped)
				o.ReplacementsLastHour = 2
				o.Groups[0].Holders = []string{"i-b"}
				o.Groups[0].Running = "b"
			},
			want: "", reason: "limit 2"},
		{name: "fenced instance terminated once its replacement runs",
			obs: func(o *Observation) {
				o.Local = "b"
				member(o, "a").State = Dead
				setInstance(o, "i-a", Stopped)
				o.Instances["i-a2"] = Instance{ID: "i-a2", State: Running, ClusterTagged: true, ReplacesID: "i-a"}
				o.Groups[0].Holders = []string{"i-b"}
				o.Groups[0].Running = "b"
			},
			want: "terminate i-a"},
		{name: "no healthy eligible node",
			obs: func(o *Observation) {
				for _, n := range []string{"a", "b", "c"} {
					o.Intents.Standby[n] = true
				}
				o.Groups[0].Running = ""
				o.Groups[0].Holders = nil
			},
			want: "", reason: "no healthy eligible node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, obs := testConfig(), healthyObs()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			if tt.obs != nil {
				tt.obs(&obs)
			}
			d := Decide(cfg, obs)
			if got := effects(d); got != tt.want {
				t.Errorf("effects = %q, want %q\nall: %v", got, tt.want, d.Actions)
			}
			if tt.reason != "" {
				found := false
				for _, a := range d.Actions {
					found = found || strings.Contains(a.Reason, tt.reason)
				}
				if !found {
					t.Errorf("no action's reason mentions %q: %v", tt.reason, d.Actions)
				}
			}
		})
	}
}
