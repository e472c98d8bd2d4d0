package ec2

import (
	"context"

	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
)

// API is every EC2 call ec2ha makes. *awsec2.Client satisfies it; tests may
// substitute a fake. Adding a method here without adding it to Actions fails
// TestActionsMatchAPI, so the IAM policy can never fall behind the code.
type API interface {
	DescribeInstances(ctx context.Context, in *awsec2.DescribeInstancesInput, opts ...func(*awsec2.Options)) (*awsec2.DescribeInstancesOutput, error)
	StopInstances(ctx context.Context, in *awsec2.StopInstancesInput, opts ...func(*awsec2.Options)) (*awsec2.StopInstancesOutput, error)
	StartInstances(ctx context.Context, in *awsec2.StartInstancesInput, opts ...func(*awsec2.Options)) (*awsec2.StartInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *awsec2.TerminateInstancesInput, opts ...func(*awsec2.Options)) (*awsec2.TerminateInstancesOutput, error)
	RunInstances(ctx context.Context, in *awsec2.RunInstancesInput, opts ...func(*awsec2.Options)) (*awsec2.RunInstancesOutput, error)
	CreateTags(ctx context.Context, in *awsec2.CreateTagsInput, opts ...func(*awsec2.Options)) (*awsec2.CreateTagsOutput, error)
	DescribeAddresses(ctx context.Context, in *awsec2.DescribeAddressesInput, opts ...func(*awsec2.Options)) (*awsec2.DescribeAddressesOutput, error)
	AssociateAddress(ctx context.Context, in *awsec2.AssociateAddressInput, opts ...func(*awsec2.Options)) (*awsec2.AssociateAddressOutput, error)
	DisassociateAddress(ctx context.Context, in *awsec2.DisassociateAddressInput, opts ...func(*awsec2.Options)) (*awsec2.DisassociateAddressOutput, error)
	DescribeNetworkInterfaces(ctx context.Context, in *awsec2.DescribeNetworkInterfacesInput, opts ...func(*awsec2.Options)) (*awsec2.DescribeNetworkInterfacesOutput, error)
	AssignPrivateIpAddresses(ctx context.Context, in *awsec2.AssignPrivateIpAddressesInput, opts ...func(*awsec2.Options)) (*awsec2.AssignPrivateIpAddressesOutput, error)
	DescribeRouteTables(ctx context.Context, in *awsec2.DescribeRouteTablesInput, opts ...func(*awsec2.Options)) (*awsec2.DescribeRouteTablesOutput, error)
	CreateRoute(ctx context.Context, in *awsec2.CreateRouteInput, opts ...func(*awsec2.Options)) (*awsec2.CreateRouteOutput, error)
	ReplaceRoute(ctx context.Context, in *awsec2.ReplaceRouteInput, opts ...func(*awsec2.Options)) (*awsec2.ReplaceRouteOutput, error)
}

var _ API = (*awsec2.Client)(nil)

// Scope says which IAM statement an action belongs to.
type Scope int

const (
	// ReadOnly actions cannot be limited by resource in IAM (EC2's
	// Describe* calls only support "*").
	ReadOnly Scope = iota
	// ClusterInstance actions are allowed only on instances tagged with
	// this cluster's tag: fencing, restarting and tagging members.
	ClusterInstance
	// Network actions move addresses and routes. They act on ENIs,
	// addresses and route tables that are usually not tagged by ec2ha, so
	// they are granted on "*"; the policy document explains this.
	Network
	// Launch actions start replacement instances and are limited to the
	// configured launch template.
	Launch
)

// Action is one EC2 API action ec2ha calls, and why.
type Action struct {
	Name  string // API name, e.g. "StopInstances"; the IAM action is "ec2:"+Name.
	Scope Scope
	Why   string
}

// Actions lists every method of API, in the order of the interface.
var Actions = []Action{
	{"DescribeInstances", ReadOnly, "membership discovery, fence confirmation, instance state"},
	{"StopInstances", ClusterInstance, "fencing (stop with Force)"},
	{"StartInstances", ClusterInstance, "unfence: bring a stopped member back"},
	{"TerminateInstances", ClusterInstance, "fencing level terminate; retiring a replaced instance"},
	{"RunInstances", Launch, "launching a replacement from the launch template"},
	{"CreateTags", ClusterInstance, "fence history tags on members; tags on replacements at launch"},
	{"DescribeAddresses", ReadOnly, "current owner of each Elastic IP"},
	{"AssociateAddress", Network, "moving an Elastic IP to the new owner"},
	{"DisassociateAddress", Network, "compare-and-set release of an Elastic IP"},
	{"DescribeNetworkInterfaces", ReadOnly, "owners of secondary IPs, source/destination check"},
	{"AssignPrivateIpAddresses", Network, "moving a secondary private IP"},
	{"DescribeRouteTables", ReadOnly, "owner of each overlay IP route"},
	{"CreateRoute", Network, "creating a missing overlay IP route"},
	{"ReplaceRoute", Network, "pointing an overlay IP route at the new owner"},
}
