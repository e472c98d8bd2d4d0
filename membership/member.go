package membership

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"
)

// State is a member's liveness as this node sees it.
type State string

const (
	StateAlive   State = "alive"
	StateSuspect State = "suspect" // a probe failed; not yet declared dead
	StateDead    State = "dead"    // declared failed by the suspicion timeout
	StateLeft    State = "left"    // left gracefully
)

// Votes reports whether a member in this state counts toward quorum: only
// an alive one. A node cut off from its peers sees them all suspect; had
// suspects voted, it stayed quorate through their suspicion and, once one
// was declared dead before the other, fenced it with the vote of the other,
// which it could not hear either (the e2e campaign caught an isolated
// active node fencing a healthy standby that way).
func (s State) Votes() bool { return s == StateAlive }

// reachable reports whether messages to a member in this state are worth
// sending: it has not been declared dead or left.
func (s State) reachable() bool { return s == StateAlive || s == StateSuspect }

// Meta is what every node tells the others about itself. It travels in
// memberlist's node meta, which is limited to memberlist.MetaMaxSize bytes.
type Meta struct {
	InstanceID string   `json:"i,omitempty"`
	AZ         string   `json:"z,omitempty"`
	Version    string   `json:"v,omitempty"`
	Groups     []string `json:"g,omitempty"` // groups this node can host
	Standby    bool     `json:"s,omitempty"` // hosts nothing until told otherwise
	Witness    bool     `json:"w,omitempty"` // votes, hosts no groups
	// Incarnation is the agent's boot incarnation, set at each start and
	// larger after a restart, so a restarted node is told apart from its
	// previous life. (memberlist's own incarnation counter is not exported.)
	Incarnation uint64 `json:"n,omitempty"`
	// Leaving is set by Leave just before memberlist's leave message:
	// memberlist's leave event does not say whether a node left or failed,
	// so the last metadata a node gossips tells.
	Leaving bool `json:"l,omitempty"`
	// Running are the resource groups whose start hook ran on this node
	// with no stop hook since. A dead member's View entry keeps its last
	// Running, so survivors know what a crashed node was hosting.
	Running []string `json:"r,omitempty"`
	// Failures counts consecutive monitor-hook failures per group on this
	// node.
	Failures map[string]int `json:"f,omitempty"`
}

func (m Meta) encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("membership: node metadata is %d bytes, over memberlist's limit of %d: use fewer or shorter group names", len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

func decodeMeta(b []byte) Meta {
	var m Meta
	_ = json.Unmarshal(b, &m) // a peer with unreadable meta is still a member
	return m
}

// Member is one node of the view. A member that is dead or left keeps the
// last Meta this node received from it.
type Member struct {
	Name        string
	Addr        string // host:port of its gossip endpoint
	State       State
	Incarnation uint64 // Meta.Incarnation: the member's boot incarnation
	Meta        Meta
	Since       time.Time // when this node last saw the state change
	// Heard is when anything last arrived from the member's host; zero
	// for the local node and for a member never heard from directly.
	Heard time.Time
}

// View is this node's picture of the cluster.
type View struct {
	Local   string   // the local node's name
	Members []Member // every member ever seen, the local node included, sorted by name
}

// Member returns the named member.
func (v View) Member(name string) (Member, bool) {
	for _, m := range v.Members {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// peer is the named member as a memberlist destination, if it is alive or
// suspect. It is built from this node's own copy of the member's address
// rather than from memberlist's Members(): those are pointers into
// memberlist's state, which its packet handler rewrites under a lock this
// package cannot take, so sending to them races with a member that
// re-announces itself (the race detector caught it in the agent tests).
func (n *Node) peer(name string) (*memberlist.Node, bool) {
	n.mu.Lock()
	m, ok := n.members[name]
	var addr string
	if ok && m.State.reachable() {
		addr = m.Addr
	}
	n.mu.Unlock()
	if addr == "" {
		return nil, false
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, false
	}
	return &memberlist.Node{Name: name, Addr: net.IP(ap.Addr().AsSlice()), Port: ap.Port()}, true
}

// peers are the alive and suspect members other than this node, by name.
func (n *Node) peers() []*memberlist.Node {
	n.mu.Lock()
	names := make([]string, 0, len(n.members))
	for name, m := range n.members {
		if name != n.cfg.NodeName && m.State.reachable() {
			names = append(names, name)
		}
	}
	n.mu.Unlock()
	slices.Sort(names)
	var out []*memberlist.Node
	for _, name := range names {
		if p, ok := n.peer(name); ok {
			out = append(out, p)
		}
	}
	return out
}
