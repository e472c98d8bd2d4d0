package main

import (
	"time"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/internal/demo"
	"github.com/ec2ha/ec2ha/membership"
)

// demoConfigured is what `ec2ha demo` configures, read from the same
// code the binary is built from (make bench builds both from one tree),
// so the report subtracts the latencies the demo really uses.
type demoConfigured struct {
	Profile       string
	Expected      time.Duration // membership's typical detection for 3 members
	Bound         time.Duration
	SettleTime    time.Duration // cluster.settle_time: the wait after a membership change
	PollInterval  time.Duration // fencing.poll_interval
	StopLatency   time.Duration // the simulator's stopping → stopped
	PendingLaunch time.Duration // pending → running, for the replacement
	Nodes         int
}

func configuredByDemo() demoConfigured {
	w := &demo.World{Nodes: []demo.Node{{Name: demo.NodeName(1)}, {Name: demo.NodeName(2)}, {Name: demo.NodeName(3)}}}
	cfg := demo.NodeConfig(w, demo.Layout{}, demo.Ports{}, "", w.Nodes[0], "", "")
	c := demoConfigured{Profile: cfg.Gossip.Profile, SettleTime: cfg.Cluster.SettleTime, PollInterval: cfg.Fencing.PollInterval,
		StopLatency: ec2sim.DemoDurations.Stopping, PendingLaunch: ec2sim.DemoDurations.Pending, Nodes: len(w.Nodes)}
	if t, err := membership.ResolveTiming(cfg.Gossip.Profile, membership.Timing{ProbeInterval: cfg.Gossip.ProbeInterval,
		ProbeTimeout: cfg.Gossip.ProbeTimeout, SuspicionMult: cfg.Gossip.SuspicionMult, GossipInterval: cfg.Gossip.GossipInterval}); err == nil {
		c.Expected, c.Bound = t.ExpectedDetection(c.Nodes), t.DetectionBound(c.Nodes)
	}
	return c
}
