package config

import "time"

// DefaultPath is where the agent and the operator commands look for the
// configuration when --config is not given.
const DefaultPath = "/etc/ec2ha/ec2ha.yaml"

// ClusterTagKey is the EC2 tag that marks an instance as a member of a
// cluster; its value is the cluster name. Fencing refuses any instance
// without it, and the IAM policy conditions every instance action on it.
const ClusterTagKey = "ec2ha:cluster"

// Config is the whole configuration file. Field tags give the YAML key;
// every scalar key can also be set with an EC2HA_ environment variable
// (dots become underscores: EC2HA_CLUSTER_NAME) or a flag (--cluster.name).
type Config struct {
	Cluster     Cluster     `mapstructure:"cluster" yaml:"cluster"`
	Node        Node        `mapstructure:"node" yaml:"node"`
	Nodes       []NodeSpec  `mapstructure:"nodes" yaml:"nodes"`
	Gossip      Gossip      `mapstructure:"gossip" yaml:"gossip"`
	AWS         AWS         `mapstructure:"aws" yaml:"aws"`
	Fencing     Fencing     `mapstructure:"fencing" yaml:"fencing"`
	Groups      []Group     `mapstructure:"groups" yaml:"groups"`
	Replacement Replacement `mapstructure:"replacement" yaml:"replacement"`
	API         API         `mapstructure:"api" yaml:"api"`
	Metrics     Metrics     `mapstructure:"metrics" yaml:"metrics"`
	Log         Log         `mapstructure:"log" yaml:"log"`
}

// Cluster holds cluster-wide membership and quorum settings.
type Cluster struct {
	// Name identifies the cluster: the value of the ec2ha:cluster tag and
	// memberlist's label, so two clusters on one network never merge.
	Name string `mapstructure:"name" yaml:"name"`
	// ExpectedVotes is the number of voters the cluster is built for; a
	// partition is quorate when it sees a strict majority of them. Zero
	// means the number of entries in nodes.
	ExpectedVotes int `mapstructure:"expected_votes" yaml:"expected_votes"`
	// TwoNode makes a two-node cluster quorate with one node, like
	// Corosync's two_node: a partition then becomes a fencing race that
	// TwoNodeFencingDelay settles in favour of the node holding resources.
	TwoNode             bool          `mapstructure:"two_node" yaml:"two_node"`
	TwoNodeFencingDelay time.Duration `mapstructure:"two_node_fencing_delay" yaml:"two_node_fencing_delay"`
	// WaitForAll holds quorum back after a cold start until every expected
	// voter has been seen once (Corosync's wait_for_all, Heartbeat's initdead).
	WaitForAll bool `mapstructure:"wait_for_all" yaml:"wait_for_all"`
	// SettleTime is how long membership must be stable before the
	// coordinator acts, so one flap does not cause a failover.
	SettleTime time.Duration `mapstructure:"settle_time" yaml:"settle_time"`
	// NoQuorumPolicy is what a node does with its own groups after it has
	// been without quorum for NoQuorumStopAfter: "stop" (stop them, so a
	// partitioned active node stops serving before it is fenced) or
	// "freeze" (keep them running, take no action).
	NoQuorumPolicy    string        `mapstructure:"no_quorum_policy" yaml:"no_quorum_policy"`
	NoQuorumStopAfter time.Duration `mapstructure:"no_quorum_stop_after" yaml:"no_quorum_stop_after"`
}

// Node describes the local agent. Empty fields are filled from IMDSv2 when
// the agent starts.
type Node struct {
	Name             string `mapstructure:"name" yaml:"name"`
	InstanceID       string `mapstructure:"instance_id" yaml:"instance_id"`
	AvailabilityZone string `mapstructure:"availability_zone" yaml:"availability_zone"`
	// Shutdown is what a stopping agent does with the groups it runs:
	// handover (standby, wait for the coordinator to move them, then
	// leave) or stop (run their stop hooks and leave; the coordinator
	// recovers them, fencing this instance if it still holds addresses).
	Shutdown string `mapstructure:"shutdown" yaml:"shutdown"`
	// ShutdownTimeout bounds the handover; after it the groups are
	// stopped here anyway.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout" yaml:"shutdown_timeout"`
}

// NodeSpec is one expected member of the cluster.
type NodeSpec struct {
	Name       string `mapstructure:"name" yaml:"name"`
	InstanceID string `mapstructure:"instance_id" yaml:"instance_id,omitempty"`
	// Address is the node's gossip address, used as a static join address.
	Address string `mapstructure:"address" yaml:"address,omitempty"`
	// Witness nodes vote but host no groups (like Corosync's qdevice).
	Witness bool `mapstructure:"witness" yaml:"witness,omitempty"`
}

// Gossip configures memberlist.
type Gossip struct {
	BindAddr      string `mapstructure:"bind_addr" yaml:"bind_addr"`
	BindPort      int    `mapstructure:"bind_port" yaml:"bind_port"`
	AdvertiseAddr string `mapstructure:"advertise_addr" yaml:"advertise_addr"`
	AdvertisePort int    `mapstructure:"advertise_port" yaml:"advertise_port"`
	// KeyFile holds the base64 AES key (16, 24 or 32 bytes) that encrypts
	// gossip. It must not be readable by group or others.
	KeyFile string `mapstructure:"key_file" yaml:"key_file"`
	// Insecure runs gossip unencrypted. For development only.
	Insecure bool `mapstructure:"insecure" yaml:"insecure"`
	// Profile is the timing preset: lan, fast or wan. The fields below
	// override single values of it; zero keeps the preset's value.
	Profile        string        `mapstructure:"profile" yaml:"profile"`
	ProbeInterval  time.Duration `mapstructure:"probe_interval" yaml:"probe_interval"`
	ProbeTimeout   time.Duration `mapstructure:"probe_timeout" yaml:"probe_timeout"`
	SuspicionMult  int           `mapstructure:"suspicion_mult" yaml:"suspicion_mult"`
	GossipInterval time.Duration `mapstructure:"gossip_interval" yaml:"gossip_interval"`
	// Join lists static addresses (host or host:port) to join through, in
	// addition to the addresses in nodes.
	Join []string `mapstructure:"join" yaml:"join"`
	// Discover finds peers by DescribeInstances filtered by the cluster tag.
	Discover bool `mapstructure:"discover" yaml:"discover"`
}

// AWS configures the EC2 client.
type AWS struct {
	// Region defaults to the instance's region from IMDSv2.
	Region string `mapstructure:"region" yaml:"region"`
	// Endpoint overrides the EC2 endpoint, e.g. the simulator's URL.
	Endpoint string `mapstructure:"endpoint" yaml:"endpoint"`
	// IMDSEndpoint overrides the instance metadata service's address.
	IMDSEndpoint string        `mapstructure:"imds_endpoint" yaml:"imds_endpoint"`
	CallTimeout  time.Duration `mapstructure:"call_timeout" yaml:"call_timeout"`
	MaxAttempts  int           `mapstructure:"max_attempts" yaml:"max_attempts"`
}

// Fencing configures STONITH through the EC2 API.
type Fencing struct {
	// Action is the single fencing method when Levels is empty: stop
	// (StopInstances with Force) or terminate.
	Action string `mapstructure:"action" yaml:"action"`
	// Timeout bounds one fencing method from request to EC2's confirmation.
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"`
	// PollInterval is how often DescribeInstances is asked during a fence.
	PollInterval time.Duration `mapstructure:"poll_interval" yaml:"poll_interval"`
	// Levels are tried in order until one confirms, like Pacemaker's
	// fencing topology. Empty means one level: Action with Timeout.
	Levels []FenceLevel `mapstructure:"levels" yaml:"levels"`
	// VanishedIsFenced counts an instance EC2 no longer knows as fenced.
	VanishedIsFenced bool `mapstructure:"vanished_is_fenced" yaml:"vanished_is_fenced"`
}

// FenceLevel is one method of the fencing topology.
type FenceLevel struct {
	Method  string        `mapstructure:"method" yaml:"method"`
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"`
}

// Group is a set of resources that moves as one, with its hooks.
type Group struct {
	Name string `mapstructure:"name" yaml:"name"`
	// Nodes may host the group, in priority order.
	Nodes []string `mapstructure:"nodes" yaml:"nodes"`
	// Failback moves the group back to a higher-priority node when it
	// returns. Off by default (Heartbeat's auto_failback off): a move
	// costs downtime, so the group sticks where it runs.
	Failback bool `mapstructure:"failback" yaml:"failback"`
	// MigrationThreshold moves the group after this many consecutive
	// monitor failures on its node.
	MigrationThreshold int `mapstructure:"migration_threshold" yaml:"migration_threshold"`
	// FenceOnMonitorFailure fences the node whose monitor keeps failing
	// instead of only stopping the group there.
	FenceOnMonitorFailure bool      `mapstructure:"fence_on_monitor_failure" yaml:"fence_on_monitor_failure"`
	Resources             Resources `mapstructure:"resources" yaml:"resources"`
	Hooks                 Hooks     `mapstructure:"hooks" yaml:"hooks"`
}

// Resources are the addresses a group owns.
type Resources struct {
	ElasticIPs   []ElasticIP   `mapstructure:"elastic_ips" yaml:"elastic_ips"`
	SecondaryIPs []SecondaryIP `mapstructure:"secondary_ips" yaml:"secondary_ips"`
	OverlayIPs   []OverlayIP   `mapstructure:"overlay_ips" yaml:"overlay_ips"`
}

// ElasticIP is an Elastic IP allocation associated with the owner.
type ElasticIP struct {
	AllocationID string `mapstructure:"allocation_id" yaml:"allocation_id"`
	// PrivateIP associates the EIP with this private address of the
	// owner's primary ENI (for example one of SecondaryIPs) instead of
	// its primary address.
	PrivateIP string `mapstructure:"private_ip" yaml:"private_ip,omitempty"`
}

// SecondaryIP is a private IP of the subnet assigned to the owner's ENI.
type SecondaryIP struct {
	Address   string `mapstructure:"address" yaml:"address"`
	Interface string `mapstructure:"interface" yaml:"interface,omitempty"`
}

// OverlayIP is an address outside the VPC CIDR routed to the owner's ENI
// through route tables (what aws-vpc-move-ip does).
type OverlayIP struct {
	Address     string   `mapstructure:"address" yaml:"address"`
	RouteTables []string `mapstructure:"route_tables" yaml:"route_tables"`
	Interface   string   `mapstructure:"interface" yaml:"interface,omitempty"`
}

// Hooks are the commands that start, stop and monitor the group's service.
type Hooks struct {
	Start   Hook `mapstructure:"start" yaml:"start"`
	Stop    Hook `mapstructure:"stop" yaml:"stop"`
	Monitor Hook `mapstructure:"monitor" yaml:"monitor"`
}

// Hook is one command run through /bin/sh -c.
type Hook struct {
	Command string        `mapstructure:"command" yaml:"command,omitempty"`
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout,omitempty"`
	// Interval applies to the monitor hook only.
	Interval time.Duration `mapstructure:"interval" yaml:"interval,omitempty"`
}

// Replacement configures self-healing: a fenced member is replaced by a new
// instance launched from a launch template.
type Replacement struct {
	Enabled        bool           `mapstructure:"enabled" yaml:"enabled"`
	LaunchTemplate LaunchTemplate `mapstructure:"launch_template" yaml:"launch_template"`
	// MaxPerHour caps launches so a fault that kills every new instance
	// cannot burn through the account.
	MaxPerHour int `mapstructure:"max_per_hour" yaml:"max_per_hour"`
	// Subnets to launch into; empty means the failed instance's subnet.
	Subnets []string `mapstructure:"subnets" yaml:"subnets"`
	// FencedInstance is what happens to the fenced instance once its
	// replacement runs: terminate, keep (stopped, for forensics) or start.
	FencedInstance string `mapstructure:"fenced_instance" yaml:"fenced_instance"`
	// PassRoleARN is the instance profile role the launch template
	// attaches; the IAM policy then grants iam:PassRole on it.
	PassRoleARN string `mapstructure:"pass_role_arn" yaml:"pass_role_arn"`
}

// LaunchTemplate names a template by id or by name.
type LaunchTemplate struct {
	ID      string `mapstructure:"id" yaml:"id"`
	Name    string `mapstructure:"name" yaml:"name"`
	Version string `mapstructure:"version" yaml:"version"`
}

// API is the agent's local control API used by the operator commands.
type API struct {
	// Socket is the Unix socket path (mode 0600).
	Socket string `mapstructure:"socket" yaml:"socket"`
	// Listen additionally serves the API over TCP, which then requires a
	// bearer token from TokenFile.
	Listen    string `mapstructure:"listen" yaml:"listen"`
	TokenFile string `mapstructure:"token_file" yaml:"token_file"`
}

// Metrics is the Prometheus endpoint; an empty Listen disables it.
type Metrics struct {
	Listen string `mapstructure:"listen" yaml:"listen"`
}

// Log configures log/slog.
type Log struct {
	Level string `mapstructure:"level" yaml:"level"`
	// Format is text, json, or auto: JSON under systemd (JOURNAL_STREAM
	// set), text otherwise.
	Format string `mapstructure:"format" yaml:"format"`
}

// Default returns the configuration every file starts from.
func Default() Config {
	return Config{
		Cluster: Cluster{
			TwoNodeFencingDelay: 15 * time.Second,
			WaitForAll:          true,
			SettleTime:          2 * time.Second,
			NoQuorumPolicy:      "stop",
			NoQuorumStopAfter:   5 * time.Second,
		},
		Node: Node{Shutdown: "handover", ShutdownTimeout: 60 * time.Second},
		Gossip: Gossip{
			BindAddr: "0.0.0.0",
			BindPort: 7946,
			KeyFile:  "/etc/ec2ha/gossip.key",
			Profile:  "fast",
			Discover: true,
		},
		AWS: AWS{
			CallTimeout: 5 * time.Second,
			MaxAttempts: 5,
		},
		Fencing: Fencing{
			Action:       "stop",
			Timeout:      90 * time.Second,
			PollInterval: 500 * time.Millisecond,
		},
		Replacement: Replacement{
			LaunchTemplate: LaunchTemplate{Version: "$Default"},
			MaxPerHour:     2,
			FencedInstance: "terminate",
		},
		API: API{
			Socket: "/run/ec2ha/ec2ha.sock",
		},
		Metrics: Metrics{Listen: "127.0.0.1:9947"},
		Log:     Log{Level: "info", Format: "auto"},
	}
}

// groupDefaults are applied to every group after loading, since viper's
// defaults cannot reach into list elements.
func groupDefaults(g *Group) {
	if g.MigrationThreshold == 0 {
		g.MigrationThreshold = 3
	}
	for _, h := range []*Hook{&g.Hooks.Start, &g.Hooks.Stop, &g.Hooks.Monitor} {
		if h.Command != "" && h.Timeout == 0 {
			h.Timeout = 30 * time.Second
		}
	}
	if g.Hooks.Monitor.Command != "" && g.Hooks.Monitor.Interval == 0 {
		g.Hooks.Monitor.Interval = 10 * time.Second
	}
}
