package ec2sim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
)

func metadata(t *testing.T, c *imds.Client, path string) string {
	t.Helper()
	out, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		t.Fatalf("GetMetadata %s: %v", path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(out.Content)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIMDSPerInstance points the SDK's own imds client at each instance's
// endpoint, as an agent does.
func TestIMDSPerInstance(t *testing.T) {
	env := simtest.Start(t, ec2sim.Options{IMDSHost: "127.0.0.1", Region: "eu-central-1"})
	evs := events(env)
	subnets := env.Sim.DefaultSubnets()
	a := launch(t, env.Client, 1, subnets[0])[0]
	b := launch(t, env.Client, 1, subnets[2])[0]
	launchEndpoint := ""
	for e := range evs {
		if e.Type == ec2sim.EventLaunch && e.InstanceID == *a.InstanceId {
			launchEndpoint = e.IMDSEndpoint
			break
		}
	}
	for _, in := range []struct {
		id, az, ip, eni string
	}{
		{*a.InstanceId, "eu-central-1a", *a.PrivateIpAddress, *a.NetworkInterfaces[0].NetworkInterfaceId},
		{*b.InstanceId, "eu-central-1c", *b.PrivateIpAddress, *b.NetworkInterfaces[0].NetworkInterfaceId},
	} {
		endpoint, err := env.Sim.IMDSEndpoint(in.id)
		if err != nil {
			t.Fatal(err)
		}
		if in.id == *a.InstanceId && endpoint != launchEndpoint {
			t.Errorf("launch event endpoint %q, IMDSEndpoint %q", launchEndpoint, endpoint)
		}
		c := imds.New(imds.Options{Endpoint: endpoint})
		if got := metadata(t, c, "instance-id"); got != in.id {
			t.Errorf("instance-id %q, want %q", got, in.id)
		}
		if got := metadata(t, c, "placement/availability-zone"); got != in.az {
			t.Errorf("availability-zone %q, want %q", got, in.az)
		}
		if got := metadata(t, c, "placement/region"); got != "eu-central-1" {
			t.Errorf("region %q", got)
		}
		if got := metadata(t, c, "local-ipv4"); got != in.ip {
			t.Errorf("local-ipv4 %q, want %q", got, in.ip)
		}
		mac := metadata(t, c, "mac")
		if got := metadata(t, c, "network/interfaces/macs/"+mac+"/interface-id"); got != in.eni {
			t.Errorf("interface-id %q, want %q", got, in.eni)
		}
		region, err := c.GetRegion(ctx, &imds.GetRegionInput{})
		if err != nil || region.Region != "eu-central-1" {
			t.Errorf("GetRegion: %v %v", region, err)
		}
	}

	resp, err := http.Get(env.URL + "/admin/imds")
	if err != nil {
		t.Fatal(err)
	}
	var listed map[string]string
	err = json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if err != nil || listed[*a.InstanceId] != launchEndpoint || len(listed) != 2 {
		t.Fatalf("GET /admin/imds: %v %v", listed, err)
	}

	// A stopped instance's metadata service does not answer.
	endpoint, _ := env.Sim.IMDSEndpoint(*a.InstanceId)
	mustOK(env.Client.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{*a.InstanceId}}))
	quick := imds.New(imds.Options{Endpoint: endpoint, ClientEnableState: imds.ClientEnabled}, func(o *imds.Options) { o.Retryer = aws.NopRetryer{} })
	if _, err := quick.GetMetadata(ctx, &imds.GetMetadataInput{Path: "instance-id"}); err == nil {
		t.Fatal("a stopped instance answered IMDS")
	}
}

func TestIMDSRequiresToken(t *testing.T) {
	env := simtest.Start(t, ec2sim.Options{IMDSHost: "127.0.0.1"})
	id := *launch(t, env.Client, 1, "")[0].InstanceId
	endpoint := mustOK(env.Sim.IMDSEndpoint(id))
	resp, err := httpGet(endpoint + "/latest/meta-data/instance-id")
	if err != nil {
		t.Fatal(err)
	}
	if resp != 401 {
		t.Fatalf("IMDSv1 GET got %d, want 401", resp)
	}
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "world.json")
	first := simtest.Start(t, ec2sim.Options{StatePath: path})
	id := *launch(t, first.Client, 1, "", tag("cluster", "p"))[0].InstanceId
	eip := mustOK(first.Client.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}))
	mustOK(first.Client.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: eip.AllocationId, InstanceId: aws.String(id)}))
	if err := first.Sim.Close(); err != nil {
		t.Fatal(err)
	}

	second := simtest.Start(t, ec2sim.Options{StatePath: path, IMDSHost: "127.0.0.1"})
	d := describe(t, second.Client, id)
	if aws.ToString(d.PublicIpAddress) != *eip.PublicIp || *d.Tags[0].Value != "p" {
		t.Fatalf("restored instance: public %v tags %v", d.PublicIpAddress, d.Tags)
	}
	if got := metadata(t, second.IMDS(t, id), "instance-id"); got != id {
		t.Fatalf("restored instance's IMDS says %q", got)
	}
	next := launch(t, second.Client, 1, "")[0]
	if *next.InstanceId == id || *next.PrivateIpAddress == *d.PrivateIpAddress {
		t.Fatal("restored simulator reused an id or address")
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := writeFile(bad, "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := ec2sim.Load(ec2sim.Options{StatePath: bad}); err == nil || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("corrupt state: %v", err)
	}
}
