package demo

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/replace"
	"github.com/ec2ha/ec2ha/internal/config"
)

func startWorld(t *testing.T, n int) (*SimServer, *World) {
	t.Helper()
	s, err := StartSim(ec2sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the simulator: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w, err := BuildWorld(ctx, s, n)
	if err != nil {
		t.Fatal(err)
	}
	return s, w
}

func TestBuildWorld(t *testing.T) {
	s, w := startWorld(t, 4)
	ctx := context.Background()
	c := s.Client()

	if len(w.Nodes) != 4 {
		t.Fatalf("%d nodes, want 4", len(w.Nodes))
	}
	azs := map[string]bool{}
	for i, n := range w.Nodes {
		if n.Name != NodeName(i+1) || n.Addr != NodeAddr(i+1) || n.ENI == "" {
			t.Errorf("node %d: %+v", i+1, n)
		}
		azs[n.AZ] = true
		tags, err := InstanceTags(ctx, c, n.InstanceID)
		if err != nil {
			t.Fatal(err)
		}
		if tags[config.ClusterTagKey] != ClusterName || tags[NodeTagKey] != n.Name {
			t.Errorf("%s (%s) tags %v: want %s=%s and %s=%s", n.Name, n.InstanceID, tags, config.ClusterTagKey, ClusterName, NodeTagKey, n.Name)
		}
		got, tagged, err := w.NodeOfInstance(ctx, c, n.InstanceID)
		if err != nil || got.Name != n.Name || !tagged {
			t.Errorf("NodeOfInstance(%s) = %s %v %v", n.InstanceID, got.Name, tagged, err)
		}
	}
	if len(azs) != 3 {
		t.Errorf("instances in %d availability zones, want 3", len(azs))
	}

	// Every instance runs and has its own IMDS that knows who it is.
	out, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if in.State.Name != types.InstanceStateNameRunning {
				t.Errorf("%s is %s", aws.ToString(in.InstanceId), in.State.Name)
			}
		}
	}
	for _, n := range w.Nodes {
		if got := imdsGet(t, s, n.InstanceID, "/latest/meta-data/instance-id"); got != n.InstanceID {
			t.Errorf("IMDS of %s says instance-id %q", n.InstanceID, got)
		}
		if got := imdsGet(t, s, n.InstanceID, "/latest/meta-data/placement/availability-zone"); got != n.AZ {
			t.Errorf("IMDS of %s says AZ %q, want %s", n.InstanceID, got, n.AZ)
		}
	}

	// The launch template carries the cluster tag, so replacements join.
	lts, err := c.DescribeLaunchTemplateVersions(ctx, &awsec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateName: aws.String(TemplateName), Versions: []string{"$Default"}})
	if err != nil || len(lts.LaunchTemplateVersions) != 1 {
		t.Fatalf("launch template %s: %v", TemplateName, err)
	}
	if id := aws.ToString(lts.LaunchTemplateVersions[0].LaunchTemplateId); id != w.TemplateID {
		t.Errorf("template id %s, world says %s", id, w.TemplateID)
	}
	var ltTags []string
	for _, spec := range lts.LaunchTemplateVersions[0].LaunchTemplateData.TagSpecifications {
		for _, tg := range spec.Tags {
			ltTags = append(ltTags, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
		}
	}
	if !slices.Contains(ltTags, config.ClusterTagKey+"="+ClusterName) {
		t.Errorf("launch template tags %v lack the cluster tag", ltTags)
	}

	// The Elastic IP exists and nobody holds it yet: the agents place it.
	addrs, err := c.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{AllocationIds: []string{w.AllocationID}})
	if err != nil || len(addrs.Addresses) != 1 {
		t.Fatalf("Elastic IP %s: %v", w.AllocationID, err)
	}
	if a := addrs.Addresses[0]; aws.ToString(a.PublicIp) != w.PublicIP || a.AssociationId != nil {
		t.Errorf("Elastic IP %+v: want %s unassociated", a, w.PublicIP)
	}
	if !strings.HasPrefix(w.RouteTable, "rtb-") {
		t.Errorf("route table %q", w.RouteTable)
	}
}

func imdsGet(t *testing.T, s *SimServer, id, path string) string {
	t.Helper()
	ep, err := s.Sim.IMDSEndpoint(id)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, ep+"/latest/api/token", nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "60")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodGet, ep+path, nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token", string(tok))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A replacement launched the way package replace launches it (template,
// cluster tag, ec2ha:replaces) is recognised as the failed node's.
func TestNodeOfReplacement(t *testing.T) {
	s, w := startWorld(t, 3)
	ctx := context.Background()
	c := s.Client()
	failed := w.Nodes[1]
	launch := func(replaces string) string {
		out, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{
			LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateId: aws.String(w.TemplateID), Version: aws.String("$Default")},
			MinCount:       aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(failed.SubnetID),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{
				{Key: aws.String(config.ClusterTagKey), Value: aws.String(ClusterName)},
				{Key: aws.String(replace.ReplacesTag), Value: aws.String(replaces)},
			}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Instances[0].InstanceId)
	}
	first := launch(failed.InstanceID)
	n, tagged, err := w.NodeOfInstance(ctx, c, first)
	if err != nil || n.Name != failed.Name || tagged {
		t.Fatalf("replacement %s: node %q tagged %v err %v, want %s untagged", first, n.Name, tagged, err, failed.Name)
	}
	second := launch(first) // the replacement of the replacement
	if n, _, err := w.NodeOfInstance(ctx, c, second); err != nil || n.Name != failed.Name {
		t.Fatalf("second replacement: %q %v", n.Name, err)
	}
	stranger, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.NodeOfInstance(ctx, c, aws.ToString(stranger.Instances[0].InstanceId)); err == nil {
		t.Error("an instance without demo tags was taken for a node")
	}
}

// Every node's configuration passes the agent's own validation.
func TestNodeConfigValidates(t *testing.T) {
	s, w := startWorld(t, 3)
	l := Layout{Dir: t.TempDir()}
	if err := config.WriteKeyFile(l.KeyFile()); err != nil {
		t.Fatal(err)
	}
	p := Ports{Gossip: 17946, App: 17947, Metrics: 17948}
	for i, n := range w.Nodes {
		name := ""
		if i == 2 {
			name = n.Name // as for a replacement without its own tag
		}
		imds, _ := s.Sim.IMDSEndpoint(n.InstanceID)
		path := l.ConfigFile(n.Name)
		if err := WriteConfig(path, NodeConfig(w, l, p, s.URL, n, name, imds)); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, nil)
		if err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		g := cfg.Groups[0]
		switch {
		case cfg.Cluster.Name != ClusterName, cfg.Node.Name != name, cfg.AWS.IMDSEndpoint != imds, cfg.AWS.Endpoint != s.URL:
			t.Errorf("%s: identity or endpoints wrong: %+v %+v", n.Name, cfg.Node, cfg.AWS)
		case cfg.Gossip.BindAddr != n.Addr || cfg.Gossip.BindPort != p.Gossip || len(cfg.Nodes) != 3 || cfg.Nodes[1].Address != "127.0.0.12:17946":
			t.Errorf("%s: gossip %+v nodes %+v", n.Name, cfg.Gossip, cfg.Nodes)
		case g.Resources.ElasticIPs[0].AllocationID != w.AllocationID || g.Resources.OverlayIPs[0].RouteTables[0] != w.RouteTable:
			t.Errorf("%s: resources %+v", n.Name, g.Resources)
		case g.Hooks.Start.Command != StartHook || g.Hooks.Monitor.Interval != time.Second:
			t.Errorf("%s: hooks %+v", n.Name, g.Hooks)
		case !cfg.Replacement.Enabled || cfg.Replacement.LaunchTemplate.Name != TemplateName:
			t.Errorf("%s: replacement %+v", n.Name, cfg.Replacement)
		case cfg.API.Socket != l.Socket(n.Name) || cfg.Metrics.Listen != n.Addr+":17948":
			t.Errorf("%s: api %+v metrics %+v", n.Name, cfg.API, cfg.Metrics)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o", path, st.Mode().Perm())
		}
	}
	if _, err := os.Stat(filepath.Join(l.Dir, "node-1.yaml")); err != nil {
		t.Error(err)
	}
}

func TestFindPorts(t *testing.T) {
	addrs := []string{NodeAddr(1), NodeAddr(2)}
	p, err := FindPorts(addrs, 27946)
	if err != nil {
		t.Fatal(err)
	}
	if p.App != p.Gossip+1 || p.Metrics != p.Gossip+2 || !portsFree(addrs, p.Gossip) {
		t.Fatalf("ports %+v", p)
	}
}
