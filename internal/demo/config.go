package demo

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ec2ha/ec2ha/internal/config"
)

// Ports are the ports every node uses on its own loopback address.
type Ports struct {
	Gossip  int // UDP and TCP
	App     int // the protected HTTP service
	Metrics int
}

// FindPorts picks three consecutive ports free on every address, starting
// at from, so that any number of demos (and a real agent on 7946) can run
// side by side.
func FindPorts(addrs []string, from int) (Ports, error) {
	for base := from; base < from+2000 && base+2 < 65536; base += 3 {
		if portsFree(addrs, base) {
			return Ports{Gossip: base, App: base + 1, Metrics: base + 2}, nil
		}
	}
	return Ports{}, fmt.Errorf("no free ports from %d on %v", from, addrs)
}

func portsFree(addrs []string, base int) bool {
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for _, a := range addrs {
		for p := base; p < base+3; p++ {
			hp := net.JoinHostPort(a, strconv.Itoa(p))
			ln, err := net.Listen("tcp", hp)
			if err != nil {
				return false
			}
			closers = append(closers, ln.Close)
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort(a, strconv.Itoa(base)))
		if err != nil {
			return false
		}
		closers = append(closers, pc.Close)
	}
	return true
}

// Layout is where one demo keeps its files, all under Dir.
type Layout struct {
	Dir string
}

func (l Layout) KeyFile() string               { return filepath.Join(l.Dir, "gossip.key") }
func (l Layout) ConfigFile(node string) string { return filepath.Join(l.Dir, node+".yaml") }
func (l Layout) Socket(node string) string     { return filepath.Join(l.Dir, node+".sock") }
func (l Layout) StateFile(node string) string  { return filepath.Join(l.Dir, node+".active") }
func (l Layout) AgentLog(node, instance string) string {
	return filepath.Join(l.Dir, node+"-"+instance+"-agent.log")
}
func (l Layout) AppLog(node, instance string) string {
	return filepath.Join(l.Dir, node+"-"+instance+"-app.log")
}

// NodeConfig is the configuration of one node's agent. Identity comes
// from the instance: node.instance_id and the availability zone from
// IMDSv2 at imdsEndpoint, the node name from the instance's ec2ha:node
// tag unless name is given.
func NodeConfig(w *World, l Layout, p Ports, ec2Endpoint string, nd Node, name, imdsEndpoint string) *config.Config {
	c := config.Default()
	c.Cluster.Name = ClusterName
	c.Cluster.SettleTime = 500 * time.Millisecond
	c.Cluster.NoQuorumStopAfter = 2 * time.Second
	c.Node.Name = name
	groupNodes := make([]string, 0, len(w.Nodes))
	for _, n := range w.Nodes {
		c.Nodes = append(c.Nodes, config.NodeSpec{Name: n.Name, Address: net.JoinHostPort(n.Addr, strconv.Itoa(p.Gossip))})
		groupNodes = append(groupNodes, n.Name)
	}
	c.Gossip.BindAddr = nd.Addr
	c.Gossip.BindPort = p.Gossip
	c.Gossip.KeyFile = l.KeyFile()
	c.Gossip.Profile = "fast"
	// Peers are found through nodes[].address: the instances' private
	// addresses in the simulator are not reachable on this machine.
	c.Gossip.Discover = false
	c.AWS.Region = w.Region
	c.AWS.Endpoint = ec2Endpoint
	c.AWS.IMDSEndpoint = imdsEndpoint
	c.AWS.CallTimeout = 2 * time.Second
	c.Fencing.Timeout = 30 * time.Second
	c.Fencing.PollInterval = 200 * time.Millisecond
	c.Groups = []config.Group{{
		Name:               GroupName,
		Nodes:              groupNodes,
		MigrationThreshold: 3,
		Resources: config.Resources{
			ElasticIPs: []config.ElasticIP{{AllocationID: w.AllocationID}},
			OverlayIPs: []config.OverlayIP{{Address: OverlayIP, RouteTables: []string{w.RouteTable}}},
		},
		Hooks: config.Hooks{
			Start:   config.Hook{Command: StartHook, Timeout: 5 * time.Second},
			Stop:    config.Hook{Command: StopHook, Timeout: 5 * time.Second},
			Monitor: config.Hook{Command: MonitorHook, Timeout: 2 * time.Second, Interval: time.Second},
		},
	}}
	c.Replacement.Enabled = true
	c.Replacement.LaunchTemplate = config.LaunchTemplate{Name: TemplateName, Version: "$Default"}
	c.Replacement.MaxPerHour = 5
	c.Replacement.FencedInstance = "terminate"
	c.API.Socket = l.Socket(nd.Name)
	c.Metrics.Listen = net.JoinHostPort(nd.Addr, strconv.Itoa(p.Metrics))
	c.Log.Level = "info"
	c.Log.Format = "text"
	return &c
}

// WriteConfig writes c as YAML to path (0600).
func WriteConfig(path string, c *config.Config) error {
	data, err := c.YAML()
	if err != nil {
		return err
	}
	header := "# written by `ec2ha demo`; see examples/demo.yaml\n"
	return os.WriteFile(path, append([]byte(header), data...), 0o600)
}
