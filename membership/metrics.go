package membership

import "github.com/prometheus/client_golang/prometheus"

// Stats are the node's gossip counters since start.
type Stats struct {
	ProbeFailures uint64 // probes of a member that got no ack, direct or indirect
	Suspicions    uint64 // members this node saw turn suspect
	Rejected      uint64 // packets or streams dropped for a wrong label or key
	SentBytes     uint64
	ReceivedBytes uint64
	DroppedEvents uint64
}

// Stats returns the counters.
func (n *Node) Stats() Stats {
	return Stats{
		ProbeFailures: n.stats.probeFailures.Load(),
		Suspicions:    n.stats.suspicions.Load(),
		Rejected:      n.stats.rejected.Load(),
		SentBytes:     n.stats.sentBytes.Load(),
		ReceivedBytes: n.stats.recvBytes.Load(),
		DroppedEvents: n.stats.droppedEvents.Load(),
	}
}

var (
	descMembers    = prometheus.NewDesc("ec2ha_membership_members", "Members of the view by state.", []string{"state"}, nil)
	descProbeFails = prometheus.NewDesc("ec2ha_membership_probe_failures_total", "Probes of a member that got no ack, direct or indirect.", nil, nil)
	descSuspicions = prometheus.NewDesc("ec2ha_membership_suspicions_total", "Members seen turning suspect.", nil, nil)
	descRejected   = prometheus.NewDesc("ec2ha_membership_rejected_total", "Gossip dropped for a wrong cluster label or key.", nil, nil)
	descBytes      = prometheus.NewDesc("ec2ha_membership_gossip_bytes_total", "Gossip bytes by direction (UDP and TCP).", []string{"direction"}, nil)
	descVotes      = prometheus.NewDesc("ec2ha_membership_quorum_votes", "Votes this node sees for quorum.", nil, nil)
)

// collector reads the node at scrape time, so metrics never disagree
// with View and Stats.
type collector struct{ n *Node }

func newCollector(n *Node) prometheus.Collector { return collector{n} }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMembers, descProbeFails, descSuspicions, descRejected, descBytes, descVotes} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	counts := map[State]int{StateAlive: 0, StateSuspect: 0, StateDead: 0, StateLeft: 0}
	for _, m := range c.n.View().Members {
		counts[m.State]++
	}
	for s, k := range counts {
		ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(k), string(s))
	}
	st := c.n.Stats()
	ch <- prometheus.MustNewConstMetric(descProbeFails, prometheus.CounterValue, float64(st.ProbeFailures))
	ch <- prometheus.MustNewConstMetric(descSuspicions, prometheus.CounterValue, float64(st.Suspicions))
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(st.Rejected))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.SentBytes), "sent")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.ReceivedBytes), "received")
	ch <- prometheus.MustNewConstMetric(descVotes, prometheus.GaugeValue, float64(c.n.Quorum().Votes))
}
