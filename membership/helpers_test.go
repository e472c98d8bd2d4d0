package membership

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ec2ha/ec2ha/membership/memtest"
)

// waitTimeout is generous: the machine is small, shared and runs -race.
const waitTimeout = 45 * time.Second

var testKey = bytes.Repeat([]byte{7}, 32)

// logBuf collects log output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// cluster is a set of nodes on one in-process network.
type cluster struct {
	t     testing.TB
	net   *memtest.Network
	nodes map[string]*Node
	addrs map[string]string
	order []string // addresses in start order
	base  Config
}

func newCluster(t testing.TB, base Config) *cluster {
	return &cluster{t: t, net: memtest.NewNetwork(), nodes: map[string]*Node{}, addrs: map[string]string{}, base: base}
}

func (c *cluster) config(name string) Config {
	cfg := c.base
	cfg.NodeName = name
	if cfg.ClusterName == "" {
		cfg.ClusterName = "test"
	}
	if cfg.Keys == nil && !cfg.Insecure {
		cfg.Keys = [][]byte{testKey}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.JoinBackoff == 0 {
		cfg.JoinBackoff = 100 * time.Millisecond
		cfg.JoinMaxBackoff = time.Second
	}
	// Three seeds are enough to join; joining through every member would
	// make a 100-node start quadratic.
	cfg.Join = append(cfg.Join, c.order[:min(3, len(c.order))]...)
	return cfg
}

// start adds a node (or restarts one at its old address).
func (c *cluster) start(name string) *Node {
	if a, ok := c.addrs[name]; ok {
		return c.startWith(name, c.net.Reattach(a))
	}
	return c.startWith(name, c.net.NewTransport())
}

// replace starts a new node under a known name at a new address, as a
// replacement instance would.
func (c *cluster) replace(name string) *Node {
	delete(c.addrs, name)
	return c.start(name)
}

// startWith starts a node on the given transport.
func (c *cluster) startWith(name string, tr memberlist.Transport) *Node {
	cfg := c.config(name)
	cfg.Transport = tr
	n, err := Start(cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	c.nodes[name] = n
	if _, ok := c.addrs[name]; !ok {
		c.order = append(c.order, n.Addr())
	}
	c.addrs[name] = n.Addr()
	c.t.Cleanup(func() { _ = n.Shutdown() })
	return n
}

func (c *cluster) startN(names ...string) {
	for _, name := range names {
		c.start(name)
	}
}

// crash stops a node without a goodbye.
func (c *cluster) crash(name string) {
	_ = c.nodes[name].Shutdown()
	delete(c.nodes, name)
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

// states renders a view compactly: "a=alive b=dead".
func states(v View) string {
	var parts []string
	for _, m := range v.Members {
		parts = append(parts, fmt.Sprintf("%s=%s", m.Name, m.State))
	}
	return strings.Join(parts, " ")
}

// sees waits until n's view has exactly the given states for the named members.
func sees(t testing.TB, n *Node, want map[string]State) {
	t.Helper()
	eventually(t, n.Name()+" to see "+fmt.Sprint(want), func() (bool, string) {
		v := n.View()
		for name, s := range want {
			m, ok := v.Member(name)
			if !ok || m.State != s {
				return false, states(v)
			}
		}
		return true, ""
	})
}

func alive(names ...string) map[string]State {
	m := map[string]State{}
	for _, n := range names {
		m[n] = StateAlive
	}
	return m
}

// waitEvent reads events until one matches.
func waitEvent(t testing.TB, n *Node, typ EventType, node string) Event {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case e := <-n.Events():
			if e.Type == typ && e.Node.Name == node {
				return e
			}
		case <-timeout:
			t.Fatalf("%s: no %s event for %s; view %s", n.Name(), typ, node, states(n.View()))
		}
	}
}
