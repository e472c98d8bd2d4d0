package moves

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/ec2ha/ec2ha/ec2"
)

// Owner is where an address should live: an instance's network interface
// and, for Elastic IPs, the private address on it.
type Owner struct {
	InstanceID string
	ENI        string
	PrivateIP  string // Elastic IPs only; empty means the ENI's primary address
}

// EIP is the observed state of one Elastic IP.
type EIP struct {
	AllocationID  string
	PublicIP      string
	AssociationID string // empty when not associated
	InstanceID    string
	ENI           string
	PrivateIP     string
}

// maxRounds bounds how often a move re-reads after losing a race; each
// lost round means another mover changed the resource, so a few suffice.
const maxRounds = 5

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// ObserveEIPs reads the owners of the given Elastic IPs in one
// DescribeAddresses call, keyed by allocation id.
func ObserveEIPs(ctx context.Context, api ec2.API, allocationIDs []string) (map[string]EIP, error) {
	out, err := api.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{AllocationIds: allocationIDs})
	if err != nil {
		return nil, fmt.Errorf("describing Elastic IPs %v: %w", allocationIDs, err)
	}
	got := make(map[string]EIP, len(out.Addresses))
	for _, a := range out.Addresses {
		got[aws.ToString(a.AllocationId)] = EIP{
			AllocationID:  aws.ToString(a.AllocationId),
			PublicIP:      aws.ToString(a.PublicIp),
			AssociationID: aws.ToString(a.AssociationId),
			InstanceID:    aws.ToString(a.InstanceId),
			ENI:           aws.ToString(a.NetworkInterfaceId),
			PrivateIP:     aws.ToString(a.PrivateIpAddress),
		}
	}
	for _, id := range allocationIDs {
		if _, ok := got[id]; !ok {
			return nil, fmt.Errorf("elastic IP %s not found: check the group's eip allocation id", id)
		}
	}
	return got, nil
}

func (e EIP) on(to Owner) bool {
	if e.AssociationID == "" || e.ENI != to.ENI {
		return false
	}
	return to.PrivateIP == "" || e.PrivateIP == to.PrivateIP
}

// MoveEIP puts the Elastic IP on to. from is the owner it may be taken
// from (the fenced instance); an association with any other owner is left
// alone and reported as an error, because taking an address from a live
// member that ec2ha did not fence would break the service there.
func MoveEIP(ctx context.Context, api ec2.API, allocationID string, from, to Owner) error {
	if to.ENI == "" {
		return fmt.Errorf("moving Elastic IP %s: the new owner's ENI id is empty", allocationID)
	}
	for round := 0; round < maxRounds; round++ {
		obs, err := ObserveEIPs(ctx, api, []string{allocationID})
		if err != nil {
			return err
		}
		cur := obs[allocationID]
		if cur.on(to) {
			return nil
		}
		if cur.AssociationID != "" {
			if cur.InstanceID != from.InstanceID && cur.ENI != from.ENI {
				return fmt.Errorf("elastic IP %s is on %s (%s), neither the fenced owner %s nor the new owner %s: not taking it",
					allocationID, cur.InstanceID, cur.ENI, from.InstanceID, to.InstanceID)
			}
			_, err := api.DisassociateAddress(ctx, &awsec2.DisassociateAddressInput{AssociationId: aws.String(cur.AssociationID)})
			if apiCode(err) == "InvalidAssociationID.NotFound" {
				continue // someone else moved it: re-read
			}
			if err != nil {
				return fmt.Errorf("releasing Elastic IP %s from %s: %w", allocationID, cur.InstanceID, err)
			}
		}
		in := &awsec2.AssociateAddressInput{
			AllocationId:       aws.String(allocationID),
			NetworkInterfaceId: aws.String(to.ENI),
			AllowReassociation: aws.Bool(false),
		}
		if to.PrivateIP != "" {
			in.PrivateIpAddress = aws.String(to.PrivateIP)
		}
		_, err = api.AssociateAddress(ctx, in)
		if apiCode(err) == "Resource.AlreadyAssociated" {
			continue // another mover associated first: re-read
		}
		if err != nil {
			return fmt.Errorf("associating Elastic IP %s with %s: %w", allocationID, to.ENI, err)
		}
		return nil
	}
	return fmt.Errorf("moving Elastic IP %s: still contended after %d rounds", allocationID, maxRounds)
}

// ObserveSecondaryIPs reads which ENI holds each private address in one
// DescribeNetworkInterfaces call; an address no ENI holds is absent.
func ObserveSecondaryIPs(ctx context.Context, api ec2.API, ips []string) (map[string]Owner, error) {
	out, err := api.DescribeNetworkInterfaces(ctx, &awsec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{{Name: aws.String("addresses.private-ip-address"), Values: ips}},
	})
	if err != nil {
		return nil, fmt.Errorf("describing ENIs holding %v: %w", ips, err)
	}
	want := make(map[string]bool, len(ips))
	for _, ip := range ips {
		want[ip] = true
	}
	got := map[string]Owner{}
	for _, n := range out.NetworkInterfaces {
		o := Owner{ENI: aws.ToString(n.NetworkInterfaceId)}
		if n.Attachment != nil {
			o.InstanceID = aws.ToString(n.Attachment.InstanceId)
		}
		for _, p := range n.PrivateIpAddresses {
			if ip := aws.ToString(p.PrivateIpAddress); want[ip] {
				got[ip] = o
			}
		}
	}
	return got, nil
}

// MoveSecondaryIP reassigns ip to to's ENI. EC2 moves the address
// atomically, so concurrent movers end with it on exactly one ENI.
func MoveSecondaryIP(ctx context.Context, api ec2.API, ip string, to Owner) error {
	obs, err := ObserveSecondaryIPs(ctx, api, []string{ip})
	if err != nil {
		return err
	}
	if obs[ip].ENI == to.ENI {
		return nil
	}
	_, err = api.AssignPrivateIpAddresses(ctx, &awsec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(to.ENI),
		PrivateIpAddresses: []string{ip},
		AllowReassignment:  aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("assigning %s to %s: %w", ip, to.ENI, err)
	}
	return nil
}

// Route is the observed target of one overlay route in one table.
type Route struct {
	RouteTableID string
	Destination  string
	ENI          string // empty when the route is missing or not via an ENI
	InstanceID   string
}

// ObserveRoutes reads the target of destination (a /32 CIDR) in each
// route table with one DescribeRouteTables call.
func ObserveRoutes(ctx context.Context, api ec2.API, tables []string, destination string) (map[string]Route, error) {
	all, err := ObserveRoutesTo(ctx, api, tables, []string{destination})
	return all[destination], err
}

// ObserveRoutesTo is ObserveRoutes for several destinations at once, in
// one DescribeRouteTables over the tables of all of them: a cluster with
// many overlay IPs reads its routes in one call, not one per address.
// The result maps each destination to its route in every table.
func ObserveRoutesTo(ctx context.Context, api ec2.API, tables, destinations []string) (map[string]map[string]Route, error) {
	out, err := api.DescribeRouteTables(ctx, &awsec2.DescribeRouteTablesInput{RouteTableIds: tables})
	if err != nil {
		return nil, fmt.Errorf("describing route tables %v: %w", tables, err)
	}
	got := make(map[string]map[string]Route, len(destinations))
	for _, d := range destinations {
		got[d] = make(map[string]Route, len(tables))
	}
	for _, t := range out.RouteTables {
		id := aws.ToString(t.RouteTableId)
		for _, d := range destinations {
			r := Route{RouteTableID: id, Destination: d}
			for _, rt := range t.Routes {
				if aws.ToString(rt.DestinationCidrBlock) == d {
					r.ENI, r.InstanceID = aws.ToString(rt.NetworkInterfaceId), aws.ToString(rt.InstanceId)
				}
			}
			got[d][id] = r
		}
	}
	return got, nil
}

// ErrSourceDestCheck is wrapped by CheckSourceDest's error: the overlay
// route points at an ENI whose source/destination check is on, so EC2
// drops the packets addressed to the overlay IP before they reach it.
var ErrSourceDestCheck = errors.New("source/destination check is on")

// CheckSourceDest reads to's ENI (one DescribeNetworkInterfaces call) and
// returns an error wrapping ErrSourceDestCheck, naming the ENI, the
// instance and the fix, when its source/destination check is on. The
// move itself does not depend on it: the route is right either way, and
// refusing it would not bring the traffic anywhere else, so the caller
// reports this rather than stopping the failover (aws-vpc-move-ip does
// not check it at all).
func CheckSourceDest(ctx context.Context, api ec2.API, to Owner) error {
	out, err := api.DescribeNetworkInterfaces(ctx, &awsec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{to.ENI}})
	if err != nil {
		return fmt.Errorf("reading the source/destination check of %s: %w", to.ENI, err)
	}
	for _, n := range out.NetworkInterfaces {
		if aws.ToString(n.NetworkInterfaceId) != to.ENI {
			continue
		}
		if aws.ToBool(n.SourceDestCheck) {
			return fmt.Errorf("%w on %s of %s: EC2 drops the overlay traffic routed to it; turn it off with "+
				"`aws ec2 modify-instance-attribute --instance-id %s --no-source-dest-check` (or source_dest_check = false in Terraform)",
				ErrSourceDestCheck, to.ENI, to.InstanceID, to.InstanceID)
		}
		return nil
	}
	return fmt.Errorf("reading the source/destination check of %s: EC2 does not know the ENI", to.ENI)
}

// MoveRoute points destination in every table at to's ENI, replacing the
// route or creating it when it is missing. It reads the tables once and
// writes only those that are wrong.
func MoveRoute(ctx context.Context, api ec2.API, tables []string, destination string, to Owner) error {
	obs, err := ObserveRoutes(ctx, api, tables, destination)
	if err != nil {
		return err
	}
	for _, id := range tables {
		r, ok := obs[id]
		if !ok {
			return fmt.Errorf("route table %s not found: check the group's route_tables", id)
		}
		if r.ENI == to.ENI {
			continue
		}
		_, err := api.ReplaceRoute(ctx, &awsec2.ReplaceRouteInput{
			RouteTableId: aws.String(id), DestinationCidrBlock: aws.String(destination), NetworkInterfaceId: aws.String(to.ENI)})
		if apiCode(err) == "InvalidRoute.NotFound" {
			_, err = api.CreateRoute(ctx, &awsec2.CreateRouteInput{
				RouteTableId: aws.String(id), DestinationCidrBlock: aws.String(destination), NetworkInterfaceId: aws.String(to.ENI)})
			if apiCode(err) == "RouteAlreadyExists" {
				// Another mover created it first; replace once more so it points at to.
				_, err = api.ReplaceRoute(ctx, &awsec2.ReplaceRouteInput{
					RouteTableId: aws.String(id), DestinationCidrBlock: aws.String(destination), NetworkInterfaceId: aws.String(to.ENI)})
			}
		}
		if err != nil {
			return fmt.Errorf("pointing %s in %s at %s: %w", destination, id, to.ENI, err)
		}
	}
	return nil
}
