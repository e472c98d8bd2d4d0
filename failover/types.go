package failover

import "time"

// MemberState is a member's state in the local membership view.
type MemberState int

const (
	Alive MemberState = iota
	Suspect
	Dead
	Left
)

// Member is one node of the membership view.
type Member struct {
	Name       string
	InstanceID string
	State      MemberState
	// Witness members vote but never run groups and never coordinate: a
	// witness may have no EC2 permissions.
	Witness bool
	// Heard is when the local node last received anything from the
	// member; zero for the local node itself or when unknown.
	Heard time.Time
	// Since is when the member entered State; zero when unknown.
	Since time.Time
}

// InstanceState is an EC2 instance state name as DescribeInstances reports it.
type InstanceState string

const (
	Pending      InstanceState = "pending"
	Running      InstanceState = "running"
	Stopping     InstanceState = "stopping"
	Stopped      InstanceState = "stopped"
	ShuttingDown InstanceState = "shutting-down"
	Terminated   InstanceState = "terminated"
	Unknown      InstanceState = "unknown"
)

// Instance is what EC2 shows about one instance.
type Instance struct {
	ID            string
	State         InstanceState
	ClusterTagged bool
	// ReplacesID names the instance this one was launched to replace.
	ReplacesID string
}

// down reports whether EC2 shows the instance cannot be running anything.
func (i Instance) down() bool { return i.State == Stopped || i.State == Terminated }

// Quorum is the membership layer's verdict on the local partition.
type Quorum struct {
	Quorate bool
	Reason  string
	// Since is when the partition last gained or lost quorum.
	Since time.Time
	// Needed is the number of votes a majority takes (the local node's
	// included); zero when unknown, and then every alive voter must be
	// heard from after a membership change before the coordinator acts.
	Needed int
}

// GroupState is what is known of one resource group.
type GroupState struct {
	Name string
	// Holders are the instance IDs EC2 shows holding any of the group's
	// resources; more than one means a move was interrupted half way.
	Holders []string
	// Running is the node where the start hook last ran and no stop hook
	// has run since; "" if none.
	Running string
	// MonitorFailures counts consecutive monitor hook failures per node.
	MonitorFailures map[string]int
}

// Intents are operator commands in force.
type Intents struct {
	Maintenance bool
	Standby     map[string]bool
	// Moves maps a group to an operator's move request.
	Moves map[string]Move
}

// Move asks for a group to leave From (if set) for To (if set). Stating
// From keeps the request level-triggered: once the group is off From the
// request is satisfied and the group stays put.
type Move struct {
	From, To string
}

// Observation is everything the engine knows at one instant.
type Observation struct {
	Now    time.Time
	Local  string
	Quorum Quorum
	// ViewSince is when the membership view last changed.
	ViewSince time.Time
	Members   []Member
	Instances map[string]Instance
	Groups    []GroupState
	Intents   Intents
	// ReplacementsLastHour counts replacement launches in the past hour.
	ReplacementsLastHour int
}

// GroupConfig configures one resource group.
type GroupConfig struct {
	Name string
	// Nodes are the eligible nodes, most preferred first.
	Nodes []string
	// Failback moves the group back to a more preferred node when it
	// returns; off by default, like Heartbeat's auto_failback off.
	Failback bool
	// MigrationThreshold is how many consecutive monitor failures move the
	// group away from a node; 0 means never.
	MigrationThreshold int
	// FenceOnMonitorFailure fences the failing node instead of asking it to
	// stop the group.
	FenceOnMonitorFailure bool
}

// Replacement configures launching replacements for fenced instances.
type Replacement struct {
	Enabled    bool
	MaxPerHour int
}

// Config is the engine's configuration.
type Config struct {
	Groups []GroupConfig
	// SettleTime is how long the view must be unchanged before acting.
	SettleTime time.Duration
	// NoQuorumStopAfter is how long a node without quorum keeps its groups
	// running before it stops them.
	NoQuorumStopAfter time.Duration
	Replacement       Replacement
}
