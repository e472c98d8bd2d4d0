package ec2

import (
	"context"
	"time"

	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
)

// CallObserver is told of every EC2 call: its action name, how long it
// took (retries included) and its final error.
type CallObserver func(action string, took time.Duration, err error)

// Observed wraps api so that every call is reported to observe: the
// agent's metrics count EC2 calls and errors by action with it, and the
// benchmarks count the calls a failover costs.
func Observed(api API, observe CallObserver) API {
	return observed{api: api, observe: observe}
}

type observed struct {
	api     API
	observe CallObserver
}

type optFns = []func(*awsec2.Options)

func call[I, O any](o observed, action string, f func(context.Context, I, ...func(*awsec2.Options)) (O, error), ctx context.Context, in I, opts optFns) (O, error) {
	start := time.Now()
	out, err := f(ctx, in, opts...)
	o.observe(action, time.Since(start), err)
	return out, err
}

func (o observed) DescribeInstances(ctx context.Context, in *awsec2.DescribeInstancesInput, opts ...func(*awsec2.Options)) (*awsec2.DescribeInstancesOutput, error) {
	return call(o, "DescribeInstances", o.api.DescribeInstances, ctx, in, opts)
}

func (o observed) StopInstances(ctx context.Context, in *awsec2.StopInstancesInput, opts ...func(*awsec2.Options)) (*awsec2.StopInstancesOutput, error) {
	return call(o, "StopInstances", o.api.StopInstances, ctx, in, opts)
}

func (o observed) StartInstances(ctx context.Context, in *awsec2.StartInstancesInput, opts ...func(*awsec2.Options)) (*awsec2.StartInstancesOutput, error) {
	return call(o, "StartInstances", o.api.StartInstances, ctx, in, opts)
}

func (o observed) TerminateInstances(ctx context.Context, in *awsec2.TerminateInstancesInput, opts ...func(*awsec2.Options)) (*awsec2.TerminateInstancesOutput, error) {
	return call(o, "TerminateInstances", o.api.TerminateInstances, ctx, in, opts)
}

func (o observed) RunInstances(ctx context.Context, in *awsec2.RunInstancesInput, opts ...func(*awsec2.Options)) (*awsec2.RunInstancesOutput, error) {
	return call(o, "RunInstances", o.api.RunInstances, ctx, in, opts)
}

func (o observed) CreateTags(ctx context.Context, in *awsec2.CreateTagsInput, opts ...func(*awsec2.Options)) (*awsec2.CreateTagsOutput, error) {
	return call(o, "CreateTags", o.api.CreateTags, ctx, in, opts)
}

func (o observed) DescribeAddresses(ctx context.Context, in *awsec2.DescribeAddressesInput, opts ...func(*awsec2.Options)) (*awsec2.DescribeAddressesOutput, error) {
	return call(o, "DescribeAddresses", o.api.DescribeAddresses, ctx, in, opts)
}

func (o observed) AssociateAddress(ctx context.Context, in *awsec2.AssociateAddressInput, opts ...func(*awsec2.Options)) (*awsec2.AssociateAddressOutput, error) {
	return call(o, "AssociateAddress", o.api.AssociateAddress, ctx, in, opts)
}

func (o observed) DisassociateAddress(ctx context.Context, in *awsec2.DisassociateAddressInput, opts ...func(*awsec2.Options)) (*awsec2.DisassociateAddressOutput, error) {
	return call(o, "DisassociateAddress", o.api.DisassociateAddress, ctx, in, opts)
}

func (o observed) DescribeNetworkInterfaces(ctx context.Context, in *awsec2.DescribeNetworkInterfacesInput, opts ...func(*awsec2.Options)) (*awsec2.DescribeNetworkInterfacesOutput, error) {
	return call(o, "DescribeNetworkInterfaces", o.api.DescribeNetworkInterfaces, ctx, in, opts)
}

func (o observed) AssignPrivateIpAddresses(ctx context.Context, in *awsec2.AssignPrivateIpAddressesInput, opts ...func(*awsec2.Options)) (*awsec2.AssignPrivateIpAddressesOutput, error) {
	return call(o, "AssignPrivateIpAddresses", o.api.AssignPrivateIpAddresses, ctx, in, opts)
}

func (o observed) DescribeRouteTables(ctx context.Context, in *awsec2.DescribeRouteTablesInput, opts ...func(*awsec2.Options)) (*awsec2.DescribeRouteTablesOutput, error) {
	return call(o, "DescribeRouteTables", o.api.DescribeRouteTables, ctx, in, opts)
}

func (o observed) CreateRoute(ctx context.Context, in *awsec2.CreateRouteInput, opts ...func(*awsec2.Options)) (*awsec2.CreateRouteOutput, error) {
	return call(o, "CreateRoute", o.api.CreateRoute, ctx, in, opts)
}

func (o observed) ReplaceRoute(ctx context.Context, in *awsec2.ReplaceRouteInput, opts ...func(*awsec2.Options)) (*awsec2.ReplaceRouteOutput, error) {
	return call(o, "ReplaceRoute", o.api.ReplaceRoute, ctx, in, opts)
}
