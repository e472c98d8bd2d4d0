package ec2sim

import (
	"net/netip"
	"slices"
	"strings"
)

func (o *op) eni(id string) (*eni, error) {
	if !strings.HasPrefix(id, "eni-") {
		return nil, malformed("InvalidNetworkInterfaceID.Malformed", id)
	}
	e, ok := o.w.ENIs[id]
	if !ok {
		return nil, notFound("InvalidNetworkInterfaceID.NotFound", "network interface ID", id)
	}
	return e, nil
}

func (w *world) addressOn(e *eni, ip string) *xAssociation {
	for _, a := range w.Addresses {
		if a.ENI == e.ID && a.PrivateIP == ip {
			return &xAssociation{PublicIP: a.PublicIP, IPOwnerID: "amazon", AllocationID: a.AllocationID, AssociationID: a.AssociationID}
		}
	}
	return nil
}

func (w *world) renderENI(e *eni) xENI {
	x := xENI{
		NetworkInterfaceID: e.ID, SubnetID: e.SubnetID, VpcID: e.VpcID, AvailabilityZone: e.AZ,
		Description: e.Description, OwnerID: ownerID, Status: "available", MacAddress: e.MAC,
		PrivateIPAddress: e.PrivateIPs[0], PrivateDNSName: privateDNS(e.PrivateIPs[0]),
		SourceDestCheck: e.SourceDestCheck, TagSet: xTags(w.tagList(e.ID)), InterfaceType: "interface",
	}
	if e.InstanceID != "" {
		x.Status = "in-use"
		x.Attachment = &xAttachment{AttachmentID: e.AttachmentID, InstanceID: e.InstanceID, InstanceOwnerID: ownerID,
			DeviceIndex: e.DeviceIndex, Status: "attached", AttachTime: awsTime(e.AttachTime), DeleteOnTermination: e.DeleteOnTermination}
	}
	x.Association = w.addressOn(e, e.PrivateIPs[0])
	for i, ip := range e.PrivateIPs {
		x.PrivateIPAddressesSet.Items = append(x.PrivateIPAddressesSet.Items,
			xPrivateIP{PrivateIPAddress: ip, PrivateDNSName: privateDNS(ip), Primary: i == 0, Association: w.addressOn(e, ip)})
	}
	return x
}

var eniFilters = filterFields[*eni]{
	"network-interface-id":   func(e *eni) []string { return one(e.ID) },
	"attachment.instance-id": func(e *eni) []string { return one(e.InstanceID) },
	"attachment.status": func(e *eni) []string {
		if e.InstanceID == "" {
			return nil
		}
		return one("attached")
	},
	"subnet-id":                    func(e *eni) []string { return one(e.SubnetID) },
	"vpc-id":                       func(e *eni) []string { return one(e.VpcID) },
	"availability-zone":            func(e *eni) []string { return one(e.AZ) },
	"description":                  func(e *eni) []string { return []string{e.Description} },
	"mac-address":                  func(e *eni) []string { return one(e.MAC) },
	"private-ip-address":           func(e *eni) []string { return e.PrivateIPs },
	"addresses.private-ip-address": func(e *eni) []string { return e.PrivateIPs },
	"source-dest-check":            func(e *eni) []string { return []string{boolString(e.SourceDestCheck)} },
	"status": func(e *eni) []string {
		if e.InstanceID == "" {
			return one("available")
		}
		return one("in-use")
	},
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

type describeENIsResp struct {
	respBase
	NetworkInterfaceSet items[xENI] `xml:"networkInterfaceSet"`
	NextToken           string      `xml:"nextToken,omitempty"`
}

func opDescribeNetworkInterfaces(o *op) (any, error) {
	var all []*eni
	if ids := o.p.list("NetworkInterfaceId"); len(ids) > 0 {
		for _, id := range ids {
			e, err := o.eni(id)
			if err != nil {
				return nil, err
			}
			all = append(all, e)
		}
	} else {
		for _, e := range o.w.ENIs {
			all = append(all, e)
		}
		slices.SortFunc(all, func(a, b *eni) int { return strings.Compare(a.ID, b.ID) })
	}
	all, err := applyFilters(o, eniFilters, all, func(e *eni) map[string]string { return o.w.Tags[e.ID] })
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(o, "DescribeNetworkInterfaces", all, 5, 1000)
	if err != nil {
		return nil, err
	}
	out := &describeENIsResp{NextToken: next}
	for _, e := range page {
		out.NetworkInterfaceSet.Items = append(out.NetworkInterfaceSet.Items, o.w.renderENI(e))
	}
	return out, nil
}

type assignIPsResp struct {
	respBase
	NetworkInterfaceID            string             `xml:"networkInterfaceId"`
	AssignedPrivateIPAddressesSet items[xAssignedIP] `xml:"assignedPrivateIpAddressesSet"`
	AssignedIpv4PrefixSet         items[struct{}]    `xml:"assignedIpv4PrefixSet"`
}

type xAssignedIP struct {
	PrivateIPAddress string `xml:"privateIpAddress"`
}

// opAssignPrivateIpAddresses follows the AssignPrivateIpAddresses API
// reference: with AllowReassignment an address assigned to another
// interface in the subnet moves, so it is on exactly one interface
// afterwards (moto differs: it leaves the address on both).
func opAssignPrivateIpAddresses(o *op) (any, error) {
	id, err := o.p.required("NetworkInterfaceId")
	if err != nil {
		return nil, err
	}
	e, err := o.eni(id)
	if err != nil {
		return nil, err
	}
	reassign, err := o.p.boolean("AllowReassignment")
	if err != nil {
		return nil, err
	}
	count, err := o.p.integer("SecondaryPrivateIpAddressCount", 0)
	if err != nil {
		return nil, err
	}
	ips := o.p.list("PrivateIpAddress")
	switch {
	case len(ips) == 0 && count == 0:
		return nil, missing("PrivateIpAddress or SecondaryPrivateIpAddressCount")
	case len(ips) > 0 && count > 0:
		return nil, invalidCombination("Specify PrivateIpAddress or SecondaryPrivateIpAddressCount, not both")
	case count < 0:
		return nil, invalidValue("SecondaryPrivateIpAddressCount", o.p.str("SecondaryPrivateIpAddressCount"), "Expected a positive count.")
	}
	sn := o.w.Subnets[e.SubnetID]
	// Validate every address before moving any.
	for _, ip := range ips {
		if err := checkIPInSubnet("PrivateIpAddress", ip, sn); err != nil {
			return nil, err
		}
		owner := o.w.ipOwner(ip)
		switch {
		case owner == nil || owner == e:
		case owner.PrivateIPs[0] == ip:
			return nil, clientErr("InvalidIPAddress.InUse", "Address %s is the primary address of %s and cannot be reassigned.", ip, owner.ID)
		case !reassign:
			return nil, clientErr("InvalidIPAddress.InUse", "Address %s is assigned to %s; pass AllowReassignment to move it.", ip, owner.ID)
		}
	}
	if count > 0 && o.w.freeCount(sn) < count {
		return nil, clientErr("InsufficientFreeAddressesInSubnet", "The subnet '%s' has fewer than %d free addresses", sn.ID, count)
	}
	out := &assignIPsResp{NetworkInterfaceID: e.ID}
	add := func(ip string) {
		owner := o.w.ipOwner(ip)
		if owner == e {
			return
		}
		from := ""
		if owner != nil {
			from = owner.ID
			o.removeIP(owner, ip)
		}
		e.PrivateIPs = append(e.PrivateIPs, ip)
		out.AssignedPrivateIPAddressesSet.Items = append(out.AssignedPrivateIPAddressesSet.Items, xAssignedIP{ip})
		o.emit(Event{Type: EventPrivateIP, PrivateIP: ip, NetworkInterfaceID: e.ID, InstanceID: e.InstanceID, FromNetworkInterfaceID: from})
	}
	for _, ip := range ips {
		add(ip)
	}
	for range count {
		ip, err := o.w.freeIP(sn)
		if err != nil {
			return nil, err
		}
		add(ip)
	}
	return out, nil
}

// removeIP takes a secondary address off an interface. An Elastic IP on it
// is disassociated, as AWS does when the private address goes.
func (o *op) removeIP(e *eni, ip string) {
	e.PrivateIPs = slices.DeleteFunc(e.PrivateIPs, func(a string) bool { return a == ip })
	for _, a := range o.w.Addresses {
		if a.ENI == e.ID && a.PrivateIP == ip {
			o.disassociate(a)
		}
	}
}

func opUnassignPrivateIpAddresses(o *op) (any, error) {
	id, err := o.p.required("NetworkInterfaceId")
	if err != nil {
		return nil, err
	}
	e, err := o.eni(id)
	if err != nil {
		return nil, err
	}
	ips := o.p.list("PrivateIpAddress")
	if len(ips) == 0 {
		return nil, missing("PrivateIpAddress")
	}
	for _, ip := range ips {
		i := slices.Index(e.PrivateIPs, ip)
		switch {
		case i < 0:
			return nil, invalidValue("PrivateIpAddress", ip, "Some of the specified addresses are not assigned to interface "+e.ID+".")
		case i == 0:
			return nil, invalidValue("PrivateIpAddress", ip, "The primary address of an interface cannot be unassigned.")
		}
	}
	for _, ip := range ips {
		o.removeIP(e, ip)
		o.emit(Event{Type: EventPrivateIP, PrivateIP: ip, FromNetworkInterfaceID: e.ID})
	}
	return returnTrue()
}

func compareIPs(a, b string) int {
	x, errX := netip.ParseAddr(a)
	y, errY := netip.ParseAddr(b)
	if errX != nil || errY != nil {
		return strings.Compare(a, b)
	}
	return x.Compare(y)
}
