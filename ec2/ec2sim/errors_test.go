package ec2sim_test

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
)

// TestErrorCodes drives every error the simulator documents through the
// SDK and checks the code and the HTTP status EC2 sends with it
// (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
func TestErrorCodes(t *testing.T) {
	env := start(t)
	c := env.Client
	ins := launch(t, c, 2, "")
	running, stopped := ins[0], ins[1]
	mustOK(c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{*stopped.InstanceId}}))
	eip := mustOK(c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}))
	mustOK(c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: eip.AllocationId, InstanceId: running.InstanceId}))
	mustOK(c.CreateLaunchTemplate(ctx, &awsec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("tmpl"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-12345678")}}))
	rtb := aws.String(env.Sim.MainRouteTable())
	mustOK(c.CreateRoute(ctx, &awsec2.CreateRouteInput{RouteTableId: rtb, DestinationCidrBlock: aws.String("10.9.0.0/16"), InstanceId: running.InstanceId}))
	one := aws.Int32(1)
	missingID := "i-0123456789abcdef0"
	ami := aws.String("ami-12345678")

	cases := []struct {
		code   string
		status int
		call   func() error
	}{
		{"InvalidInstanceID.NotFound", 400, func() error {
			_, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{missingID}}, noRetry)
			return err
		}},
		{"InvalidInstanceID.Malformed", 400, func() error {
			_, err := c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{"i-xyz"}}, noRetry)
			return err
		}},
		{"IncorrectInstanceState", 400, func() error {
			// A terminated instance cannot be started.
			mustOK(c.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{*launch(t, c, 1, "")[0].InstanceId}}))
			_, err := c.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: []string{terminatedID(t, c)}}, noRetry)
			return err
		}},
		{"Resource.AlreadyAssociated", 400, func() error {
			_, err := c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: eip.AllocationId, InstanceId: stopped.InstanceId}, noRetry)
			return err
		}},
		{"InvalidAssociationID.NotFound", 400, func() error {
			_, err := c.DisassociateAddress(ctx, &awsec2.DisassociateAddressInput{AssociationId: aws.String("eipassoc-0123456789abcdef0")}, noRetry)
			return err
		}},
		{"InvalidAllocationID.NotFound", 400, func() error {
			_, err := c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-0123456789abcdef0"), InstanceId: running.InstanceId}, noRetry)
			return err
		}},
		{"InvalidAddress.NotFound", 400, func() error {
			_, err := c.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{PublicIps: []string{"192.0.2.1"}}, noRetry)
			return err
		}},
		{"InvalidParameterValue", 400, func() error {
			_, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("no-such-filter"), Values: []string{"x"}}}}, noRetry)
			return err
		}},
		{"InvalidParameterValue", 400, func() error {
			_, err := c.CreateRoute(ctx, &awsec2.CreateRouteInput{RouteTableId: rtb, DestinationCidrBlock: aws.String("10.0.0.1/8"), InstanceId: running.InstanceId}, noRetry)
			return err
		}},
		{"InvalidParameterValue", 400, func() error {
			_, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: ami, MinCount: one, MaxCount: one, PrivateIpAddress: aws.String("10.0.0.5")}, noRetry)
			return err
		}},
		{"MissingParameter", 400, func() error {
			_, err := c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: eip.AllocationId}, noRetry)
			return err
		}},
		{"MissingParameter", 400, func() error {
			_, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{MinCount: one, MaxCount: one}, noRetry)
			return err
		}},
		{"InvalidParameterCombination", 400, func() error {
			_, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{*running.InstanceId}, MaxResults: aws.Int32(5)}, noRetry)
			return err
		}},
		{"InvalidPaginationToken", 400, func() error {
			_, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{NextToken: aws.String("bogus")}, noRetry)
			return err
		}},
		{"InvalidNetworkInterfaceID.NotFound", 400, func() error {
			_, err := c.AssignPrivateIpAddresses(ctx, &awsec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-0123456789abcdef0"), SecondaryPrivateIpAddressCount: one}, noRetry)
			return err
		}},
		{"InvalidNetworkInterfaceID.Malformed", 400, func() error {
			_, err := c.DescribeNetworkInterfaces(ctx, &awsec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{"nic-1"}}, noRetry)
			return err
		}},
		{"InvalidIPAddress.InUse", 400, func() error {
			_, err := c.AssignPrivateIpAddresses(ctx, &awsec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: stopped.NetworkInterfaces[0].NetworkInterfaceId,
				PrivateIpAddresses: []string{*running.PrivateIpAddress}, AllowReassignment: aws.Bool(true)}, noRetry)
			return err
		}},
		{"InvalidRouteTableID.Malformed", 400, func() error {
			_, err := c.ReplaceRoute(ctx, &awsec2.ReplaceRouteInput{RouteTableId: aws.String("table-1"), DestinationCidrBlock: aws.String("10.9.0.0/16"), InstanceId: running.InstanceId}, noRetry)
			return err
		}},
		{"InvalidRouteTableID.NotFound", 400, func() error {
			_, err := c.DescribeRouteTables(ctx, &awsec2.DescribeRouteTablesInput{RouteTableIds: []string{"rtb-0123456789abcdef0"}}, noRetry)
			return err
		}},
		{"RouteAlreadyExists", 400, func() error {
			_, err := c.CreateRoute(ctx, &awsec2.CreateRouteInput{RouteTableId: rtb, DestinationCidrBlock: aws.String("10.9.0.0/16"), InstanceId: stopped.InstanceId}, noRetry)
			return err
		}},
		{"InvalidRoute.NotFound", 400, func() error {
			_, err := c.ReplaceRoute(ctx, &awsec2.ReplaceRouteInput{RouteTableId: rtb, DestinationCidrBlock: aws.String("10.8.0.0/16"), InstanceId: stopped.InstanceId}, noRetry)
			return err
		}},
		{"InvalidGatewayID.NotFound", 400, func() error {
			_, err := c.CreateRoute(ctx, &awsec2.CreateRouteInput{RouteTableId: rtb, DestinationCidrBlock: aws.String("10.7.0.0/16"), GatewayId: aws.String("igw-0123456789abcdef0")}, noRetry)
			return err
		}},
		{"InvalidSubnetID.NotFound", 400, func() error {
			_, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: ami, MinCount: one, MaxCount: one, SubnetId: aws.String("subnet-0123456789abcdef0")}, noRetry)
			return err
		}},
		{"InvalidVpcID.NotFound", 400, func() error {
			_, err := c.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{VpcIds: []string{"vpc-0123456789abcdef0"}}, noRetry)
			return err
		}},
		{"InsufficientFreeAddressesInSubnet", 400, func() error {
			// A /20 has 4,091 usable addresses; nothing may be launched.
			count := func() int {
				return len(mustOK(c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{})).Reservations)
			}
			before := count()
			_, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: ami, MinCount: aws.Int32(5000), MaxCount: aws.Int32(5000)}, noRetry)
			if after := count(); after != before {
				t.Errorf("a failed launch left %d new reservations", after-before)
			}
			return err
		}},
		{"InvalidAMIID.Malformed", 400, func() error {
			_, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("image-1"), MinCount: one, MaxCount: one}, noRetry)
			return err
		}},
		{"InvalidLaunchTemplateName.NotFoundException", 400, func() error {
			_, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("nope")}, MinCount: one, MaxCount: one}, noRetry)
			return err
		}},
		{"InvalidLaunchTemplateId.NotFound", 400, func() error {
			_, err := c.DescribeLaunchTemplateVersions(ctx, &awsec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String("lt-0123456789abcdef0")}, noRetry)
			return err
		}},
		{"InvalidLaunchTemplateId.VersionNotFound", 400, func() error {
			_, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("tmpl"), Version: aws.String("7")}, MinCount: one, MaxCount: one}, noRetry)
			return err
		}},
		{"InvalidLaunchTemplateName.AlreadyExistsException", 400, func() error {
			_, err := c.CreateLaunchTemplate(ctx, &awsec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("tmpl"),
				LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: ami}}, noRetry)
			return err
		}},
		{"IdempotentParameterMismatch", 400, func() error {
			mustOK(c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: ami, MinCount: one, MaxCount: one, ClientToken: aws.String("tok")}))
			_, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: ami, MinCount: one, MaxCount: aws.Int32(2), ClientToken: aws.String("tok")}, noRetry)
			return err
		}},
		{"InvalidInternetGatewayID.NotFound", 400, func() error {
			_, err := c.CreateTags(ctx, &awsec2.CreateTagsInput{Resources: []string{"igw-0123456789abcdef0"}, Tags: []types.Tag{tag("a", "b")}}, noRetry)
			return err
		}},
		{"InvalidID", 400, func() error {
			_, err := c.CreateTags(ctx, &awsec2.CreateTagsInput{Resources: []string{"thing-1"}, Tags: []types.Tag{tag("a", "b")}}, noRetry)
			return err
		}},
		{"DryRunOperation", 412, func() error {
			_, err := c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{*running.InstanceId}, DryRun: aws.Bool(true)}, noRetry)
			return err
		}},
		{"UnauthorizedOperation", 403, withFaults(env.Sim, ec2sim.Faults{Deny: []string{"TerminateInstances"}}, func() error {
			_, err := c.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{*running.InstanceId}}, noRetry)
			return err
		})},
		{"RequestLimitExceeded", 503, withFaults(env.Sim, ec2sim.Faults{ThrottleRate: 1}, func() error {
			_, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{}, noRetry)
			return err
		})},
		{"InternalError", 500, withFaults(env.Sim, ec2sim.Faults{InternalErrorRate: 1}, func() error {
			_, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{}, noRetry)
			return err
		})},
		{"Unavailable", 503, withFaults(env.Sim, ec2sim.Faults{UnavailableRate: 1}, func() error {
			_, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{}, noRetry)
			return err
		})},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) { wantErr(t, tc.call(), tc.code, tc.status) })
	}

	// An action EC2 does not know, and a body that is not a query string,
	// cannot be sent through the SDK; post them.
	for _, tc := range []struct{ body, code, mention string }{
		{url.Values{"Action": {"LaunchRocket"}, "Version": {ec2sim.APIVersion}}.Encode(), "InvalidAction", "LaunchRocket"},
		{"Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=%zz", "MalformedQueryString", "%zz"},
	} {
		resp, err := http.Post(env.URL, "application/x-www-form-urlencoded", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Errors []struct {
				Code    string `xml:"Error>Code"`
				Message string `xml:"Error>Message"`
			} `xml:"Errors"`
			RequestID string `xml:"RequestID"`
		}
		err = xml.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 400 || len(body.Errors) != 1 || body.Errors[0].Code != tc.code || body.RequestID == "" ||
			!strings.Contains(body.Errors[0].Message, tc.mention) {
			t.Errorf("%s: HTTP %d %+v, want 400 %s naming %s", tc.body, resp.StatusCode, body, tc.code, tc.mention)
		}
	}
}

// withFaults runs call with faults in force, then clears them.
func withFaults(sim *ec2sim.Sim, f ec2sim.Faults, call func() error) func() error {
	return func() error {
		if err := sim.SetFaults(f); err != nil {
			return err
		}
		defer sim.SetFaults(ec2sim.Faults{})
		return call()
	}
}

// terminatedID returns the id of a terminated instance.
func terminatedID(t *testing.T, c *awsec2.Client) string {
	t.Helper()
	out := mustOK(c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"terminated"}}}}))
	return *out.Reservations[0].Instances[0].InstanceId
}
