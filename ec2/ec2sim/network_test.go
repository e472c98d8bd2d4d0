package ec2sim_test

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
)

func TestElasticIPMoves(t *testing.T) {
	env := start(t)
	c := env.Client
	evs := events(env)
	ins := launch(t, c, 2, "")
	a, b := ins[0], ins[1]
	alloc := mustOK(c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{Domain: types.DomainTypeVpc}))
	assoc := mustOK(c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, InstanceId: a.InstanceId}))
	if *describe(t, c, *a.InstanceId).PublicIpAddress != *alloc.PublicIp {
		t.Fatal("instance does not show its Elastic IP")
	}
	again := mustOK(c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, InstanceId: a.InstanceId}))
	if *again.AssociationId != *assoc.AssociationId {
		t.Fatal("re-associating to the same place changed the association")
	}
	_, err := c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, InstanceId: b.InstanceId}, noRetry)
	wantErr(t, err, "Resource.AlreadyAssociated", 400)

	// Moving by network interface and private IP, with reassociation.
	bENI := *b.NetworkInterfaces[0].NetworkInterfaceId
	moved := mustOK(c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, NetworkInterfaceId: aws.String(bENI),
		PrivateIpAddress: b.PrivateIpAddress, AllowReassociation: aws.Bool(true)}))
	if describe(t, c, *a.InstanceId).PublicIpAddress != nil || *describe(t, c, *b.InstanceId).PublicIpAddress != *alloc.PublicIp {
		t.Fatal("address did not move from a to b")
	}
	addrs := mustOK(c.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{Filters: []types.Filter{{Name: aws.String("instance-id"), Values: []string{*b.InstanceId}}}})).Addresses
	if len(addrs) != 1 || *addrs[0].AssociationId != *moved.AssociationId || *addrs[0].NetworkInterfaceId != bENI {
		t.Fatalf("DescribeAddresses by instance: %+v", addrs)
	}
	_, err = c.DisassociateAddress(ctx, &awsec2.DisassociateAddressInput{AssociationId: assoc.AssociationId}, noRetry)
	wantErr(t, err, "InvalidAssociationID.NotFound", 400)
	_, err = c.ReleaseAddress(ctx, &awsec2.ReleaseAddressInput{AllocationId: alloc.AllocationId}, noRetry)
	wantErr(t, err, "InvalidIPAddress.InUse", 400)
	mustOK(c.DisassociateAddress(ctx, &awsec2.DisassociateAddressInput{AssociationId: moved.AssociationId}))
	mustOK(c.ReleaseAddress(ctx, &awsec2.ReleaseAddressInput{AllocationId: alloc.AllocationId}))
	_, err = c.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{AllocationIds: []string{*alloc.AllocationId}}, noRetry)
	wantErr(t, err, "InvalidAllocationID.NotFound", 400)

	// Associating onto an address that already has one displaces it.
	x := mustOK(c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}))
	y := mustOK(c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}))
	mustOK(c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: x.AllocationId, InstanceId: a.InstanceId}))
	mustOK(c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: y.AllocationId, InstanceId: a.InstanceId}))
	xs := mustOK(c.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{AllocationIds: []string{*x.AllocationId}})).Addresses
	if xs[0].AssociationId != nil {
		t.Fatal("displaced address still associated")
	}

	var moves []ec2sim.Event
	for len(moves) < 4 {
		if e := <-evs; e.Type == ec2sim.EventAddress {
			moves = append(moves, e)
		}
	}
	if moves[0].InstanceID != *a.InstanceId || moves[1].InstanceID != *b.InstanceId || moves[2].InstanceID != "" {
		t.Fatalf("address events: %+v", moves)
	}
}

func TestAssignPrivateIPMovesExactlyOnce(t *testing.T) {
	env := start(t)
	c := env.Client
	ins := launch(t, c, 2, "")
	e1, e2 := *ins[0].NetworkInterfaces[0].NetworkInterfaceId, *ins[1].NetworkInterfaces[0].NetworkInterfaceId
	const vip = "172.31.10.10"
	mustOK(c.AssignPrivateIpAddresses(ctx, &awsec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(e1), PrivateIpAddresses: []string{vip}}))
	_, err := c.AssignPrivateIpAddresses(ctx, &awsec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(e2), PrivateIpAddresses: []string{vip}}, noRetry)
	wantErr(t, err, "InvalidIPAddress.InUse", 400)
	// An Elastic IP on the secondary address goes with it when it moves.
	eip := mustOK(c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}))
	mustOK(c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: eip.AllocationId, NetworkInterfaceId: aws.String(e1), PrivateIpAddress: aws.String(vip)}))

	mustOK(c.AssignPrivateIpAddresses(ctx, &awsec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(e2), PrivateIpAddresses: []string{vip}, AllowReassignment: aws.Bool(true)}))
	holders := mustOK(c.DescribeNetworkInterfaces(ctx, &awsec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{{Name: aws.String("addresses.private-ip-address"), Values: []string{vip}}}})).NetworkInterfaces
	if len(holders) != 1 || *holders[0].NetworkInterfaceId != e2 {
		t.Fatalf("%s is on %d interfaces after reassignment, want exactly %s", vip, len(holders), e2)
	}
	addr := mustOK(c.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{AllocationIds: []string{*eip.AllocationId}})).Addresses[0]
	if addr.AssociationId != nil {
		t.Fatal("the Elastic IP of a moved private address should be disassociated")
	}

	got := mustOK(c.AssignPrivateIpAddresses(ctx, &awsec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(e1), SecondaryPrivateIpAddressCount: aws.Int32(2)}))
	if len(got.AssignedPrivateIpAddresses) != 2 {
		t.Fatalf("assigned %d addresses by count", len(got.AssignedPrivateIpAddresses))
	}
	mustOK(c.UnassignPrivateIpAddresses(ctx, &awsec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(e2), PrivateIpAddresses: []string{vip}}))
	e := mustOK(c.DescribeNetworkInterfaces(ctx, &awsec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{e2}})).NetworkInterfaces[0]
	if len(e.PrivateIpAddresses) != 1 || e.Attachment == nil || *e.Attachment.InstanceId != *ins[1].InstanceId || e.Status != types.NetworkInterfaceStatusInUse {
		t.Fatalf("after unassign: %+v", e)
	}
	_, err = c.UnassignPrivateIpAddresses(ctx, &awsec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(e2), PrivateIpAddresses: []string{vip}}, noRetry)
	wantErr(t, err, "InvalidParameterValue", 400)

	byInstance := mustOK(c.DescribeNetworkInterfaces(ctx, &awsec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{*ins[0].InstanceId}}}})).NetworkInterfaces
	if len(byInstance) != 1 || len(byInstance[0].PrivateIpAddresses) != 3 {
		t.Fatalf("ENI of instance 0: %+v", byInstance)
	}
}

func TestRoutes(t *testing.T) {
	env := start(t)
	c := env.Client
	evs := events(env)
	ins := launch(t, c, 2, "")
	rtb := aws.String(env.Sim.MainRouteTable())
	dest := aws.String("10.99.0.10/32")
	mustOK(c.CreateRoute(ctx, &awsec2.CreateRouteInput{RouteTableId: rtb, DestinationCidrBlock: dest, InstanceId: ins[0].InstanceId}))
	_, err := c.CreateRoute(ctx, &awsec2.CreateRouteInput{RouteTableId: rtb, DestinationCidrBlock: dest, InstanceId: ins[1].InstanceId}, noRetry)
	wantErr(t, err, "RouteAlreadyExists", 400)
	mustOK(c.ReplaceRoute(ctx, &awsec2.ReplaceRouteInput{RouteTableId: rtb, DestinationCidrBlock: dest, NetworkInterfaceId: ins[1].NetworkInterfaces[0].NetworkInterfaceId}))
	rts := mustOK(c.DescribeRouteTables(ctx, &awsec2.DescribeRouteTablesInput{
		Filters: []types.Filter{{Name: aws.String("route.instance-id"), Values: []string{*ins[1].InstanceId}}}})).RouteTables
	if len(rts) != 1 {
		t.Fatalf("route table by route.instance-id: %d", len(rts))
	}
	for _, r := range rts[0].Routes {
		if *r.DestinationCidrBlock == *dest && (*r.InstanceId != *ins[1].InstanceId || r.State != types.RouteStateActive) {
			t.Fatalf("replaced route: %+v", r)
		}
	}
	_, err = c.ReplaceRoute(ctx, &awsec2.ReplaceRouteInput{RouteTableId: rtb, DestinationCidrBlock: aws.String("10.98.0.0/24"), InstanceId: ins[1].InstanceId}, noRetry)
	wantErr(t, err, "InvalidRoute.NotFound", 400)
	var got []ec2sim.Event
	for len(got) < 2 {
		if e := <-evs; e.Type == ec2sim.EventRoute {
			got = append(got, e)
		}
	}
	if got[1].InstanceID != *ins[1].InstanceId || got[1].Destination != *dest {
		t.Fatalf("route events %+v", got)
	}
}

func TestTags(t *testing.T) {
	env := start(t)
	c := env.Client
	in := launch(t, c, 1, "")[0]
	id := *in.InstanceId
	mustOK(c.CreateTags(ctx, &awsec2.CreateTagsInput{Resources: []string{id, env.Sim.MainRouteTable()}, Tags: []types.Tag{tag("a", "1"), tag("b", "2")}}))
	all := mustOK(c.DescribeTags(ctx, &awsec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}}})).Tags
	if len(all) != 2 || all[0].ResourceType != types.ResourceTypeInstance {
		t.Fatalf("DescribeTags: %+v", all)
	}
	mustOK(c.DeleteTags(ctx, &awsec2.DeleteTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("wrong")}, {Key: aws.String("b")}}}))
	var keys []string
	for _, tg := range describe(t, c, id).Tags {
		keys = append(keys, *tg.Key)
	}
	if !slices.Equal(keys, []string{"a"}) {
		t.Fatalf("after DeleteTags: %v (a kept: value did not match; b deleted)", keys)
	}
	byType := mustOK(c.DescribeTags(ctx, &awsec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-type"), Values: []string{"route-table"}}}})).Tags
	if len(byType) != 2 {
		t.Fatalf("route-table tags: %d", len(byType))
	}
	p := awsec2.NewDescribeTagsPaginator(c, &awsec2.DescribeTagsInput{MaxResults: aws.Int32(5)})
	n := 0
	for p.HasMorePages() {
		n += len(mustOK(p.NextPage(ctx)).Tags)
	}
	if n != 3 {
		t.Fatalf("paged %d tags, want 3", n)
	}
}
