// Package memtest is an in-process network for memberlist: every node gets
// a Transport on a shared Network that can drop, delay or partition traffic
// between chosen members, so failure detection and split-brain scenarios
// run in tests without sockets or root.
package memtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Network connects Transports by address.
type Network struct {
	mu      sync.Mutex
	nodes   map[string]*Transport
	group   map[string]int // partition group by address; absent means 0
	loss    float64
	delay   time.Duration
	next    int
	rng     *rand.Rand
	dropped uint64
}

// NewNetwork returns an empty, lossless, unpartitioned network.
func NewNetwork() *Network {
	return &Network{nodes: map[string]*Transport{}, group: map[string]int{}, rng: rand.New(rand.NewPCG(1, 2))}
}

// NewTransport attaches a new node with a fresh address (127.0.x.y:7946).
func (n *Network) NewTransport() *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next++
	return n.attachLocked(fmt.Sprintf("127.0.%d.%d:7946", n.next/250, n.next%250+1))
}

// Reattach gives a restarted node the same address it had before.
func (n *Network) Reattach(addr string) *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.attachLocked(addr)
}

func (n *Network) attachLocked(addr string) *Transport {
	t := &Transport{net: n, addr: addr, packets: make(chan *memberlist.Packet, 1024), streams: make(chan net.Conn, 64)}
	n.nodes[addr] = t
	return t
}

// SetLoss sets the probability that any UDP packet is dropped. Streams
// (TCP) are not lossy, as TCP retransmits.
func (n *Network) SetLoss(p float64) {
	n.mu.Lock()
	n.loss = p
	n.mu.Unlock()
}

// SetDelay delays every packet by d.
func (n *Network) SetDelay(d time.Duration) {
	n.mu.Lock()
	n.delay = d
	n.mu.Unlock()
}

// Partition splits the network: members of different groups cannot reach
// each other at all; addresses not listed form one more group.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group = map[string]int{}
	for i, g := range groups {
		for _, a := range g {
			n.group[a] = i + 1
		}
	}
}

// Heal removes every partition.
func (n *Network) Heal() { n.Partition() }

// Dropped is the number of packets dropped by loss or partition.
func (n *Network) Dropped() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dropped
}

// route returns the destination if traffic from -> to may pass now.
func (n *Network) route(from, to string, lossy bool) (*Transport, time.Duration, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	dst, ok := n.nodes[to]
	if !ok {
		return nil, 0, fmt.Errorf("memtest: %s: connection refused", to)
	}
	if n.group[from] != n.group[to] || (lossy && n.loss > 0 && n.rng.Float64() < n.loss) {
		n.dropped++
		return nil, 0, nil
	}
	return dst, n.delay, nil
}

// Transport is one node's memberlist.Transport on a Network.
type Transport struct {
	net     *Network
	addr    string
	packets chan *memberlist.Packet
	streams chan net.Conn
	mu      sync.Mutex
	closed  bool
}

// Addr is the node's address on the network.
func (t *Transport) Addr() string { return t.addr }

// FinalAdvertiseAddr implements memberlist.Transport.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	host, port, _ := net.SplitHostPort(t.addr)
	p, _ := strconv.Atoi(port)
	return net.ParseIP(host), p, nil
}

// WriteTo implements memberlist.Transport: a lossy, partitionable datagram.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	now := time.Now()
	dst, delay, err := t.net.route(t.addr, addr, true)
	if err != nil || dst == nil {
		return now, nil // UDP does not report loss or a dead peer
	}
	p := &memberlist.Packet{Buf: append([]byte(nil), b...), From: udpAddr(t.addr), Timestamp: now}
	if delay > 0 {
		time.AfterFunc(delay, func() { dst.deliver(p) })
	} else {
		dst.deliver(p)
	}
	return now, nil
}

func (t *Transport) deliver(p *memberlist.Packet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	select {
	case t.packets <- p:
	default: // a full socket buffer drops, as the kernel would
	}
}

func udpAddr(a string) net.Addr {
	ua, _ := net.ResolveUDPAddr("udp", a)
	return ua
}

// PacketCh implements memberlist.Transport.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// DialTimeout implements memberlist.Transport with an in-memory pipe.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	dst, delay, err := t.net.route(t.addr, addr, false)
	if err != nil {
		return nil, err
	}
	if dst == nil {
		time.Sleep(min(timeout, 50*time.Millisecond))
		return nil, fmt.Errorf("memtest: dial %s: i/o timeout (partitioned)", addr)
	}
	time.Sleep(delay)
	a, b := net.Pipe()
	dst.mu.Lock()
	defer dst.mu.Unlock()
	if dst.closed {
		return nil, errors.New("memtest: connection refused")
	}
	select {
	case dst.streams <- b:
		return a, nil
	default:
		return nil, errors.New("memtest: connection refused (backlog full)")
	}
}

// StreamCh implements memberlist.Transport.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown detaches the node: traffic to it is lost, as after a crash.
func (t *Transport) Shutdown() error {
	t.net.mu.Lock()
	if t.net.nodes[t.addr] == t {
		delete(t.net.nodes, t.addr)
	}
	t.net.mu.Unlock()
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	return nil
}
