package membership

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// DescribeInstancesAPI is the one EC2 call discovery makes; ec2.API and
// *ec2.Client satisfy it.
type DescribeInstancesAPI interface {
	DescribeInstances(ctx context.Context, in *awsec2.DescribeInstancesInput, opts ...func(*awsec2.Options)) (*awsec2.DescribeInstancesOutput, error)
}

// EC2Discovery finds the private IPs of the running instances tagged
// ec2ha:cluster=<Cluster>, for joining.
type EC2Discovery struct {
	EC2     DescribeInstancesAPI
	Cluster string
	// Port is appended to each address; zero means DefaultPort.
	Port int
}

// Discover returns host:port for every running instance of the cluster.
func (d EC2Discovery) Discover(ctx context.Context) ([]string, error) {
	in := &awsec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:ec2ha:cluster"), Values: []string{d.Cluster}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
	}}
	port := cmp(d.Port, DefaultPort)
	var addrs []string
	p := awsec2.NewDescribeInstancesPaginator(d.EC2, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return addrs, fmt.Errorf("membership: discover peers with DescribeInstances (tag ec2ha:cluster=%s): %w", d.Cluster, err)
		}
		for _, r := range out.Reservations {
			for _, inst := range r.Instances {
				if inst.PrivateIpAddress != nil && *inst.PrivateIpAddress != "" {
					addrs = append(addrs, fmt.Sprintf("%s:%d", *inst.PrivateIpAddress, port))
				}
			}
		}
	}
	return addrs, nil
}
