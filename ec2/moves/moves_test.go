package moves_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
	"github.com/ec2ha/ec2ha/ec2/moves"
)

// must is for set-up and checks in the test goroutine: an error there is
// a broken test environment, and the panic fails the test with it.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

type cluster struct {
	env    *simtest.Env
	owners []moves.Owner
}

func newCluster(t testing.TB, n int32) cluster {
	env := simtest.Start(t, ec2sim.Options{})
	ctx := context.Background()
	out := must(env.Client.RunInstances(ctx, &awsec2.RunInstancesInput{
		ImageId: aws.String("ami-0123456789abcdef0"), MinCount: aws.Int32(n), MaxCount: aws.Int32(n)}))
	c := cluster{env: env}
	for _, in := range out.Instances {
		c.owners = append(c.owners, moves.Owner{InstanceID: *in.InstanceId, ENI: *in.NetworkInterfaces[0].NetworkInterfaceId})
	}
	return c
}

// eipOwner is the allocation's association as EC2 shows it.
func eipOwner(api ec2.API, alloc string) moves.EIP {
	return must(moves.ObserveEIPs(context.Background(), api, []string{alloc}))[alloc]
}

func TestMoveEIPRacesEndOnExactlyOneOwner(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 3)
	api := c.env.Client
	from, b, x := c.owners[0], c.owners[1], c.owners[2]
	for i := range 25 {
		alloc := must(api.AllocateAddress(ctx, &awsec2.AllocateAddressInput{Domain: types.DomainTypeVpc}))
		must(api.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, NetworkInterfaceId: aws.String(from.ENI)}))
		// Two coordinators disagree about the new owner (a split view):
		// exactly one must win, and the loser must not take it back.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, to := range []moves.Owner{b, x} {
			wg.Go(func() { errs[j] = moves.MoveEIP(ctx, api, *alloc.AllocationId, from, to) })
		}
		wg.Wait()
		got := eipOwner(api, *alloc.AllocationId)
		if got.ENI != b.ENI && got.ENI != x.ENI {
			t.Fatalf("round %d: address on %q, want b or x", i, got.ENI)
		}
		winner := 0
		if got.ENI == x.ENI {
			winner = 1
		}
		if errs[winner] != nil || errs[1-winner] == nil {
			t.Fatalf("round %d: address on mover %d's owner, but errors %v", i, winner, errs)
		}
		// Both coordinators agreeing on the owner both succeed.
		must(api.DisassociateAddress(ctx, &awsec2.DisassociateAddressInput{AssociationId: aws.String(got.AssociationID)}))
		must(api.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, NetworkInterfaceId: aws.String(from.ENI)}))
		for j := range 2 {
			wg.Go(func() { errs[j] = moves.MoveEIP(ctx, api, *alloc.AllocationId, from, b) })
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: agreeing movers failed: %v", i, errs)
		}
		if got := eipOwner(api, *alloc.AllocationId); got.ENI != b.ENI {
			t.Fatalf("round %d: address on %q, want %s", i, got.ENI, b.ENI)
		}
	}
}

func TestMoveEIPRefusesLiveOtherOwner(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 3)
	api := c.env.Client
	alloc := must(api.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}))
	must(api.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, NetworkInterfaceId: aws.String(c.owners[2].ENI)}))
	if err := moves.MoveEIP(ctx, api, *alloc.AllocationId, c.owners[0], c.owners[1]); err == nil {
		t.Fatal("took an Elastic IP from an owner that was not fenced")
	}
	if got := eipOwner(api, *alloc.AllocationId); got.ENI != c.owners[2].ENI {
		t.Fatalf("address moved to %s", got.ENI)
	}
}

func TestSecondaryIPAndRouteRacesEndOnOneOwner(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 3)
	api := c.env.Client
	rtb := c.env.Sim.MainRouteTable()
	const ip, dest = "172.31.10.9", "10.99.0.10/32"
	for i := range 15 {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for j, to := range []moves.Owner{c.owners[1], c.owners[2]} {
			wg.Go(func() { errs[j] = moves.MoveSecondaryIP(ctx, api, ip, to) })
			wg.Go(func() { errs[2+j] = moves.MoveRoute(ctx, api, []string{rtb}, dest, to) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		}
		holders := must(api.DescribeNetworkInterfaces(ctx, &awsec2.DescribeNetworkInterfacesInput{
			Filters: []types.Filter{{Name: aws.String("addresses.private-ip-address"), Values: []string{ip}}}})).NetworkInterfaces
		if len(holders) != 1 {
			t.Fatalf("round %d: %s on %d ENIs", i, ip, len(holders))
		}
		routes := must(moves.ObserveRoutes(ctx, api, []string{rtb}, dest))
		if r := routes[rtb].ENI; r != c.owners[1].ENI && r != c.owners[2].ENI {
			t.Fatalf("round %d: route via %q", i, r)
		}
	}
}

func TestCheckSourceDestNamesTheENIAndTheFix(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 1)
	api := c.env.Client
	to := c.owners[0]
	err := moves.CheckSourceDest(ctx, api, to)
	if !errors.Is(err, moves.ErrSourceDestCheck) || !strings.Contains(err.Error(), to.ENI) || !strings.Contains(err.Error(), "--no-source-dest-check") {
		t.Fatalf("new instance (check on by default): %v", err)
	}
	must(api.ModifyInstanceAttribute(ctx, &awsec2.ModifyInstanceAttributeInput{InstanceId: aws.String(to.InstanceID),
		SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(false)}}))
	if err := moves.CheckSourceDest(ctx, api, to); err != nil {
		t.Fatalf("after turning the check off: %v", err)
	}
	if err := moves.CheckSourceDest(ctx, api, moves.Owner{ENI: "eni-0000000000000dead"}); err == nil || errors.Is(err, moves.ErrSourceDestCheck) {
		t.Fatalf("unknown ENI: %v", err)
	}
}

func TestMovesResumeThroughThrottlingAndFailures(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 2)
	api := c.env.Client
	from, to := c.owners[0], c.owners[1]
	rtb := c.env.Sim.MainRouteTable()
	const ip, dest = "172.31.10.7", "10.99.0.20/32"
	alloc := must(api.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}))
	must(api.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, NetworkInterfaceId: aws.String(from.ENI)}))
	must(api.AssignPrivateIpAddresses(ctx, &awsec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(from.ENI), PrivateIpAddresses: []string{ip}}))
	must(api.CreateRoute(ctx, &awsec2.CreateRouteInput{RouteTableId: aws.String(rtb), DestinationCidrBlock: aws.String(dest), NetworkInterfaceId: aws.String(from.ENI)}))

	if err := c.env.Sim.SetFaults(ec2sim.Faults{ThrottleRate: 0.4, InternalErrorRate: 0.2}); err != nil {
		t.Fatal(err)
	}
	noRetry := c.env.NewClient(func(o *awsec2.Options) { o.RetryMaxAttempts = 1 })
	// Each attempt may fail anywhere; repeating the whole move, as the
	// next coordinator would, must reach the same end state.
	move := func() error {
		if err := moves.MoveEIP(ctx, noRetry, *alloc.AllocationId, from, to); err != nil {
			return err
		}
		if err := moves.MoveSecondaryIP(ctx, noRetry, ip, to); err != nil {
			return err
		}
		return moves.MoveRoute(ctx, noRetry, []string{rtb}, dest, to)
	}
	var failures int
	for move() != nil {
		failures++
		if failures > 500 {
			t.Fatal("move never completed")
		}
	}
	if err := c.env.Sim.SetFaults(ec2sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("completed after %d failed attempts", failures)
	if got := eipOwner(api, *alloc.AllocationId); got.ENI != to.ENI {
		t.Fatalf("EIP on %s", got.ENI)
	}
	if got := must(moves.ObserveSecondaryIPs(ctx, api, []string{ip})); got[ip].ENI != to.ENI {
		t.Fatalf("secondary IP on %+v", got[ip])
	}
	if got := must(moves.ObserveRoutes(ctx, api, []string{rtb}, dest)); got[rtb].ENI != to.ENI {
		t.Fatalf("route via %+v", got[rtb])
	}
}

// BenchmarkCompleteMove reports the EC2 calls a move of one EIP, one
// secondary IP and one route costs.
func BenchmarkCompleteMove(b *testing.B) {
	ctx := context.Background()
	c := newCluster(b, 2)
	api := c.env.Client
	rtb := c.env.Sim.MainRouteTable()
	const ip, dest = "172.31.10.8", "10.99.0.30/32"
	alloc := must(api.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}))
	must(api.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, NetworkInterfaceId: aws.String(c.owners[0].ENI)}))
	must(api.AssignPrivateIpAddresses(ctx, &awsec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(c.owners[0].ENI), PrivateIpAddresses: []string{ip}}))
	must(api.CreateRoute(ctx, &awsec2.CreateRouteInput{RouteTableId: aws.String(rtb), DestinationCidrBlock: aws.String(dest), NetworkInterfaceId: aws.String(c.owners[0].ENI)}))
	var calls atomic.Int64
	counted := ec2.Observed(api, func(string, time.Duration, error) { calls.Add(1) })
	b.ResetTimer()
	for i := range b.N {
		from, to := c.owners[i%2], c.owners[(i+1)%2]
		if err := moves.MoveEIP(ctx, counted, *alloc.AllocationId, from, to); err != nil {
			b.Fatal(err)
		}
		if err := moves.MoveSecondaryIP(ctx, counted, ip, to); err != nil {
			b.Fatal(err)
		}
		if err := moves.MoveRoute(ctx, counted, []string{rtb}, dest, to); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(calls.Load())/float64(b.N), "ec2calls/move")
}

// Many overlay IPs are read in one DescribeRouteTables, each to its own
// target; a missing route reads as no ENI.
func TestObserveRoutesToReadsEveryDestinationInOneCall(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 2)
	api := c.env.Client
	rtb := c.env.Sim.MainRouteTable()
	dests := []string{"10.99.1.1/32", "10.99.1.2/32", "10.99.1.3/32"}
	for i, d := range dests[:2] {
		must(api.CreateRoute(ctx, &awsec2.CreateRouteInput{RouteTableId: aws.String(rtb), DestinationCidrBlock: aws.String(d), NetworkInterfaceId: aws.String(c.owners[i].ENI)}))
	}
	var calls atomic.Int64
	counted := ec2.Observed(api, func(string, time.Duration, error) { calls.Add(1) })
	got := must(moves.ObserveRoutesTo(ctx, counted, []string{rtb}, dests))
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d EC2 calls for %d destinations, want 1", n, len(dests))
	}
	for i, want := range []string{c.owners[0].ENI, c.owners[1].ENI, ""} {
		if r := got[dests[i]][rtb]; r.ENI != want {
			t.Errorf("%s in %s via %q, want %q", dests[i], rtb, r.ENI, want)
		}
	}
}
