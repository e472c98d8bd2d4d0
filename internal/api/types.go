package api

import "time"

// Status is everything `ec2ha status` shows: one screen, like pcs status.
type Status struct {
	Cluster     string    `json:"cluster"`
	Node        string    `json:"node"` // the agent that answered
	Version     string    `json:"version"`
	Time        time.Time `json:"time"`
	Quorum      Quorum    `json:"quorum"`
	Coordinator string    `json:"coordinator"`
	Maintenance bool      `json:"maintenance"`
	Members     []Member  `json:"members"`
	Groups      []Group   `json:"groups"`
	Events      []Event   `json:"events"` // the most recent few
}

// Quorum is the answering node's view of quorum.
type Quorum struct {
	Quorate bool `json:"quorate"`
	// TwoNodeRace is set when quorum comes only from two-node mode, so a
	// fence would be a race settled by the fencing delay.
	TwoNodeRace bool   `json:"two_node_race,omitempty"`
	Votes       int    `json:"votes"`
	Expected    int    `json:"expected"`
	Needed      int    `json:"needed"`
	Reason      string `json:"reason,omitempty"`
}

// Member is one node as the answering agent sees it.
type Member struct {
	Name        string `json:"name"`
	InstanceID  string `json:"instance_id,omitempty"`
	Zone        string `json:"availability_zone,omitempty"`
	Address     string `json:"address,omitempty"`
	State       string `json:"state"` // alive, suspect, dead, left, unknown
	Incarnation uint32 `json:"incarnation"`
	Standby     bool   `json:"standby,omitempty"`
	Witness     bool   `json:"witness,omitempty"`
	// InstanceState is what EC2 says of the member's instance.
	InstanceState string `json:"instance_state,omitempty"`
}

// Group is a resource group and where it runs.
type Group struct {
	Name   string `json:"name"`
	Owner  string `json:"owner,omitempty"` // node running the group, "" when unplaced
	State  string `json:"state"`           // started, stopped, moving, unplaced, blocked
	Reason string `json:"reason,omitempty"`
	// Failovers counts the group's moves to another node in the
	// answering agent's history (since it started, at most its last 1000
	// events).
	Failovers int        `json:"failovers"`
	Resources []Resource `json:"resources"`
}

// Resource is one address of a group and which node EC2 shows holding it.
type Resource struct {
	Kind    string `json:"kind"` // elastic-ip, secondary-ip, overlay-ip
	ID      string `json:"id"`   // allocation id or address
	Address string `json:"address,omitempty"`
	Holder  string `json:"holder,omitempty"` // node name, or instance id when not a member
}

// Event is one entry of the cluster's history: a decision, a fence, a move.
type Event struct {
	Seq      uint64        `json:"seq"`
	Time     time.Time     `json:"time"`
	Kind     string        `json:"kind"` // e.g. member-failed, fence, move, start, stop, replace, intent
	Node     string        `json:"node,omitempty"`
	Group    string        `json:"group,omitempty"`
	Outcome  string        `json:"outcome,omitempty"` // ok, failed, timeout, started
	Message  string        `json:"message"`
	Duration time.Duration `json:"duration,omitempty"`
}

// MoveRequest asks for a planned switchover of a group.
type MoveRequest struct {
	To string `json:"to,omitempty"` // "" for the next eligible node
}

// MoveTicket identifies a requested switchover: its progress is the
// events with Seq greater than AfterSeq and Group equal to the group.
type MoveTicket struct {
	Group    string `json:"group"`
	To       string `json:"to"`
	AfterSeq uint64 `json:"after_seq"`
}

// FenceResult is the end of a manual fence.
type FenceResult struct {
	Node     string        `json:"node"`
	Instance string        `json:"instance"`
	Outcome  string        `json:"outcome"` // confirmed, failed, timeout
	Message  string        `json:"message"`
	Duration time.Duration `json:"duration"`
}

// KeyringRequest is a gossip keyring operation: install, use, remove, list.
// Key is base64; it travels only over the local socket and is never logged.
type KeyringRequest struct {
	Op  string `json:"op"`
	Key string `json:"key,omitempty"`
}

// KeyringResponse lists the installed keys by fingerprint, never the keys.
type KeyringResponse struct {
	Primary string         `json:"primary"`
	Keys    map[string]int `json:"keys"` // fingerprint -> members holding it
	Members int            `json:"members"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// Event kinds and outcomes that clients act on.
const (
	// KindSwitchover starts and ends a planned move; `failover --wait`
	// follows a group's events until one of this kind is not "started".
	KindSwitchover = "switchover"
	// KindFailover is recorded when a group has started on another node
	// than the one it left, planned or not, with the whole duration.
	KindFailover = "failover"

	OutcomeStarted = "started"
	OutcomeOK      = "ok"
	OutcomeFailed  = "failed"
)
