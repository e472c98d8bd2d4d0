package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/replace"
	"github.com/ec2ha/ec2ha/internal/config"
)

// Names the demo world uses.
const (
	ClusterName  = "demo"
	GroupName    = "web"
	TemplateName = "ec2ha-demo"
	// NodeTagKey names the instance tag that gives an instance's node
	// name; the agent falls back to it when node.name is not set.
	NodeTagKey = "ec2ha:node"
	// OverlayIP is the service's private address that moves between
	// availability zones: a /32 outside the VPC routed to the owner's
	// interface through the main route table (see World).
	OverlayIP = "192.168.100.10"
	// The demo image and type; the simulator boots anything.
	demoImage = "ami-0ec2ha0demo00001"
	demoType  = "t3.micro"
)

// SimServer is the embedded EC2 simulator served over HTTP on loopback.
type SimServer struct {
	Sim *ec2sim.Sim
	URL string
	srv *http.Server
}

// StartSim starts a simulator with opts on 127.0.0.1 at a free port.
// Options.IMDSHost defaults to 127.0.0.1, so every instance has its own
// metadata endpoint.
func StartSim(opts ec2sim.Options) (*SimServer, error) {
	return StartSimAt("127.0.0.1", opts)
}

// StartSimAt is StartSim on host (e.g. a bridge address that network
// namespaces reach); Options.IMDSHost defaults to host.
func StartSimAt(host string, opts ec2sim.Options) (*SimServer, error) {
	if opts.IMDSHost == "" {
		opts.IMDSHost = host
	}
	sim, err := ec2sim.Load(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		sim.Close()
		return nil, err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &SimServer{Sim: sim, URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

// Close stops the HTTP server, then the simulator (transitions, IMDS
// listeners, event delivery).
func (s *SimServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	return errors.Join(err, s.Sim.Close())
}

// Client returns an EC2 client for the simulator with dummy credentials.
// It retries up to ten times with short backoff, so the demo's own calls
// get through the throttling it injects for the agents.
func (s *SimServer) Client() *awsec2.Client {
	return awsec2.New(awsec2.Options{
		Region:       s.Sim.Region(),
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("demo", "demo", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 10
			o.MaxBackoff = 100 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
	})
}

// Node is one member of the demo cluster and the instance it runs on.
type Node struct {
	Name       string
	Index      int    // 1-based: node-N
	Addr       string // address of this node's gossip, app and metrics: 127.0.0.(10+N), or its private IP (WorldSpec.PrivateIP)
	InstanceID string
	AZ         string
	SubnetID   string
	PrivateIP  string
	ENI        string // primary network interface of InstanceID
}

// World is what the demo creates in the simulator through the EC2 API, as
// an operator (or the Terraform module) would in a real account.
//
// The instances are in three availability zones, hence in three subnets.
// A secondary private IP belongs to one subnet and cannot move to an
// instance in another AZ (the simulator refuses it as EC2 does), so the
// group's private address is an overlay IP: a /32 outside the VPC routed
// to the owner's interface through the main route table, which is how a
// private address fails over across AZs on AWS.
type World struct {
	Region       string
	Nodes        []Node
	AllocationID string // the service's Elastic IP
	PublicIP     string
	RouteTable   string // main route table of the default VPC
	TemplateID   string
}

// Node returns the node called name.
func (w *World) Node(name string) (Node, bool) {
	for _, n := range w.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// NodeByInstance returns the node whose original instance is id.
func (w *World) NodeByInstance(id string) (Node, bool) {
	for _, n := range w.Nodes {
		if n.InstanceID == id {
			return n, true
		}
	}
	return Node{}, false
}

// NodeAddr is node N's loopback address. Linux routes all of 127/8 to
// the loopback interface, so each node gets its own address and every
// node can use the same ports.
func NodeAddr(index int) string { return fmt.Sprintf("127.0.0.%d", 10+index) }

// NodeName is node N's name.
func NodeName(index int) string { return fmt.Sprintf("node-%d", index) }

// BuildWorld creates n cluster-tagged instances spread over the default
// VPC's availability zones, each tagged with its node name; the launch
// template replacements come from; and an unassociated Elastic IP. It
// waits until every instance runs.
func BuildWorld(ctx context.Context, s *SimServer, n int) (*World, error) {
	return BuildWorldWith(ctx, s, n, WorldSpec{})
}

// WorldSpec changes where BuildWorldWith puts the instances.
type WorldSpec struct {
	// Subnet, if set, holds every instance (one AZ) instead of spreading
	// them over the default subnets.
	Subnet string
	// PrivateIP, if set, gives node N (1-based) its private address,
	// which is then also its Node.Addr: a test bed that gives each
	// instance a host with that address reaches it there.
	PrivateIP func(index int) string
}

// BuildWorldWith is BuildWorld with the instances placed by spec.
func BuildWorldWith(ctx context.Context, s *SimServer, n int, spec WorldSpec) (*World, error) {
	if n < 1 {
		return nil, fmt.Errorf("--nodes %d: need at least one node", n)
	}
	if n > 200 {
		return nil, fmt.Errorf("--nodes %d: at most 200 (one loopback address each)", n)
	}
	c := s.Client()
	w := &World{Region: s.Sim.Region(), RouteTable: s.Sim.MainRouteTable()}
	subnets := s.Sim.DefaultSubnets()
	if len(subnets) == 0 {
		return nil, errors.New("the simulator has no default subnets")
	}

	lt, err := c.CreateLaunchTemplate(ctx, &awsec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(TemplateName),
		VersionDescription: aws.String("ec2ha demo node"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{
			ImageId:      aws.String(demoImage),
			InstanceType: types.InstanceType(demoType),
			TagSpecifications: []types.LaunchTemplateTagSpecificationRequest{{
				ResourceType: types.ResourceTypeInstance,
				Tags: []types.Tag{
					{Key: aws.String(config.ClusterTagKey), Value: aws.String(ClusterName)},
					{Key: aws.String("Name"), Value: aws.String("ec2ha-demo")},
				},
			}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("creating launch template %s: %w", TemplateName, err)
	}
	w.TemplateID = aws.ToString(lt.LaunchTemplate.LaunchTemplateId)

	for i := 1; i <= n; i++ {
		name := NodeName(i)
		subnet, addr, privateIP := subnets[(i-1)%len(subnets)], NodeAddr(i), ""
		if spec.Subnet != "" {
			subnet = spec.Subnet
		}
		if spec.PrivateIP != nil {
			privateIP = spec.PrivateIP(i)
			addr = privateIP
		}
		out, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{
			LaunchTemplate:   &types.LaunchTemplateSpecification{LaunchTemplateName: aws.String(TemplateName)},
			MinCount:         aws.Int32(1),
			MaxCount:         aws.Int32(1),
			SubnetId:         aws.String(subnet),
			PrivateIpAddress: optional(privateIP),
			TagSpecifications: []types.TagSpecification{{
				ResourceType: types.ResourceTypeInstance,
				Tags: []types.Tag{
					{Key: aws.String(NodeTagKey), Value: aws.String(name)},
					{Key: aws.String("Name"), Value: aws.String("ec2ha-demo-" + name)},
				},
			}},
		})
		if err != nil {
			return nil, fmt.Errorf("launching %s: %w", name, err)
		}
		in := out.Instances[0]
		w.Nodes = append(w.Nodes, Node{
			Name: name, Index: i, Addr: addr,
			InstanceID: aws.ToString(in.InstanceId),
			AZ:         aws.ToString(in.Placement.AvailabilityZone),
			SubnetID:   aws.ToString(in.SubnetId),
			PrivateIP:  aws.ToString(in.PrivateIpAddress),
			ENI:        ec2.PrimaryENI(in),
		})
	}

	eip, err := c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{
		Domain: types.DomainTypeVpc,
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeElasticIp,
			Tags:         []types.Tag{{Key: aws.String("Name"), Value: aws.String("ec2ha-demo-web")}},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("allocating the Elastic IP: %w", err)
	}
	w.AllocationID, w.PublicIP = aws.ToString(eip.AllocationId), aws.ToString(eip.PublicIp)

	ids := make([]string, len(w.Nodes))
	for i, nd := range w.Nodes {
		ids[i] = nd.InstanceID
	}
	if err := WaitRunning(ctx, c, ids...); err != nil {
		return nil, err
	}
	return w, nil
}

// WaitRunning polls DescribeInstances until every instance is running.
func WaitRunning(ctx context.Context, c *awsec2.Client, ids ...string) error {
	for {
		out, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil {
			return fmt.Errorf("waiting for %v to run: %w", ids, err)
		}
		running := 0
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				if in.State != nil && in.State.Name == types.InstanceStateNameRunning {
					running++
				}
			}
		}
		if running == len(ids) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %v to run: %w", ids, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// InstanceTags returns an instance's tags.
func InstanceTags(ctx context.Context, c *awsec2.Client, id string) (map[string]string, error) {
	out, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return nil, err
	}
	tags := map[string]string{}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			for _, t := range in.Tags {
				tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
		}
	}
	return tags, nil
}

// NodeOfInstance says which node an instance plays: its ec2ha:node tag,
// or, for a replacement launched without one, the node of the instance it
// replaces (its ec2ha:replaces tag). tagged reports whether the name came
// from the instance's own tag, so the agent can find it by itself.
func (w *World) NodeOfInstance(ctx context.Context, c *awsec2.Client, id string) (n Node, tagged bool, err error) {
	tags, err := InstanceTags(ctx, c, id)
	if err != nil {
		return Node{}, false, err
	}
	if name := tags[NodeTagKey]; name != "" {
		n, ok := w.Node(name)
		if !ok {
			return Node{}, false, fmt.Errorf("instance %s has %s=%s, which is not a demo node", id, NodeTagKey, name)
		}
		return n, true, nil
	}
	if old := tags[replace.ReplacesTag]; old != "" {
		if n, ok := w.NodeByInstance(old); ok {
			return n, false, nil
		}
		// A replacement of a replacement: ask what the replaced one was.
		n, _, err := w.NodeOfInstance(ctx, c, old)
		return n, false, err
	}
	return Node{}, false, fmt.Errorf("instance %s has neither %s nor %s: it is not a demo node", id, NodeTagKey, replace.ReplacesTag)
}

// optional is nil for "", so an unset field stays out of the request.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
