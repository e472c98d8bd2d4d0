package ec2sim

import (
	"net/netip"
	"slices"
	"strings"
)

var subnetFilters = filterFields[*subnet]{
	"subnet-id":         func(s *subnet) []string { return one(s.ID) },
	"vpc-id":            func(s *subnet) []string { return one(s.VpcID) },
	"availability-zone": func(s *subnet) []string { return one(s.AZ) },
	"cidr-block":        func(s *subnet) []string { return one(s.CIDR) },
	"default-for-az":    func(s *subnet) []string { return []string{boolString(s.Default)} },
	"state":             func(*subnet) []string { return one("available") },
}

type describeSubnetsResp struct {
	respBase
	SubnetSet items[xSubnet] `xml:"subnetSet"`
	NextToken string         `xml:"nextToken,omitempty"`
}

func (w *world) freeCount(s *subnet) int {
	pfx := netip.MustParsePrefix(s.CIDR)
	n := 1<<(32-pfx.Bits()) - 5
	for _, e := range w.ENIs {
		if e.SubnetID == s.ID {
			n -= len(e.PrivateIPs)
		}
	}
	return n
}

func opDescribeSubnets(o *op) (any, error) {
	var all []*subnet
	if ids := o.p.list("SubnetId"); len(ids) > 0 {
		for _, id := range ids {
			s, ok := o.w.Subnets[id]
			if !ok {
				return nil, notFound("InvalidSubnetID.NotFound", "subnet ID", id)
			}
			all = append(all, s)
		}
	} else {
		all = o.w.sortedSubnets()
	}
	all, err := applyFilters(o, subnetFilters, all, func(s *subnet) map[string]string { return o.w.Tags[s.ID] })
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(o, "DescribeSubnets", all, 5, 1000)
	if err != nil {
		return nil, err
	}
	out := &describeSubnetsResp{NextToken: next}
	for _, s := range page {
		out.SubnetSet.Items = append(out.SubnetSet.Items, xSubnet{
			SubnetID: s.ID, SubnetArn: "arn:aws:ec2:" + o.w.Region + ":" + ownerID + ":subnet/" + s.ID,
			State: "available", OwnerID: ownerID, VpcID: s.VpcID, CidrBlock: s.CIDR,
			AvailableIPAddressCount: o.w.freeCount(s), AvailabilityZone: s.AZ,
			AvailabilityZoneID: "use1-az" + string(s.AZ[len(s.AZ)-1]-'a'+'1'),
			DefaultForAz:       s.Default, MapPublicIPOnLaunch: s.Default, TagSet: xTags(o.w.tagList(s.ID)),
		})
	}
	return out, nil
}

var vpcFilters = filterFields[*vpc]{
	"vpc-id":                            func(v *vpc) []string { return one(v.ID) },
	"is-default":                        func(v *vpc) []string { return []string{boolString(v.Default)} },
	"cidr":                              func(v *vpc) []string { return one(v.CIDR) },
	"cidr-block-association.cidr-block": func(v *vpc) []string { return one(v.CIDR) },
	"state":                             func(*vpc) []string { return one("available") },
}

type describeVpcsResp struct {
	respBase
	VpcSet    items[xVpc] `xml:"vpcSet"`
	NextToken string      `xml:"nextToken,omitempty"`
}

func opDescribeVpcs(o *op) (any, error) {
	var all []*vpc
	if ids := o.p.list("VpcId"); len(ids) > 0 {
		for _, id := range ids {
			v, ok := o.w.VPCs[id]
			if !ok {
				return nil, notFound("InvalidVpcID.NotFound", "vpc ID", id)
			}
			all = append(all, v)
		}
	} else {
		for _, v := range o.w.VPCs {
			all = append(all, v)
		}
		slices.SortFunc(all, func(a, b *vpc) int { return strings.Compare(a.ID, b.ID) })
	}
	all, err := applyFilters(o, vpcFilters, all, func(v *vpc) map[string]string { return o.w.Tags[v.ID] })
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(o, "DescribeVpcs", all, 5, 1000)
	if err != nil {
		return nil, err
	}
	out := &describeVpcsResp{NextToken: next}
	for _, v := range page {
		out.VpcSet.Items = append(out.VpcSet.Items, xVpc{VpcID: v.ID, OwnerID: ownerID, State: "available",
			CidrBlock: v.CIDR, DhcpOptionsID: "default", InstanceTenancy: "default", IsDefault: v.Default,
			TagSet: xTags(o.w.tagList(v.ID))})
	}
	return out, nil
}
