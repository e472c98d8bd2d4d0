package ec2sim

import (
	"net/netip"
	"slices"
	"strings"
)

func (o *op) routeTable(id string) (*routeTable, error) {
	if !strings.HasPrefix(id, "rtb-") {
		return nil, malformed("InvalidRouteTableID.Malformed", id)
	}
	rt, ok := o.w.RouteTables[id]
	if !ok {
		return nil, notFound("InvalidRouteTableID.NotFound", "routeTable ID", id)
	}
	return rt, nil
}

// routeState is "blackhole" when the target interface is gone or its
// instance is not running, as the RouteTable reference describes for a
// stopped or terminated NAT instance.
func (w *world) routeState(r route) string {
	if r.NetworkInterfaceID == "" {
		return "active"
	}
	e := w.ENIs[r.NetworkInterfaceID]
	if e == nil {
		return "blackhole"
	}
	if e.InstanceID != "" {
		if in := w.Instances[e.InstanceID]; in == nil || in.State != "running" {
			return "blackhole"
		}
	}
	return "active"
}

func (w *world) renderRouteTable(rt *routeTable) xRouteTable {
	x := xRouteTable{RouteTableID: rt.ID, VpcID: rt.VpcID, OwnerID: ownerID, TagSet: xTags(w.tagList(rt.ID))}
	for _, r := range rt.Routes {
		xr := xRoute{DestinationCidrBlock: r.Destination, GatewayID: r.GatewayID, InstanceID: r.InstanceID,
			NetworkInterfaceID: r.NetworkInterfaceID, State: w.routeState(r), Origin: r.Origin}
		if r.InstanceID != "" {
			xr.InstanceOwnerID = ownerID
		}
		x.RouteSet.Items = append(x.RouteSet.Items, xr)
	}
	if rt.Main {
		x.AssociationSet.Items = append(x.AssociationSet.Items, xRTAssoc{RouteTableAssociationID: "rtbassoc-" + rt.ID[4:],
			RouteTableID: rt.ID, Main: true, AssociationState: xAssocStatus{"associated"}})
	}
	for _, sn := range rt.Subnets {
		x.AssociationSet.Items = append(x.AssociationSet.Items, xRTAssoc{RouteTableAssociationID: "rtbassoc-" + sn[7:],
			RouteTableID: rt.ID, SubnetID: sn, AssociationState: xAssocStatus{"associated"}})
	}
	return x
}

func routeValues(rt *routeTable, get func(route) string) []string {
	var out []string
	for _, r := range rt.Routes {
		if v := get(r); v != "" {
			out = append(out, v)
		}
	}
	return out
}

var routeTableFilters = filterFields[*routeTable]{
	"route-table-id":        func(rt *routeTable) []string { return one(rt.ID) },
	"vpc-id":                func(rt *routeTable) []string { return one(rt.VpcID) },
	"association.main":      func(rt *routeTable) []string { return []string{boolString(rt.Main)} },
	"association.subnet-id": func(rt *routeTable) []string { return rt.Subnets },
	"route.destination-cidr-block": func(rt *routeTable) []string {
		return routeValues(rt, func(r route) string { return r.Destination })
	},
	"route.instance-id": func(rt *routeTable) []string {
		return routeValues(rt, func(r route) string { return r.InstanceID })
	},
	"route.network-interface-id": func(rt *routeTable) []string {
		return routeValues(rt, func(r route) string { return r.NetworkInterfaceID })
	},
	"route.gateway-id": func(rt *routeTable) []string {
		return routeValues(rt, func(r route) string { return r.GatewayID })
	},
}

type describeRouteTablesResp struct {
	respBase
	RouteTableSet items[xRouteTable] `xml:"routeTableSet"`
	NextToken     string             `xml:"nextToken,omitempty"`
}

func opDescribeRouteTables(o *op) (any, error) {
	var all []*routeTable
	if ids := o.p.list("RouteTableId"); len(ids) > 0 {
		for _, id := range ids {
			rt, err := o.routeTable(id)
			if err != nil {
				return nil, err
			}
			all = append(all, rt)
		}
	} else {
		for _, rt := range o.w.RouteTables {
			all = append(all, rt)
		}
		slices.SortFunc(all, func(a, b *routeTable) int { return strings.Compare(a.ID, b.ID) })
	}
	all, err := applyFilters(o, routeTableFilters, all, func(rt *routeTable) map[string]string { return o.w.Tags[rt.ID] })
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(o, "DescribeRouteTables", all, 5, 100)
	if err != nil {
		return nil, err
	}
	out := &describeRouteTablesResp{NextToken: next}
	for _, rt := range page {
		out.RouteTableSet.Items = append(out.RouteTableSet.Items, o.w.renderRouteTable(rt))
	}
	return out, nil
}

// routeRequest reads the table, destination and target shared by
// CreateRoute and ReplaceRoute.
func (o *op) routeRequest() (*routeTable, route, error) {
	id, err := o.p.required("RouteTableId")
	if err != nil {
		return nil, route{}, err
	}
	rt, err := o.routeTable(id)
	if err != nil {
		return nil, route{}, err
	}
	dest, err := o.p.required("DestinationCidrBlock")
	if err != nil {
		return nil, route{}, err
	}
	pfx, err := netip.ParsePrefix(dest)
	if err != nil || !pfx.Addr().Is4() || pfx.Masked() != pfx {
		return nil, route{}, invalidValue("DestinationCidrBlock", dest, "Expected an IPv4 CIDR block such as 10.99.0.10/32.")
	}
	r := route{Destination: dest, Origin: "CreateRoute"}
	targets := 0
	if gw := o.p.str("GatewayId"); gw != "" {
		if gw != o.w.Gateway && gw != "local" {
			return nil, route{}, notFound("InvalidGatewayID.NotFound", "gateway ID", gw)
		}
		r.GatewayID = gw
		targets++
	}
	if iid := o.p.str("InstanceId"); iid != "" {
		ins, err := o.instances([]string{iid})
		if err != nil {
			return nil, route{}, err
		}
		if ins[0].ENI == "" {
			return nil, route{}, incorrectState(iid, ins[0].State, "a route target")
		}
		r.InstanceID, r.NetworkInterfaceID = iid, ins[0].ENI
		targets++
	}
	if eid := o.p.str("NetworkInterfaceId"); eid != "" {
		e, err := o.eni(eid)
		if err != nil {
			return nil, route{}, err
		}
		if r.InstanceID != "" && r.NetworkInterfaceID != eid {
			return nil, route{}, invalidCombination("Network interface %s is not attached to instance %s", eid, r.InstanceID)
		}
		r.NetworkInterfaceID, r.InstanceID = e.ID, e.InstanceID
		targets++
	}
	if targets == 0 {
		return nil, route{}, missing("GatewayId, InstanceId or NetworkInterfaceId")
	}
	if r.GatewayID != "" && r.NetworkInterfaceID != "" {
		return nil, route{}, invalidCombination("A route has exactly one target")
	}
	return rt, r, nil
}

func (o *op) emitRoute(rt *routeTable, r route) {
	o.emit(Event{Type: EventRoute, RouteTableID: rt.ID, Destination: r.Destination,
		NetworkInterfaceID: r.NetworkInterfaceID, InstanceID: r.InstanceID, GatewayID: r.GatewayID})
}

func opCreateRoute(o *op) (any, error) {
	rt, r, err := o.routeRequest()
	if err != nil {
		return nil, err
	}
	for _, have := range rt.Routes {
		if have.Destination == r.Destination {
			if have == r {
				// EC2 accepts an identical route again.
				return returnTrue()
			}
			// A different route to the same destination is refused, as
			// the EC2 API reference's error codes page lists for
			// RouteAlreadyExists (moto differs: it accepts the second
			// CreateRoute; see moto_test.go). ec2ha moves a route with
			// ReplaceRoute for that reason.
			return nil, clientErr("RouteAlreadyExists", "The route identified by %s already exists.", r.Destination)
		}
	}
	rt.Routes = append(rt.Routes, r)
	o.emitRoute(rt, r)
	return returnTrue()
}

func opReplaceRoute(o *op) (any, error) {
	rt, r, err := o.routeRequest()
	if err != nil {
		return nil, err
	}
	for i, have := range rt.Routes {
		if have.Destination != r.Destination {
			continue
		}
		if have.GatewayID == "local" {
			return nil, invalidValue("DestinationCidrBlock", r.Destination, "The local route cannot be replaced.")
		}
		rt.Routes[i] = r
		o.emitRoute(rt, r)
		return returnTrue()
	}
	return nil, clientErr("InvalidRoute.NotFound", "There is no route defined for '%s' in the route table %s.", r.Destination, rt.ID)
}
