package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	Key     string // dotted key, with list indexes: groups[1].resources.elastic_ips[0].allocation_id
	Value   string // the offending value, if there is one
	Message string // what is wrong
	Fix     string // what to do about it
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Key)
	if p.Value != "" {
		fmt.Fprintf(&b, " = %q", p.Value)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	if p.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// ValidationError lists every problem found in a configuration.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return "invalid configuration: " + lines[0]
	}
	return fmt.Sprintf("invalid configuration (%d problems):\n  %s", len(lines), strings.Join(lines, "\n  "))
}

var (
	clusterNameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	instanceIDRE   = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)
	allocationIDRE = regexp.MustCompile(`^eipalloc-([0-9a-f]{8}|[0-9a-f]{17})$`)
	routeTableRE   = regexp.MustCompile(`^rtb-([0-9a-f]{8}|[0-9a-f]{17})$`)
	subnetRE       = regexp.MustCompile(`^subnet-([0-9a-f]{8}|[0-9a-f]{17})$`)
	templateIDRE   = regexp.MustCompile(`^lt-([0-9a-f]{8}|[0-9a-f]{17})$`)
	regionRE       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	roleARNRE      = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)
)

type checker struct {
	problems  []Problem
	readFiles bool
}

func (c *checker) add(key, value, message, fix string) {
	c.problems = append(c.problems, Problem{Key: key, Value: value, Message: message, Fix: fix})
}

func (c *checker) oneOf(key, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	c.add(key, value, "is not one of "+strings.Join(allowed, ", "), "use one of "+strings.Join(allowed, ", "))
}

func (c *checker) positive(key string, d time.Duration) {
	if d <= 0 {
		c.add(key, d.String(), "must be a positive duration", "set it to a duration such as 5s")
	}
}

func (c *checker) notNegative(key string, d time.Duration) {
	if d < 0 {
		c.add(key, d.String(), "must not be negative", "set it to 0 to keep the default, or a positive duration")
	}
}

func (c *checker) hostPort(key, value string) {
	host, port, err := net.SplitHostPort(value)
	if err != nil {
		c.add(key, value, "is not host:port", "write it as 127.0.0.1:9947")
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		c.add(key, value, "has an invalid port", "use a port from 1 to 65535")
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		c.add(key, value, "has an invalid host", "use an IP address or a host name")
	}
}

func (c *checker) ipv4(key, value string) {
	a, err := netip.ParseAddr(value)
	if err != nil || !a.Is4() {
		c.add(key, value, "is not an IPv4 address", "write it like 10.0.1.50")
	}
}

func (c *checker) endpoint(key, value string) {
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.add(key, value, "is not an http(s) URL", "write it like http://127.0.0.1:4566")
	}
}

func validHostname(h string) bool {
	if len(h) > 253 || h == "" {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// Validate reports every problem in c at once. It reads the key and token
// files to check their permissions and contents.
func (c *Config) Validate() error { return c.validate(true) }

// ValidateWithoutFiles is Validate for a configuration checked away from
// its instance (a workstation printing the IAM policy, the Terraform
// module's tests): the key and token files are not read.
func (c *Config) ValidateWithoutFiles() error { return c.validate(false) }

func (c *Config) validate(readFiles bool) error {
	ch := &checker{readFiles: readFiles}
	c.validateCluster(ch)
	nodes := c.validateNodes(ch)
	c.validateGossip(ch)
	c.validateAWS(ch)
	c.validateFencing(ch)
	c.validateGroups(ch, nodes)
	c.validateReplacement(ch)
	c.validateLocal(ch)
	if len(ch.problems) > 0 {
		return &ValidationError{Problems: ch.problems}
	}
	return nil
}

func (c *Config) validateCluster(ch *checker) {
	cl := c.Cluster
	if cl.Name == "" {
		ch.add("cluster.name", "", "is required", "name the cluster, e.g. cluster.name: web (lower-case letters, digits and dashes)")
	} else if !clusterNameRE.MatchString(cl.Name) {
		ch.add("cluster.name", cl.Name, "must be 1-63 lower-case letters, digits or dashes, starting and ending with a letter or digit", "rename it, e.g. web-prod")
	}
	switch {
	case cl.ExpectedVotes < 0:
		ch.add("cluster.expected_votes", strconv.Itoa(cl.ExpectedVotes), "must not be negative", "set it to the number of voting nodes")
	case cl.ExpectedVotes < len(c.Nodes):
		ch.add("cluster.expected_votes", strconv.Itoa(cl.ExpectedVotes),
			fmt.Sprintf("is smaller than the %d nodes listed in nodes, so a minority could be quorate", len(c.Nodes)),
			fmt.Sprintf("set it to at least %d, or remove it to count the nodes", len(c.Nodes)))
	case cl.ExpectedVotes == 0:
		ch.add("cluster.expected_votes", "0", "is unknown because nodes is empty", "list the cluster's nodes, or set expected_votes")
	}
	if cl.TwoNode {
		if cl.ExpectedVotes != 2 {
			ch.add("cluster.two_node", "true", fmt.Sprintf("needs exactly 2 expected votes, not %d", cl.ExpectedVotes), "list exactly two nodes, or turn two_node off and add a witness")
		}
		ch.positive("cluster.two_node_fencing_delay", cl.TwoNodeFencingDelay)
	}
	ch.notNegative("cluster.settle_time", cl.SettleTime)
	ch.oneOf("cluster.no_quorum_policy", cl.NoQuorumPolicy, "stop", "freeze")
	ch.notNegative("cluster.no_quorum_stop_after", cl.NoQuorumStopAfter)
	ch.oneOf("node.shutdown", c.Node.Shutdown, "handover", "stop")
	ch.positive("node.shutdown_timeout", c.Node.ShutdownTimeout)
	if c.Node.InstanceID != "" && !instanceIDRE.MatchString(c.Node.InstanceID) {
		ch.add("node.instance_id", c.Node.InstanceID, "is not an instance id", "write it like i-0123456789abcdef0, or remove it to read it from IMDS")
	}
}

// validateNodes checks the node list and returns the known node names with
// whether each is a witness.
func (c *Config) validateNodes(ch *checker) map[string]bool {
	nodes := map[string]bool{}
	for i, n := range c.Nodes {
		key := fmt.Sprintf("nodes[%d]", i)
		switch {
		case n.Name == "":
			ch.add(key+".name", "", "is required", "name every node, e.g. its host name or instance id")
		case hasName(c.Nodes[:i], n.Name):
			ch.add(key+".name", n.Name, "is listed twice", "give every node a distinct name")
		}
		nodes[n.Name] = n.Witness
		if n.InstanceID != "" && !instanceIDRE.MatchString(n.InstanceID) {
			ch.add(key+".instance_id", n.InstanceID, "is not an instance id", "write it like i-0123456789abcdef0")
		}
		if n.Address != "" {
			if _, _, err := net.SplitHostPort(n.Address); err == nil {
				ch.hostPort(key+".address", n.Address)
			} else if net.ParseIP(n.Address) == nil && !validHostname(n.Address) {
				ch.add(key+".address", n.Address, "is not an address", "write it as an IP, a host name, or host:port")
			}
		}
	}
	if c.Node.Name != "" && len(c.Nodes) > 0 {
		if _, ok := nodes[c.Node.Name]; !ok {
			ch.add("node.name", c.Node.Name, "is not one of the names in nodes", "use a name from nodes, or add this node there")
		}
	}
	return nodes
}

func hasName(nodes []NodeSpec, name string) bool {
	for _, n := range nodes {
		if n.Name == name {
			return true
		}
	}
	return false
}

func (c *Config) validateGossip(ch *checker) {
	g := c.Gossip
	if net.ParseIP(g.BindAddr) == nil {
		ch.add("gossip.bind_addr", g.BindAddr, "is not an IP address", "use 0.0.0.0 or this node's private IP")
	}
	if g.BindPort < 1 || g.BindPort > 65535 {
		ch.add("gossip.bind_port", strconv.Itoa(g.BindPort), "is not a port", "use a port from 1 to 65535 (default 7946)")
	}
	if g.AdvertiseAddr != "" && net.ParseIP(g.AdvertiseAddr) == nil {
		ch.add("gossip.advertise_addr", g.AdvertiseAddr, "is not an IP address", "use this node's private IP, or leave it empty")
	}
	if g.AdvertisePort < 0 || g.AdvertisePort > 65535 {
		ch.add("gossip.advertise_port", strconv.Itoa(g.AdvertisePort), "is not a port", "use a port from 1 to 65535, or 0 for bind_port")
	}
	if !g.Insecure {
		if g.KeyFile == "" {
			ch.add("gossip.key_file", "", "is required unless gossip.insecure is true", "create one with `ec2ha keygen --out /etc/ec2ha/gossip.key`")
		} else if _, err := ReadKeyFile(g.KeyFile); err != nil && ch.readFiles {
			ch.add("gossip.key_file", g.KeyFile, err.Error(), "create one with `ec2ha keygen --out "+g.KeyFile+"`")
		}
	}
	ch.oneOf("gossip.profile", g.Profile, "lan", "fast", "wan")
	ch.notNegative("gossip.probe_interval", g.ProbeInterval)
	ch.notNegative("gossip.probe_timeout", g.ProbeTimeout)
	ch.notNegative("gossip.gossip_interval", g.GossipInterval)
	if g.SuspicionMult < 0 {
		ch.add("gossip.suspicion_mult", strconv.Itoa(g.SuspicionMult), "must not be negative", "set it to 0 to keep the profile's value")
	}
	if g.ProbeInterval > 0 && g.ProbeTimeout > 0 && g.ProbeTimeout >= g.ProbeInterval {
		ch.add("gossip.probe_timeout", g.ProbeTimeout.String(), "must be shorter than gossip.probe_interval", "lower probe_timeout or raise probe_interval")
	}
	for i, j := range g.Join {
		key := fmt.Sprintf("gossip.join[%d]", i)
		if _, _, err := net.SplitHostPort(j); err == nil {
			ch.hostPort(key, j)
		} else if net.ParseIP(j) == nil && !validHostname(j) {
			ch.add(key, j, "is not an address", "write it as an IP, a host name, or host:port")
		}
	}
}

func (c *Config) validateAWS(ch *checker) {
	a := c.AWS
	if a.Region != "" && !regionRE.MatchString(a.Region) {
		ch.add("aws.region", a.Region, "is not a region name", "write it like eu-west-1, or remove it to read it from IMDS")
	}
	if a.Endpoint != "" {
		ch.endpoint("aws.endpoint", a.Endpoint)
	}
	if a.IMDSEndpoint != "" {
		ch.endpoint("aws.imds_endpoint", a.IMDSEndpoint)
	}
	ch.positive("aws.call_timeout", a.CallTimeout)
	if a.MaxAttempts < 1 {
		ch.add("aws.max_attempts", strconv.Itoa(a.MaxAttempts), "must be at least 1", "set it to 5 or so; the SDK's adaptive retryer spaces the attempts")
	}
}

func (c *Config) validateFencing(ch *checker) {
	f := c.Fencing
	ch.oneOf("fencing.action", f.Action, "stop", "terminate")
	ch.positive("fencing.timeout", f.Timeout)
	ch.positive("fencing.poll_interval", f.PollInterval)
	if f.PollInterval > 0 && f.Timeout > 0 && f.PollInterval >= f.Timeout {
		ch.add("fencing.poll_interval", f.PollInterval.String(), "must be shorter than fencing.timeout", "poll every 500ms or so")
	}
	for i, l := range f.Levels {
		key := fmt.Sprintf("fencing.levels[%d]", i)
		ch.oneOf(key+".method", l.Method, "stop", "terminate")
		ch.positive(key+".timeout", l.Timeout)
	}
}

func (c *Config) validateGroups(ch *checker, nodes map[string]bool) {
	seen := map[string]bool{}
	owner := map[string]string{} // resource -> group, to catch one address in two groups
	claim := func(key, resource, group string) {
		if other, ok := owner[resource]; ok && other != group {
			ch.add(key, resource, "is also a resource of group "+other, "give each address to one group only")
		} else if ok {
			ch.add(key, resource, "is listed twice in this group", "remove the duplicate")
		}
		owner[resource] = group
	}
	for i, g := range c.Groups {
		key := fmt.Sprintf("groups[%d]", i)
		switch {
		case g.Name == "":
			ch.add(key+".name", "", "is required", "name the group, e.g. web")
		case seen[g.Name]:
			ch.add(key+".name", g.Name, "is the name of another group too", "give every group a distinct name")
		}
		seen[g.Name] = true
		if len(g.Nodes) == 0 {
			ch.add(key+".nodes", "", "is empty", "list the nodes that may host the group, in priority order")
		}
		for j, n := range g.Nodes {
			witness, known := nodes[n]
			switch {
			case !known:
				ch.add(fmt.Sprintf("%s.nodes[%d]", key, j), n, "is not a node listed in nodes", "add it to nodes or fix the name")
			case witness:
				ch.add(fmt.Sprintf("%s.nodes[%d]", key, j), n, "is a witness, and witnesses host no groups", "remove it from the group or make it a full node")
			}
		}
		if g.MigrationThreshold < 1 {
			ch.add(key+".migration_threshold", strconv.Itoa(g.MigrationThreshold), "must be at least 1", "set how many monitor failures in a row move the group, e.g. 3")
		}
		r := g.Resources
		for j, e := range r.ElasticIPs {
			k := fmt.Sprintf("%s.resources.elastic_ips[%d]", key, j)
			if !allocationIDRE.MatchString(e.AllocationID) {
				ch.add(k+".allocation_id", e.AllocationID, "is not an Elastic IP allocation id", "use the eipalloc-… id from `aws ec2 describe-addresses`, not the address")
			} else {
				claim(k+".allocation_id", e.AllocationID, g.Name)
			}
			if e.PrivateIP != "" {
				ch.ipv4(k+".private_ip", e.PrivateIP)
			}
		}
		for j, s := range r.SecondaryIPs {
			k := fmt.Sprintf("%s.resources.secondary_ips[%d].address", key, j)
			ch.ipv4(k, s.Address)
			claim(k, s.Address, g.Name)
		}
		for j, o := range r.OverlayIPs {
			k := fmt.Sprintf("%s.resources.overlay_ips[%d]", key, j)
			addr := strings.TrimSuffix(o.Address, "/32")
			ch.ipv4(k+".address", addr)
			claim(k+".address", addr, g.Name)
			if len(o.RouteTables) == 0 {
				ch.add(k+".route_tables", "", "is empty", "list the rtb-… route tables that should route the address to the owner")
			}
			for m, rt := range o.RouteTables {
				if !routeTableRE.MatchString(rt) {
					ch.add(fmt.Sprintf("%s.route_tables[%d]", k, m), rt, "is not a route table id", "write it like rtb-0123456789abcdef0")
				}
			}
		}
		for _, h := range []struct {
			name string
			Hook
		}{{"start", g.Hooks.Start}, {"stop", g.Hooks.Stop}, {"monitor", g.Hooks.Monitor}} {
			k := fmt.Sprintf("%s.hooks.%s", key, h.name)
			if h.Command == "" && (h.Timeout != 0 || h.Interval != 0) {
				ch.add(k+".command", "", "is empty but the hook has timings", "give the command, or remove the hook")
			}
			ch.notNegative(k+".timeout", h.Timeout)
			ch.notNegative(k+".interval", h.Interval)
		}
	}
}

func (c *Config) validateReplacement(ch *checker) {
	r := c.Replacement
	lt := r.LaunchTemplate
	if r.Enabled {
		switch {
		case lt.ID == "" && lt.Name == "":
			ch.add("replacement.launch_template", "", "names no template", "set replacement.launch_template.id (lt-…) or .name, or turn replacement off")
		case lt.ID != "" && lt.Name != "":
			ch.add("replacement.launch_template", lt.ID+" / "+lt.Name, "sets both id and name", "keep one of them")
		}
	}
	if lt.ID != "" && !templateIDRE.MatchString(lt.ID) {
		ch.add("replacement.launch_template.id", lt.ID, "is not a launch template id", "write it like lt-0123456789abcdef0")
	}
	if v := lt.Version; v != "$Latest" && v != "$Default" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			ch.add("replacement.launch_template.version", v, "is not a version", "use $Default, $Latest or a version number")
		}
	}
	if r.MaxPerHour < 1 {
		ch.add("replacement.max_per_hour", strconv.Itoa(r.MaxPerHour), "must be at least 1", "cap launches per hour, e.g. 2")
	}
	for i, s := range r.Subnets {
		if !subnetRE.MatchString(s) {
			ch.add(fmt.Sprintf("replacement.subnets[%d]", i), s, "is not a subnet id", "write it like subnet-0123456789abcdef0")
		}
	}
	ch.oneOf("replacement.fenced_instance", r.FencedInstance, "terminate", "keep", "start")
	if r.PassRoleARN != "" && !roleARNRE.MatchString(r.PassRoleARN) {
		ch.add("replacement.pass_role_arn", r.PassRoleARN, "is not an IAM role ARN", "write it like arn:aws:iam::123456789012:role/ec2ha-node")
	}
}

func (c *Config) validateLocal(ch *checker) {
	if c.API.Socket != "" && !filepath.IsAbs(c.API.Socket) {
		ch.add("api.socket", c.API.Socket, "is not an absolute path", "use a path like /run/ec2ha/ec2ha.sock")
	}
	if c.API.Listen != "" {
		ch.hostPort("api.listen", c.API.Listen)
		if c.API.TokenFile == "" {
			ch.add("api.token_file", "", "is required when api.listen is set: the TCP API needs a bearer token", "write a token to a 0600 file and name it here")
		}
	}
	if c.API.TokenFile != "" && ch.readFiles {
		if _, err := ReadSecretFile(c.API.TokenFile); err != nil {
			ch.add("api.token_file", c.API.TokenFile, err.Error(), "write a token to the file and chmod 600 it")
		}
	}
	if c.Metrics.Listen != "" {
		ch.hostPort("metrics.listen", c.Metrics.Listen)
	}
	ch.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	ch.oneOf("log.format", c.Log.Format, "auto", "text", "json")
}
