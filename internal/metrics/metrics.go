package metrics

import (
	"errors"
	"net/http"
	"time"

	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Agent is the set of metrics one agent exports.
type Agent struct {
	Registry *prometheus.Registry

	Quorate          prometheus.Gauge
	Coordinator      prometheus.Gauge
	Maintenance      prometheus.Gauge
	GroupOwner       *prometheus.GaugeVec   // group, node: 1 on the owner
	Failovers        *prometheus.CounterVec // group, reason; counted by the coordinator that completed it
	FailoverDuration prometheus.Histogram
	Fences           *prometheus.CounterVec // method, outcome
	FenceDuration    *prometheus.HistogramVec
	EC2Calls         *prometheus.CounterVec // action
	EC2Errors        *prometheus.CounterVec // action, code
	EC2Latency       *prometheus.HistogramVec
	HookRuns         *prometheus.CounterVec // group, hook
	HookFailures     *prometheus.CounterVec // group, hook
}

// failover and fence durations on EC2 range from well under a second (no
// stop latency) to minutes (a slow stop), so the buckets span both.
var durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300}

// New creates the metrics on a new registry that also carries the Go
// runtime and process collectors.
func New() *Agent {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{r}
	return &Agent{
		Registry:    r,
		Quorate:     f.gauge("ec2ha_quorate", "1 when this node sees a quorate partition."),
		Coordinator: f.gauge("ec2ha_coordinator", "1 when this node is the coordinator."),
		Maintenance: f.gauge("ec2ha_maintenance", "1 when the cluster is in maintenance mode."),
		GroupOwner: f.gaugeVec("ec2ha_group_owner", "1 for the node that owns each group.",
			"group", "node"),
		Failovers: f.counterVec("ec2ha_failovers_total", "Groups moved to another node, by reason.", "group", "reason"),
		FailoverDuration: f.histogram("ec2ha_failover_duration_seconds",
			"From the first action that takes a group away from its node (fence, stop or address move) to its start hook's success on the new node."),
		Fences: f.counterVec("ec2ha_fences_total", "Fencing attempts by method and outcome.", "method", "outcome"),
		FenceDuration: f.histogramVec("ec2ha_fence_duration_seconds",
			"From the fence request to EC2's confirmation or failure.", "method"),
		EC2Calls:   f.counterVec("ec2ha_ec2_api_calls_total", "EC2 API calls by action.", "action"),
		EC2Errors:  f.counterVec("ec2ha_ec2_api_errors_total", "Failed EC2 API calls by action and error code.", "action", "code"),
		EC2Latency: f.histogramVec("ec2ha_ec2_api_call_duration_seconds", "EC2 API call time, retries included.", "action"),
		HookRuns:   f.counterVec("ec2ha_hook_runs_total", "Hook runs by group and hook.", "group", "hook"),
		HookFailures: f.counterVec("ec2ha_hook_failures_total", "Failed or timed-out hook runs by group and hook.",
			"group", "hook"),
	}
}

// ObserveEC2Call records one EC2 call; it is an ec2.CallObserver.
func (a *Agent) ObserveEC2Call(action string, took time.Duration, err error) {
	a.EC2Calls.WithLabelValues(action).Inc()
	a.EC2Latency.WithLabelValues(action).Observe(took.Seconds())
	if err != nil {
		code := "other"
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) {
			code = apiErr.ErrorCode()
		}
		a.EC2Errors.WithLabelValues(action, code).Inc()
	}
}

// Handler serves the registry in the Prometheus exposition format.
func (a *Agent) Handler() http.Handler {
	return promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{Registry: a.Registry})
}

// SetGroupOwner makes node the one owner of group in ec2ha_group_owner,
// removing the group's other series, so a moved group never shows two
// owners; node "" leaves the group without one (stopped or unplaced).
func (a *Agent) SetGroupOwner(group, node string) {
	a.GroupOwner.DeletePartialMatch(prometheus.Labels{"group": group})
	if node != "" {
		a.GroupOwner.WithLabelValues(group, node).Set(1)
	}
}

// SetBool sets g to 1 or 0.
func SetBool(g prometheus.Gauge, v bool) {
	if v {
		g.Set(1)
	} else {
		g.Set(0)
	}
}

type factory struct{ r prometheus.Registerer }

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.r.MustRegister(g)
	return g
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.r.MustRegister(g)
	return g
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.r.MustRegister(c)
	return c
}

func (f factory) histogram(name, help string) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: durationBuckets})
	f.r.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: durationBuckets}, labels)
	f.r.MustRegister(h)
	return h
}
