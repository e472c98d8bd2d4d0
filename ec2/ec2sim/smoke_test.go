package ec2sim_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
)

func TestSmoke(t *testing.T) {
	env := simtest.Start(t, ec2sim.Options{})
	ctx := context.Background()
	c := env.Client
	run, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("cluster"), Value: aws.String("c1")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", run.Instances[0].InstanceId)
	out, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag:cluster"), Values: []string{"c1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			t.Logf("%s %s %s %s %v", *i.InstanceId, i.State.Name, *i.PrivateIpAddress, *i.Placement.AvailabilityZone, i.Tags)
		}
	}
	_, err = c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{"i-0000000000000000a"}})
	t.Log(err)
}
