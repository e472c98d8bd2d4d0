package membership

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ec2ha/ec2ha/internal/clock"
)

// EventType says what happened to a member.
type EventType string

const (
	EventJoin      EventType = "join"      // first seen alive
	EventLeave     EventType = "leave"     // left gracefully
	EventFailed    EventType = "failed"    // declared dead by the failure detector
	EventRecovered EventType = "recovered" // alive again after failed
	EventUpdate    EventType = "update"    // metadata changed
)

// Event is one change of the view.
type Event struct {
	Type   EventType
	Node   Member
	Time   time.Time
	Reason string
}

// eventBuffer bounds the events queued for a slow reader; past it events
// are dropped (and logged) rather than stalling gossip.
const eventBuffer = 1024

// Node is this agent's membership in the cluster.
type Node struct {
	cfg     Config
	timing  Timing
	log     *slog.Logger
	clock   clock.Clock
	ml      *memberlist.Memberlist
	keyring *memberlist.Keyring
	// selfHost and selfPort are this node's gossip address, copied once
	// at start: memberlist's LocalNode() is a pointer into state that
	// UpdateNode (meta updates, Leave) rewrites without a lock we share.
	selfHost, selfPort string
	events             chan Event
	stats              stats
	heard              heardLog
	keys               pending[KeyResult]
	calls              pending[callReply]

	mu      sync.Mutex
	meta    Meta
	members map[string]*Member
	seen    map[string]bool // voters seen alive since start, for wait_for_all
	allSeen bool

	ctx      context.Context // ends at Shutdown; parent of handler contexts
	cancel   context.CancelFunc
	ready    chan struct{} // closed once ml is set: calls may arrive sooner
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

type stats struct {
	probeFailures atomic.Uint64
	suspicions    atomic.Uint64
	rejected      atomic.Uint64
	sentBytes     atomic.Uint64
	recvBytes     atomic.Uint64
	droppedEvents atomic.Uint64
}

// Start creates the local member, starts gossip and keeps trying to join
// the configured and discovered peers in the background until it reaches
// them, and again whenever it finds itself alone.
func Start(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	timing, _ := ResolveTiming(cfg.profile(), cfg.Timing)
	n := &Node{
		cfg:     cfg,
		timing:  timing,
		log:     cmp(cfg.Logger, slog.Default()).With("component", "membership"),
		clock:   cmp[clock.Clock](cfg.Clock, clock.Real{}),
		events:  make(chan Event, eventBuffer),
		members: map[string]*Member{},
		seen:    map[string]bool{},
		stop:    make(chan struct{}),
		ready:   make(chan struct{}),
	}
	n.meta = cfg.Meta
	n.meta.Incarnation = cmp(cfg.bootIncarnation, uint64(time.Now().UnixNano()))
	if _, err := n.meta.encode(); err != nil {
		return nil, err
	}

	mc := memberlist.DefaultLANConfig()
	timing.apply(mc)
	mc.Name = cfg.NodeName
	mc.Label = cfg.ClusterName
	mc.BindAddr = cmp(cfg.BindAddr, "0.0.0.0")
	mc.BindPort = cmp(cfg.BindPort, DefaultPort)
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cmp(cfg.AdvertisePort, mc.BindPort)
	mc.DeadNodeReclaimTime = timing.deadNodeReclaimTime()
	mc.Delegate = (*delegate)(n)
	mc.Events = (*eventDelegate)(n)
	mc.Logger = log.New(&logWriter{n: n}, "", 0)
	if !cfg.Insecure {
		kr, err := memberlist.NewKeyring(cfg.Keys, cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("membership: gossip keys: %w", err)
		}
		n.keyring = kr
		mc.Keyring = kr
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	inner := cfg.Transport
	if inner == nil {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{mc.BindAddr}, BindPort: mc.BindPort, Logger: mc.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("membership: listen on %s:%d (gossip.bind_addr, gossip.bind_port): %w", mc.BindAddr, mc.BindPort, err)
		}
		inner = nt
	}
	mc.Transport = newCountingTransport(inner, &n.stats, &n.heard)

	n.ctx, n.cancel = context.WithCancel(context.Background()) // before any call can arrive
	ml, err := memberlist.Create(mc)
	if err != nil {
		n.cancel()
		_ = mc.Transport.Shutdown()
		return nil, fmt.Errorf("membership: start gossip: %w", err)
	}
	n.ml = ml
	self := ml.LocalNode()
	n.selfHost, n.selfPort = self.Addr.String(), strconv.Itoa(int(self.Port))
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(newCollector(n)); err != nil {
			n.cancel()
			_ = ml.Shutdown()
			return nil, fmt.Errorf("membership: register metrics: %w", err)
		}
	}
	close(n.ready)
	n.wg.Add(2)
	go n.watchSuspects()
	go n.joinLoop()
	return n, nil
}

func cmp[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Name is the local node's name.
func (n *Node) Name() string { return n.cfg.NodeName }

// Addr is the local gossip address (host:port) others join through.
func (n *Node) Addr() string { return net.JoinHostPort(n.selfHost, n.selfPort) }

// Timing is the effective timing after profile and overrides.
func (n *Node) Timing() Timing { return n.timing }

// Events delivers view changes. Read it steadily: when its buffer is full
// further events are dropped and logged.
func (n *Node) Events() <-chan Event { return n.events }

// View returns the current view, the local node included.
func (n *Node) View() View {
	n.refreshSuspects()
	n.mu.Lock()
	defer n.mu.Unlock()
	v := View{Local: n.cfg.NodeName}
	for _, m := range n.members {
		cp := *m
		if cp.Name != n.cfg.NodeName {
			cp.Heard = n.heard.at(cp.Addr)
		}
		v.Members = append(v.Members, cp)
	}
	slices.SortFunc(v.Members, func(a, b Member) int { return cmpString(a.Name, b.Name) })
	return v
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Quorum answers whether this node's partition is quorate.
func (n *Node) Quorum() QuorumResult {
	v := n.View()
	n.mu.Lock()
	all := n.allSeen
	n.mu.Unlock()
	return ComputeQuorum(v, n.cfg.Quorum, all)
}

// UpdateMeta changes the local metadata (e.g. standby) and gossips it.
func (n *Node) UpdateMeta(m Meta, timeout time.Duration) error {
	n.mu.Lock()
	m.Incarnation = n.meta.Incarnation
	if _, err := m.encode(); err != nil {
		n.mu.Unlock()
		return err
	}
	n.meta = m
	n.mu.Unlock()
	return n.ml.UpdateNode(timeout)
}

// Leave tells the cluster this node is going away, then stops gossip.
// Members that miss the leaving mark (set first, gossiped within timeout)
// report the departure as failed rather than leave.
func (n *Node) Leave(timeout time.Duration) error {
	n.mu.Lock()
	n.meta.Leaving = true
	n.mu.Unlock()
	err := n.ml.UpdateNode(timeout)
	err = errors.Join(err, n.ml.Leave(timeout))
	return errors.Join(err, n.Shutdown())
}

// Shutdown stops gossip without telling anyone, as a crash would look.
func (n *Node) Shutdown() error {
	var err error
	n.stopOnce.Do(func() {
		close(n.stop)
		n.cancel()
		err = n.ml.Shutdown()
		n.wg.Wait()
	})
	return err
}

// joinLoop joins the static and discovered peers with backoff, then keeps
// watching: whenever the node is alone (a network blip made everyone dead)
// it retries with backoff, and while any member is failed it retries every
// JoinMaxBackoff through the configured, discovered and failed members'
// addresses. The latter heals a partition that outlasts memberlist's own
// gossip to dead nodes, where each side is alive but blind to the other.
func (n *Node) joinLoop() {
	defer n.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-n.stop; cancel() }()
	first := cmp(n.cfg.JoinBackoff, time.Second)
	maxWait := cmp(n.cfg.JoinMaxBackoff, 30*time.Second)
	wait := first
	for {
		alone := n.ml.NumMembers() <= 1
		failed := n.failedAddrs()
		if alone || len(failed) > 0 {
			addrs := append(n.joinAddrs(ctx), failed...)
			if len(addrs) > 0 {
				joined, err := n.ml.Join(addrs)
				switch {
				case joined > 0:
					n.log.Info("joined the cluster", "contacted", joined)
				case alone:
					n.log.Warn("cannot reach the cluster yet; retrying", "peers", len(addrs), "retry_in", wait, "err", err)
				}
			}
		}
		switch {
		case n.ml.NumMembers() <= 1:
			// keep the backoff growing below
		case len(n.failedAddrs()) > 0:
			wait = maxWait
		default:
			wait = first
		}
		if clock.Sleep(ctx, n.clock, wait) != nil {
			return
		}
		if n.ml.NumMembers() <= 1 {
			wait = min(wait*2, maxWait)
		}
	}
}

// failedAddrs are the addresses of members declared dead (not left).
func (n *Node) failedAddrs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, m := range n.members {
		if m.State == StateDead {
			out = append(out, m.Addr)
		}
	}
	return out
}

func (n *Node) joinAddrs(ctx context.Context) []string {
	addrs := slices.Clone(n.cfg.Join)
	if n.cfg.Discover != nil {
		found, err := n.cfg.Discover.Discover(ctx)
		if err != nil {
			n.log.Warn("peer discovery failed", "err", err)
		}
		addrs = append(addrs, found...)
	}
	port := n.selfPort
	out := addrs[:0]
	for _, a := range addrs {
		host, p, err := net.SplitHostPort(a)
		if err != nil {
			host, p = a, port
		}
		if host == n.selfHost && p == port {
			continue
		}
		out = append(out, net.JoinHostPort(host, p))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// watchSuspects polls memberlist for suspect members: memberlist reports
// suspicion only in Members(), not through its events.
func (n *Node) watchSuspects() {
	defer n.wg.Done()
	every := n.timing.ProbeInterval / 2
	for {
		select {
		case <-n.stop:
			return
		case <-time.After(every):
			n.refreshSuspects()
		}
	}
}

func (n *Node) refreshSuspects() {
	nodes := n.ml.Members()
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	for _, nd := range nodes {
		m, ok := n.members[nd.Name]
		if !ok {
			continue
		}
		switch {
		case nd.State == memberlist.StateSuspect && m.State == StateAlive:
			m.State, m.Since = StateSuspect, now
			n.stats.suspicions.Add(1)
			n.log.Info("member suspected", "node", nd.Name)
		case nd.State == memberlist.StateAlive && m.State == StateSuspect:
			m.State, m.Since = StateAlive, now
			n.log.Info("suspicion refuted", "node", nd.Name)
		}
	}
}

// emit queues an event without blocking memberlist.
func (n *Node) emit(t EventType, m Member, reason string) {
	n.log.Info("membership event", "event", string(t), "node", m.Name, "addr", m.Addr, "reason", reason)
	select {
	case n.events <- Event{Type: t, Node: m, Time: time.Now(), Reason: reason}:
	default:
		n.stats.droppedEvents.Add(1)
		n.log.Warn("membership event dropped: reader too slow", "event", string(t), "node", m.Name)
	}
}

type eventDelegate Node

func (d *eventDelegate) NotifyJoin(nd *memberlist.Node) {
	n := (*Node)(d)
	meta := decodeMeta(nd.Meta)
	n.mu.Lock()
	prev, known := n.members[nd.Name]
	m := &Member{Name: nd.Name, Addr: nd.Address(), State: StateAlive, Incarnation: meta.Incarnation, Meta: meta, Since: time.Now()}
	n.members[nd.Name] = m
	n.seen[nd.Name] = true
	if !n.allSeen && len(n.seen) >= n.cfg.Quorum.ExpectedVotes {
		n.allSeen = true
	}
	cp := *m
	n.mu.Unlock()
	switch {
	case known && prev.State == StateDead:
		// memberlist let a different address take the name only because
		// the member was dead longer than DeadNodeReclaimTime; whatever
		// its incarnation, the new life replaces the old entry above.
		reason := "alive again after failing"
		switch {
		case prev.Addr != cp.Addr:
			reason = "replaced: new address " + cp.Addr + " (was " + prev.Addr + ")"
		case prev.Incarnation != meta.Incarnation:
			reason = "restarted: new incarnation"
		}
		n.emit(EventRecovered, cp, reason)
	default:
		n.emit(EventJoin, cp, "joined")
	}
}

func (d *eventDelegate) NotifyLeave(nd *memberlist.Node) {
	n := (*Node)(d)
	n.mu.Lock()
	m, ok := n.members[nd.Name]
	if !ok {
		n.mu.Unlock()
		return
	}
	t, reason := EventFailed, "no acks: suspicion timeout reached"
	m.State = StateDead
	if decodeMeta(nd.Meta).Leaving {
		t, reason, m.State = EventLeave, "left gracefully", StateLeft
	}
	m.Since = time.Now()
	cp := *m
	n.mu.Unlock()
	n.emit(t, cp, reason)
}

func (d *eventDelegate) NotifyUpdate(nd *memberlist.Node) {
	n := (*Node)(d)
	meta := decodeMeta(nd.Meta)
	n.mu.Lock()
	m, ok := n.members[nd.Name]
	if !ok {
		n.mu.Unlock()
		return
	}
	m.Meta, m.Incarnation, m.Addr = meta, meta.Incarnation, nd.Address()
	cp := *m
	n.mu.Unlock()
	if meta.Leaving {
		return // the leave event follows
	}
	n.emit(EventUpdate, cp, "metadata changed")
}

type delegate Node

func (d *delegate) NodeMeta(limit int) []byte {
	n := (*Node)(d)
	n.mu.Lock()
	defer n.mu.Unlock()
	b, _ := n.meta.encode() // checked when set
	return b
}

// NotifyMsg dispatches user messages by their first byte.
func (d *delegate) NotifyMsg(b []byte) {
	n := (*Node)(d)
	if len(b) == 0 {
		return
	}
	switch b[0] {
	case msgKeyRequest, msgKeyReply:
		n.handleKeyMsg(b)
	case msgCallRequest, msgCallReply:
		n.handleCallMsg(b)
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}
