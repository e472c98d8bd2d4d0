//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/e2e/netbed"
	"github.com/ec2ha/ec2ha/ec2/ec2sim"
)

// The observer watches a scenario from outside the cluster, as its users
// would: a client on its own host polls the service address, the Elastic
// IP and every node's application every probeEvery; the bed is sampled
// for which hosts hold the service address; the simulator's events say
// when instances were fenced and addresses moved. Nothing it records
// comes from the agents.

const probeEvery = 50 * time.Millisecond

// probeTick is one round of the client's probes.
type probeTick struct {
	At      time.Time              `json:"at"`
	Answers map[string]probeAnswer `json:"answers"` // by target name
}

type probeAnswer struct {
	Code int    `json:"code"` // 0: no answer
	Node string `json:"node,omitempty"`
}

// The prober runs as this test binary re-executed inside the client's
// namespace (E2E_PROBER=1), so its sockets are on the bed. It reads
// "add NAME URL" and "del NAME" lines on stdin and writes a JSON
// probeTick per round on stdout; it exits when stdin closes.
func TestMain(m *testing.M) {
	if os.Getenv("E2E_PROBER") == "1" {
		runProber(os.Stdin, os.Stdout)
		return
	}
	code := m.Run()
	writeReport()
	os.Exit(code)
}

func runProber(in io.Reader, out io.Writer) {
	var mu sync.Mutex
	targets := map[string]string{}
	quit := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			mu.Lock()
			switch {
			case len(f) == 3 && f[0] == "add":
				targets[f[1]] = f[2]
			case len(f) == 2 && f[0] == "del":
				delete(targets, f[1])
			}
			mu.Unlock()
		}
		close(quit)
	}()
	client := &http.Client{Timeout: 250 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	enc := json.NewEncoder(out)
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-quit:
			return
		case <-tick.C:
		}
		mu.Lock()
		round := make(map[string]string, len(targets))
		for k, v := range targets {
			round[k] = v
		}
		mu.Unlock()
		t := probeTick{At: time.Now(), Answers: map[string]probeAnswer{}}
		var wg sync.WaitGroup
		var amu sync.Mutex
		for name, url := range round {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := probeAnswer{}
				if resp, err := client.Get(url); err == nil {
					_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 512))
					resp.Body.Close()
					a = probeAnswer{Code: resp.StatusCode, Node: resp.Header.Get("X-Node")}
				}
				amu.Lock()
				t.Answers[name] = a
				amu.Unlock()
			}()
		}
		wg.Wait()
		if err := enc.Encode(t); err != nil {
			return
		}
	}
}

// addrSample is which running hosts had the service address configured.
type addrSample struct {
	At      time.Time
	Holders []string // node names
}

// simRecord is a simulator event as the observer received it.
type simRecord struct {
	ec2sim.Event
	Seen time.Time
}

type observer struct {
	t      *testing.T
	c      *cluster
	prober *exec.Cmd
	stdin  io.WriteCloser
	done   chan struct{}

	mu      sync.Mutex
	ticks   []probeTick
	samples []addrSample
	sim     []simRecord
	hosts   map[string]watched // by instance id
}

type watched struct {
	node string
	host *netbed.Host
}

func newObserver(t *testing.T, c *cluster) *observer {
	return &observer{t: t, c: c, done: make(chan struct{}), hosts: map[string]watched{}}
}

// start runs the prober on the client host and the address sampler.
func (o *observer) start(client *netbed.Host) {
	t := o.t
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	o.prober = exec.Command("ip", "netns", "exec", client.NS, self, "-test.run=^$")
	o.prober.Env = append(os.Environ(), "E2E_PROBER=1")
	o.prober.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	o.prober.Stderr = os.Stderr
	if o.stdin, err = o.prober.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := o.prober.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.prober.Start(); err != nil {
		t.Fatal(err)
	}
	o.command("add svc http://%s:%d/", serviceIP, appPort)
	go o.read(stdout)
	go o.sampleAddresses()
}

func (o *observer) command(format string, args ...any) {
	_, _ = fmt.Fprintf(o.stdin, format+"\n", args...)
}

func (o *observer) read(r io.Reader) {
	dec := json.NewDecoder(r)
	for {
		var t probeTick
		if err := dec.Decode(&t); err != nil {
			return
		}
		o.mu.Lock()
		o.ticks = append(o.ticks, t)
		o.mu.Unlock()
	}
}

// watch adds a node's machine to the probes and the address samples.
func (o *observer) watch(node, id string, addr netip.Addr) {
	m := o.c.machineByInstance(id)
	o.mu.Lock()
	o.hosts[id] = watched{node: node, host: m.host}
	o.mu.Unlock()
	o.command("add node/%s http://%s:%d/", id, addr, appPort)
}

// unwatch stops probing an instance whose machine is gone.
func (o *observer) unwatch(id string) {
	o.mu.Lock()
	delete(o.hosts, id)
	o.mu.Unlock()
	o.command("del node/%s", id)
}

func (o *observer) sampleAddresses() {
	for {
		select {
		case <-o.done:
			return
		case <-time.After(100 * time.Millisecond):
		}
		o.mu.Lock()
		hosts := make([]watched, 0, len(o.hosts))
		for _, w := range o.hosts {
			hosts = append(hosts, w)
		}
		o.mu.Unlock()
		s := addrSample{At: time.Now()}
		for _, w := range hosts {
			if ok, err := w.host.HasAddress(serviceIP); err == nil && ok {
				s.Holders = append(s.Holders, w.node)
			}
		}
		sort.Strings(s.Holders)
		o.mu.Lock()
		o.samples = append(o.samples, s)
		o.mu.Unlock()
	}
}

func (o *observer) simEvent(e ec2sim.Event) {
	o.mu.Lock()
	o.sim = append(o.sim, simRecord{Event: e, Seen: time.Now()})
	o.mu.Unlock()
}

func (o *observer) stop() {
	select {
	case <-o.done:
		return
	default:
		close(o.done)
	}
	if o.prober == nil {
		return
	}
	_ = o.stdin.Close()
	done := make(chan struct{})
	go func() { _ = o.prober.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = o.prober.Process.Kill()
		<-done
	}
}

// lastServiceAnswer is the node that answered 200 on both the service
// address and the Elastic IP in the newest round, or "".
func (o *observer) lastServiceAnswer() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.ticks) == 0 {
		return ""
	}
	t := o.ticks[len(o.ticks)-1]
	svc, eip := t.Answers["svc"], t.Answers["eip"]
	if svc.Code != http.StatusOK || eip.Code != http.StatusOK || svc.Node != eip.Node {
		return ""
	}
	return svc.Node
}

// window is what the observer recorded since a time.
type window struct {
	from    time.Time
	ticks   []probeTick
	samples []addrSample
	sim     []simRecord
}

func (o *observer) since(from time.Time) window {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := window{from: from}
	for _, t := range o.ticks {
		if !t.At.Before(from) {
			w.ticks = append(w.ticks, t)
		}
	}
	for _, s := range o.samples {
		if !s.At.Before(from) {
			w.samples = append(w.samples, s)
		}
	}
	for _, r := range o.sim {
		if !r.Time.Before(from) {
			w.sim = append(w.sim, r)
		}
	}
	return w
}

// all is everything recorded since the cluster was built.
func (o *observer) all() window { return o.since(time.Time{}) }

// splitBrain lists the rounds in which two nodes served: two answered
// 200 as active when asked directly, or two running hosts held the
// service address.
func (w window) splitBrain() []string {
	var out []string
	for _, t := range w.ticks {
		active := map[string]bool{}
		for name, a := range t.Answers {
			if strings.HasPrefix(name, "node/") && a.Code == http.StatusOK {
				active[a.Node] = true
			}
		}
		if len(active) > 1 {
			out = append(out, fmt.Sprintf("%s: %d nodes answered as active: %v", t.At.Format("15:04:05.000"), len(active), keys(active)))
		}
	}
	for _, s := range w.samples {
		if len(s.Holders) > 1 {
			out = append(out, fmt.Sprintf("%s: %s held by %v", s.At.Format("15:04:05.000"), serviceIP, s.Holders))
		}
	}
	return out
}

// downtime is the longest time the service address went without a 200
// in the window: from the window's start or the last good answer to the
// next good one (or to the window's end), less the probe interval that
// separates two good answers anyway.
func (w window) downtime() time.Duration {
	var longest time.Duration
	lastOK, prevTick := w.from, false
	for _, t := range w.ticks {
		if t.Answers["svc"].Code != http.StatusOK {
			continue
		}
		gap := t.At.Sub(lastOK)
		if prevTick {
			gap -= probeEvery
		}
		longest = max(longest, gap)
		lastOK, prevTick = t.At, true
	}
	if n := len(w.ticks); n > 0 {
		longest = max(longest, w.ticks[n-1].At.Sub(lastOK)-probeEvery)
	}
	return max(longest, 0)
}

// answered lists the nodes that answered 200 on the service address.
func (w window) answered() []string {
	seen := map[string]bool{}
	for _, t := range w.ticks {
		if a := t.Answers["svc"]; a.Code == http.StatusOK {
			seen[a.Node] = true
		}
	}
	return keys(seen)
}

// movesBeforeFence lists resource moves away from a faulted instance,
// after the fault, that EC2 made before it showed that instance stopped
// or terminated (a planned move away from it earlier is no violation): the
// Elastic IP disassociated or associated elsewhere, the secondary IP
// reassigned, the overlay route replaced. enis maps interfaces to their
// instances for route events. The window must start before the group was
// first placed, so that it knows every holder.
func (w window) movesBeforeFence(faulted map[string]time.Time, enis map[string]string) []string {
	var out []string
	var eipOn, ipOn, routeOn string
	fenced := map[string]bool{}
	check := func(r simRecord, what, from, to string) {
		at, hit := faulted[from]
		if from != "" && from != to && hit && !r.Time.Before(at) && !fenced[from] {
			out = append(out, fmt.Sprintf("%s: %s moved from %s to %q before EC2 showed it stopped", r.Time.Format("15:04:05.000"), what, from, to))
		}
	}
	for _, r := range w.sim {
		switch r.Type {
		case ec2sim.EventState:
			if r.State == "stopped" || r.State == "terminated" {
				fenced[r.InstanceID] = true
			}
		case ec2sim.EventAddress:
			check(r, "the Elastic IP", eipOn, r.InstanceID)
			eipOn = r.InstanceID
		case ec2sim.EventPrivateIP:
			if r.PrivateIP != serviceIP.String() {
				continue
			}
			check(r, "the secondary IP", ipOn, r.InstanceID)
			ipOn = r.InstanceID
		case ec2sim.EventRoute:
			to := r.InstanceID
			if to == "" {
				to = enis[r.NetworkInterfaceID]
			}
			check(r, "the overlay route", routeOn, to)
			routeOn = to
		}
	}
	return out
}

// firstSim is the first simulator event in the window that matches.
func (w window) firstSim(match func(ec2sim.Event) bool) (time.Time, bool) {
	for _, r := range w.sim {
		if match(r.Event) {
			return r.Time, true
		}
	}
	return time.Time{}, false
}

// lastSim is the last one.
func (w window) lastSim(match func(ec2sim.Event) bool) (time.Time, bool) {
	for i := len(w.sim) - 1; i >= 0; i-- {
		if match(w.sim[i].Event) {
			return w.sim[i].Time, true
		}
	}
	return time.Time{}, false
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
