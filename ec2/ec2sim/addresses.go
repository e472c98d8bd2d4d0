package ec2sim

import "slices"

// Elastic IPs follow "Elastic IP addresses" in the EC2 user guide and the
// AssociateAddress API reference: an address stays associated while its
// instance is stopped, is disassociated (but stays allocated) when the
// instance terminates, and moves only with AllowReassociation.

func (o *op) address(allocID, publicIP string) (*address, error) {
	if allocID != "" {
		if a, ok := o.w.Addresses[allocID]; ok {
			return a, nil
		}
		return nil, notFound("InvalidAllocationID.NotFound", "allocation ID", allocID)
	}
	if publicIP != "" {
		for _, a := range o.w.Addresses {
			if a.PublicIP == publicIP {
				return a, nil
			}
		}
		return nil, clientErr("InvalidAddress.NotFound", "Address '%s' not found.", publicIP)
	}
	return nil, missing("AllocationId")
}

// disassociate drops an address's association and reports the move.
func (o *op) disassociate(a *address) {
	if a.AssociationID == "" {
		return
	}
	a.AssociationID, a.InstanceID, a.ENI, a.PrivateIP = "", "", "", ""
	o.emit(Event{Type: EventAddress, AllocationID: a.AllocationID, PublicIP: a.PublicIP})
}

type allocateAddressResp struct {
	respBase
	PublicIP           string `xml:"publicIp"`
	Domain             string `xml:"domain"`
	AllocationID       string `xml:"allocationId"`
	PublicIpv4Pool     string `xml:"publicIpv4Pool"`
	NetworkBorderGroup string `xml:"networkBorderGroup"`
}

func opAllocateAddress(o *op) (any, error) {
	if d := o.p.str("Domain"); d != "" && d != "vpc" && d != "standard" {
		return nil, invalidValue("Domain", d, "Expected vpc.")
	}
	specs, err := o.p.tagSpecs("TagSpecification")
	if err != nil {
		return nil, err
	}
	a := &address{AllocationID: o.w.newID("eipalloc-"), PublicIP: o.w.nextPublicIP()}
	o.w.Addresses[a.AllocationID] = a
	o.w.setTags(a.AllocationID, specs["elastic-ip"])
	o.dirty = true
	return &allocateAddressResp{PublicIP: a.PublicIP, Domain: "vpc", AllocationID: a.AllocationID,
		PublicIpv4Pool: "amazon", NetworkBorderGroup: o.w.Region}, nil
}

func opReleaseAddress(o *op) (any, error) {
	a, err := o.address(o.p.str("AllocationId"), o.p.str("PublicIp"))
	if err != nil {
		return nil, err
	}
	if a.AssociationID != "" {
		return nil, clientErr("InvalidIPAddress.InUse", "Address %s is in use (association %s); disassociate it first.", a.PublicIP, a.AssociationID)
	}
	delete(o.w.Addresses, a.AllocationID)
	delete(o.w.Tags, a.AllocationID)
	o.dirty = true
	return returnTrue()
}

func (w *world) renderAddress(a *address) xAddress {
	x := xAddress{PublicIP: a.PublicIP, AllocationID: a.AllocationID, Domain: "vpc",
		InstanceID: a.InstanceID, AssociationID: a.AssociationID, NetworkInterfaceID: a.ENI,
		PrivateIPAddress: a.PrivateIP, PublicIpv4Pool: "amazon", NetworkBorderGroup: w.Region,
		TagSet: xTags(w.tagList(a.AllocationID))}
	if a.ENI != "" {
		x.NetworkInterfaceOwnerID = ownerID
	}
	return x
}

var addressFilters = filterFields[*address]{
	"allocation-id":        func(a *address) []string { return one(a.AllocationID) },
	"association-id":       func(a *address) []string { return one(a.AssociationID) },
	"instance-id":          func(a *address) []string { return one(a.InstanceID) },
	"network-interface-id": func(a *address) []string { return one(a.ENI) },
	"private-ip-address":   func(a *address) []string { return one(a.PrivateIP) },
	"public-ip":            func(a *address) []string { return one(a.PublicIP) },
	"domain":               func(*address) []string { return one("vpc") },
}

type describeAddressesResp struct {
	respBase
	AddressesSet items[xAddress] `xml:"addressesSet"`
}

// DescribeAddresses is not paginated in EC2.
func opDescribeAddresses(o *op) (any, error) {
	var all []*address
	ids, ips := o.p.list("AllocationId"), o.p.list("PublicIp")
	for _, id := range ids {
		a, err := o.address(id, "")
		if err != nil {
			return nil, err
		}
		all = append(all, a)
	}
	for _, ip := range ips {
		a, err := o.address("", ip)
		if err != nil {
			return nil, err
		}
		all = append(all, a)
	}
	if len(ids) == 0 && len(ips) == 0 {
		for _, a := range o.w.Addresses {
			all = append(all, a)
		}
		slices.SortFunc(all, func(a, b *address) int { return compareIPs(a.PublicIP, b.PublicIP) })
	}
	all, err := applyFilters(o, addressFilters, all, func(a *address) map[string]string { return o.w.Tags[a.AllocationID] })
	if err != nil {
		return nil, err
	}
	out := &describeAddressesResp{}
	for _, a := range all {
		out.AddressesSet.Items = append(out.AddressesSet.Items, o.w.renderAddress(a))
	}
	return out, nil
}

type associateAddressResp struct {
	respBase
	Return        bool   `xml:"return"`
	AssociationID string `xml:"associationId"`
}

func opAssociateAddress(o *op) (any, error) {
	p := o.p
	a, err := o.address(p.str("AllocationId"), p.str("PublicIp"))
	if err != nil {
		return nil, err
	}
	reassoc, err := p.boolean("AllowReassociation")
	if err != nil {
		return nil, err
	}
	var e *eni
	instID, eniID := p.str("InstanceId"), p.str("NetworkInterfaceId")
	switch {
	case instID == "" && eniID == "":
		return nil, missing("InstanceId")
	case eniID != "":
		if e, err = o.eni(eniID); err != nil {
			return nil, err
		}
		if instID != "" && e.InstanceID != instID {
			return nil, invalidCombination("Network interface %s is not attached to instance %s", eniID, instID)
		}
	default:
		ins, err := o.instances([]string{instID})
		if err != nil {
			return nil, err
		}
		in := ins[0]
		if e = o.w.ENIs[in.ENI]; e == nil || in.State == "shutting-down" {
			return nil, incorrectState(in.ID, in.State, "associated with an address")
		}
	}
	privIP := p.str("PrivateIpAddress")
	if privIP == "" {
		privIP = e.PrivateIPs[0]
	} else if !slices.Contains(e.PrivateIPs, privIP) {
		return nil, invalidValue("PrivateIpAddress", privIP, "The address is not assigned to network interface "+e.ID+".")
	}
	if a.ENI == e.ID && a.PrivateIP == privIP {
		// Already where it was asked to go: nothing moves.
		return &associateAddressResp{Return: true, AssociationID: a.AssociationID}, nil
	}
	if a.AssociationID != "" && !reassoc {
		return nil, clientErr("Resource.AlreadyAssociated",
			"resource %s is already associated with associate-id %s", a.AllocationID, a.AssociationID)
	}
	// An address already on the target private IP is displaced: "the
	// existing address is disassociated from the instance, but remains
	// allocated to your account" (AssociateAddress API reference).
	for _, other := range o.w.Addresses {
		if other != a && other.ENI == e.ID && other.PrivateIP == privIP {
			o.disassociate(other)
		}
	}
	a.AssociationID = o.w.newID("eipassoc-")
	a.ENI, a.PrivateIP, a.InstanceID = e.ID, privIP, e.InstanceID
	o.emit(Event{Type: EventAddress, AllocationID: a.AllocationID, PublicIP: a.PublicIP, AssociationID: a.AssociationID,
		InstanceID: a.InstanceID, NetworkInterfaceID: e.ID, PrivateIP: privIP})
	return &associateAddressResp{Return: true, AssociationID: a.AssociationID}, nil
}

func opDisassociateAddress(o *op) (any, error) {
	assoc, pub := o.p.str("AssociationId"), o.p.str("PublicIp")
	if assoc == "" && pub == "" {
		return nil, missing("AssociationId")
	}
	for _, a := range o.w.Addresses {
		if (assoc != "" && a.AssociationID == assoc) || (assoc == "" && a.PublicIP == pub && a.AssociationID != "") {
			o.disassociate(a)
			return returnTrue()
		}
	}
	if assoc == "" {
		return nil, clientErr("InvalidAddress.NotFound", "Address '%s' is not associated.", pub)
	}
	return nil, notFound("InvalidAssociationID.NotFound", "association ID", assoc)
}
