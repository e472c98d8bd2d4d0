package membership

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	ec2api "github.com/ec2ha/ec2ha/ec2"
)

var _ DescribeInstancesAPI = ec2api.API(nil)

type fakeInstance struct {
	ip, state, cluster string
}

// fakeEC2 answers DescribeInstances the way EC2 applies the two filters
// discovery sends, one instance per page to exercise pagination.
type fakeEC2 struct {
	instances []fakeInstance
	err       error
	calls     int
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *awsec2.DescribeInstancesInput, _ ...func(*awsec2.Options)) (*awsec2.DescribeInstancesOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	match := func(name, value string) bool {
		for _, flt := range in.Filters {
			if aws.ToString(flt.Name) == name {
				return slices.Contains(flt.Values, value)
			}
		}
		return true
	}
	start := 0
	if in.NextToken != nil {
		start = int((*in.NextToken)[0] - '0')
	}
	out := &awsec2.DescribeInstancesOutput{}
	for i := start; i < len(f.instances); i++ {
		inst := f.instances[i]
		if !match("tag:ec2ha:cluster", inst.cluster) || !match("instance-state-name", inst.state) {
			continue
		}
		out.Reservations = append(out.Reservations, types.Reservation{Instances: []types.Instance{{PrivateIpAddress: aws.String(inst.ip)}}})
		if i+1 < len(f.instances) {
			out.NextToken = aws.String(string(rune('0' + i + 1)))
		}
		break
	}
	return out, nil
}

func TestEC2DiscoveryFindsRunningTaggedInstances(t *testing.T) {
	f := &fakeEC2{instances: []fakeInstance{
		{"10.0.1.10", "running", "prod"},
		{"10.0.1.11", "stopped", "prod"},
		{"10.0.1.12", "running", "staging"},
		{"10.0.2.13", "running", "prod"},
		{"", "running", "prod"},
	}}
	got, err := EC2Discovery{EC2: f, Cluster: "prod"}.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.1.10:7946", "10.0.2.13:7946"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if f.calls < 2 {
		t.Fatalf("pagination not followed: %d calls", f.calls)
	}
}

func TestEC2DiscoveryErrorNamesTheTag(t *testing.T) {
	_, err := EC2Discovery{EC2: &fakeEC2{err: errors.New("UnauthorizedOperation")}, Cluster: "prod", Port: 8000}.Discover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ec2ha:cluster=prod") || !strings.Contains(err.Error(), "UnauthorizedOperation") {
		t.Fatalf("error %v", err)
	}
}

// A node that starts before any peer and finds them only through
// discovery keeps retrying until they appear.
func TestJoinThroughDiscoveryRetriesUntilPeersExist(t *testing.T) {
	c := fastCluster(t, 2)
	var peers []string
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	c.base.Discover = DiscoverFunc(func(context.Context) ([]string, error) {
		<-mu
		defer func() { mu <- struct{}{} }()
		return slices.Clone(peers), nil
	})
	a := c.start("a")
	c.base.Discover = nil
	b := newCluster(t, c.base)
	b.net = c.net
	bn := b.start("b")
	<-mu
	peers = []string{bn.Addr()}
	mu <- struct{}{}
	sees(t, a, alive("a", "b"))
}
