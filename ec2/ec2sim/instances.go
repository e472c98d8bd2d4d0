package ec2sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

var instanceIDPattern = regexp.MustCompile(`^i-[0-9a-f]{8}([0-9a-f]{9})?$`)

// instances resolves InstanceId.N, failing as EC2 does: Malformed for an
// id that cannot be one, NotFound naming every missing id.
func (o *op) instances(ids []string) ([]*instance, error) {
	var out []*instance
	var gone []string
	for _, id := range ids {
		if !instanceIDPattern.MatchString(id) {
			return nil, malformed("InvalidInstanceID.Malformed", id)
		}
		in, ok := o.w.Instances[id]
		if !ok {
			gone = append(gone, id)
			continue
		}
		out = append(out, in)
	}
	switch len(gone) {
	case 0:
		return out, nil
	case 1:
		return nil, clientErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", gone[0])
	default:
		return nil, clientErr("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(gone, ", "))
	}
}

func (o *op) requiredInstances() ([]*instance, error) {
	ids := o.p.list("InstanceId")
	if len(ids) == 0 {
		return nil, missing("InstanceId")
	}
	return o.instances(ids)
}

// publicIP is the Elastic IP on an instance's primary address, if any.
func (w *world) publicIP(in *instance) *address {
	for _, a := range w.Addresses {
		if a.ENI != "" && a.ENI == in.ENI && a.PrivateIP == in.PrivateIP {
			return a
		}
	}
	return nil
}

func privateDNS(ip string) string {
	if ip == "" {
		return ""
	}
	return "ip-" + strings.ReplaceAll(ip, ".", "-") + ".ec2.internal"
}

func (w *world) renderInstance(in *instance, stateOverride string) xInstance {
	state := in.State
	if stateOverride != "" {
		state = stateOverride
	}
	x := xInstance{
		InstanceID:         in.ID,
		ImageID:            in.ImageID,
		InstanceState:      stateOf(state),
		Reason:             in.TransitionReason,
		AmiLaunchIndex:     in.LaunchIndex,
		InstanceType:       in.Type,
		LaunchTime:         awsTime(in.LaunchTime),
		Placement:          xPlacement{AvailabilityZone: in.AZ, Tenancy: "default"},
		Monitoring:         xMonitoring{State: "disabled"},
		Architecture:       "x86_64",
		RootDeviceType:     "ebs",
		RootDeviceName:     "/dev/xvda",
		VirtualizationType: "hvm",
		ClientToken:        in.ClientToken,
		Hypervisor:         "xen",
		EnaSupport:         true,
		MetadataOptions:    xInstanceMetadataOpts{State: "applied", HTTPTokens: "required", HTTPEndpoint: "enabled"},
	}
	if tags := w.tagList(in.ID); len(tags) > 0 {
		t := xTags(tags)
		x.TagSet = &t
	}
	if in.StateReason != "" {
		code, msg, _ := strings.Cut(in.StateReason, ": ")
		x.StateReason = &xStateReason{code, msg}
	}
	e := w.ENIs[in.ENI]
	if e == nil {
		// Terminated: no network interface, so no addresses either.
		return x
	}
	x.SubnetID, x.VpcID = in.SubnetID, in.VpcID
	x.PrivateIPAddress, x.PrivateDNSName = in.PrivateIP, privateDNS(in.PrivateIP)
	sdc := e.SourceDestCheck
	x.SourceDestCheck = &sdc
	if a := w.publicIP(in); a != nil {
		x.IPAddress = a.PublicIP
	}
	ni := w.renderENI(e)
	x.NetworkInterfaceSet = itemsOf([]xInstanceENI{{
		NetworkInterfaceID: ni.NetworkInterfaceID, SubnetID: ni.SubnetID, VpcID: ni.VpcID, Description: ni.Description,
		OwnerID: ni.OwnerID, Status: ni.Status, MacAddress: ni.MacAddress, PrivateIPAddress: ni.PrivateIPAddress,
		PrivateDNSName: ni.PrivateDNSName, SourceDestCheck: ni.SourceDestCheck, Attachment: ni.Attachment,
		Association: ni.Association, PrivateIPAddressesSet: ni.PrivateIPAddressesSet, InterfaceType: ni.InterfaceType,
	}})
	return x
}

// reservations groups instances by reservation, keeping their order.
func (w *world) reservations(ins []*instance) []xReservation {
	var out []xReservation
	index := map[string]int{}
	for _, in := range ins {
		i, ok := index[in.Reservation]
		if !ok {
			i = len(out)
			index[in.Reservation] = i
			out = append(out, xReservation{ReservationID: in.Reservation, OwnerID: ownerID})
		}
		out[i].InstancesSet.Items = append(out[i].InstancesSet.Items, w.renderInstance(in, ""))
	}
	return out
}

var instanceFilters = filterFields[*instance]{
	"instance-id":         func(in *instance) []string { return one(in.ID) },
	"instance-state-name": func(in *instance) []string { return one(in.State) },
	"instance-state-code": func(in *instance) []string { return []string{fmt.Sprint(stateCodes[in.State])} },
	"instance-type":       func(in *instance) []string { return one(in.Type) },
	"image-id":            func(in *instance) []string { return one(in.ImageID) },
	"reservation-id":      func(in *instance) []string { return one(in.Reservation) },
	"client-token":        func(in *instance) []string { return one(in.ClientToken) },
	"availability-zone":   func(in *instance) []string { return one(in.AZ) },
	"subnet-id": func(in *instance) []string {
		if in.ENI == "" {
			return nil
		}
		return one(in.SubnetID)
	},
	"vpc-id": func(in *instance) []string {
		if in.ENI == "" {
			return nil
		}
		return one(in.VpcID)
	},
	"private-ip-address":                     func(in *instance) []string { return one(primaryIPIfAttached(in)) },
	"network-interface.network-interface-id": func(in *instance) []string { return one(in.ENI) },
}

func primaryIPIfAttached(in *instance) string {
	if in.ENI == "" {
		return ""
	}
	return in.PrivateIP
}

// allInstances returns every instance, unordered.
func (w *world) allInstances() []*instance {
	out := make([]*instance, 0, len(w.Instances))
	for _, in := range w.Instances {
		out = append(out, in)
	}
	return out
}

// sortInstances puts instances in the order Describe* calls list them: by
// launch, so pages are stable while instances come and go. Callers filter
// first, so only the matches are sorted.
func sortInstances(ins []*instance) []*instance {
	sort.Slice(ins, func(i, j int) bool {
		a, b := ins[i], ins[j]
		if !a.LaunchTime.Equal(b.LaunchTime) {
			return a.LaunchTime.Before(b.LaunchTime)
		}
		if a.Reservation != b.Reservation {
			return a.Reservation < b.Reservation
		}
		return a.LaunchIndex < b.LaunchIndex
	})
	return ins
}

type describeInstancesResp struct {
	respBase
	ReservationSet items[xReservation] `xml:"reservationSet"`
	NextToken      string              `xml:"nextToken,omitempty"`
}

func opDescribeInstances(o *op) (any, error) {
	ids := o.p.list("InstanceId")
	if _, ok := o.p["MaxResults"]; ok && len(ids) > 0 {
		return nil, invalidCombination("The parameter instancesSet cannot be used with the parameter maxResults")
	}
	var all []*instance
	if len(ids) > 0 {
		var err error
		if all, err = o.instances(ids); err != nil {
			return nil, err
		}
	} else {
		all = o.w.allInstances()
	}
	all, err := applyFilters(o, instanceFilters, all, func(in *instance) map[string]string { return o.w.Tags[in.ID] })
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		sortInstances(all)
	}
	page, next, err := paginate(o, "DescribeInstances", all, 5, 1000)
	if err != nil {
		return nil, err
	}
	return &describeInstancesResp{ReservationSet: itemsOf(o.w.reservations(page)), NextToken: next}, nil
}

type runInstancesResp struct {
	respBase
	xReservation
}

// requestHash identifies a RunInstances request for ClientToken
// idempotency: every parameter but the token itself.
func requestHash(p params) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if k != "ClientToken" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, p[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func opRunInstances(o *op) (any, error) {
	p := o.p
	token := p.str("ClientToken")
	hash := requestHash(p)
	if ct, ok := o.w.ClientTokens[token]; ok && token != "" {
		// "Ensuring idempotency" in the EC2 API reference: the same token
		// with the same request returns the original result.
		if ct.Hash != hash {
			return nil, clientErr("IdempotentParameterMismatch",
				"Client token %s was already used for a different request", token)
		}
		ins, err := o.instances(ct.Instances)
		if err != nil {
			return nil, err
		}
		res := o.w.reservations(ins)[0]
		return &runInstancesResp{xReservation: res}, nil
	}

	var data ltData
	var lt *launchTemplate
	var ver *ltVersion
	if ltp := p.sub("LaunchTemplate"); len(ltp) > 0 {
		var err error
		lt, ver, err = o.resolveTemplate(ltp["LaunchTemplateId"], ltp["LaunchTemplateName"], ltp["Version"])
		if err != nil {
			return nil, err
		}
		data = ver.Data
	}
	image := firstOf(p["ImageId"], data.ImageID)
	if image == "" {
		return nil, missing("ImageId")
	}
	if !strings.HasPrefix(image, "ami-") || len(image) < 8 {
		return nil, malformed("InvalidAMIID.Malformed", image)
	}
	minCount, err := p.integer("MinCount", 0)
	if err != nil {
		return nil, err
	}
	maxCount, err := p.integer("MaxCount", 0)
	if err != nil {
		return nil, err
	}
	switch {
	case minCount < 1:
		return nil, invalidValue("MinCount", fmt.Sprint(minCount), "MinCount must be at least 1.")
	case maxCount < minCount:
		return nil, invalidValue("MaxCount", fmt.Sprint(maxCount), "MaxCount must be at least MinCount.")
	}
	itype := firstOf(p["InstanceType"], data.InstanceType, "m1.small") // m1.small is EC2's documented default
	sn, err := o.launchSubnet(firstOf(p["SubnetId"], p["NetworkInterface.1.SubnetId"], data.SubnetID),
		firstOf(p["Placement.AvailabilityZone"], data.AZ))
	if err != nil {
		return nil, err
	}
	privIP := firstOf(p["PrivateIpAddress"], p["NetworkInterface.1.PrivateIpAddress"])
	if privIP != "" {
		if maxCount > 1 {
			return nil, invalidCombination("PrivateIpAddress can only be used to launch a single instance (MaxCount 1)")
		}
		if err := checkIPInSubnet("PrivateIpAddress", privIP, sn); err != nil {
			return nil, err
		}
		if o.w.ipOwner(privIP) != nil {
			return nil, clientErr("InvalidIPAddress.InUse", "Address %s is in use.", privIP)
		}
	}
	reqSpecs, err := p.tagSpecs("TagSpecification")
	if err != nil {
		return nil, err
	}
	specs := map[string][]Tag{}
	for rt, tags := range data.TagSpecs {
		specs[rt] = append(specs[rt], tags...)
	}
	for rt, tags := range reqSpecs {
		switch rt {
		case "instance", "network-interface", "volume":
		default:
			return nil, invalidValue("TagSpecification.N.ResourceType", rt,
				"RunInstances tags instance, network-interface and volume resources.")
		}
		specs[rt] = append(specs[rt], tags...) // later wins: the request overrides the template
	}

	// Launch as many as MaxCount that the subnet has addresses for, but
	// at least MinCount, or nothing.
	if free := o.w.freeCount(sn); free < minCount {
		return nil, clientErr("InsufficientFreeAddressesInSubnet",
			"The subnet '%s' has %d free addresses; MinCount is %d", sn.ID, free, minCount)
	} else if privIP == "" {
		maxCount = min(maxCount, free)
	}
	res := xReservation{ReservationID: o.w.newID("r-"), OwnerID: ownerID}
	var created []*instance
	for i := range maxCount {
		ip := privIP
		if ip == "" {
			if ip, err = o.w.freeIP(sn); err != nil {
				return nil, err // cannot happen: free addresses were counted above
			}
		}
		in := &instance{
			ID: o.w.newID("i-"), ImageID: image, Type: itype, SubnetID: sn.ID, VpcID: sn.VpcID, AZ: sn.AZ,
			PrivateIP: ip, Reservation: res.ReservationID, ClientToken: token, LaunchTime: o.now, LaunchIndex: i,
		}
		if lt != nil {
			in.LaunchTemplateID, in.LaunchTemplateVersion = lt.ID, fmt.Sprint(ver.Number)
			o.w.setTags(in.ID, []Tag{{"aws:ec2launchtemplate:id", lt.ID}, {"aws:ec2launchtemplate:version", fmt.Sprint(ver.Number)}})
		}
		e := &eni{ID: o.w.newID("eni-"), SubnetID: sn.ID, VpcID: sn.VpcID, AZ: sn.AZ, MAC: o.w.newMAC(),
			PrivateIPs: []string{ip}, InstanceID: in.ID, AttachmentID: o.w.newID("eni-attach-"),
			SourceDestCheck: true, DeleteOnTermination: true, AttachTime: o.now}
		in.ENI = e.ID
		o.w.ENIs[e.ID] = e
		o.w.Instances[in.ID] = in
		o.w.setTags(in.ID, specs["instance"])
		o.w.setTags(e.ID, specs["network-interface"])
		created = append(created, in)
		ev := Event{Type: EventLaunch, InstanceID: in.ID, State: "pending", AvailabilityZone: in.AZ,
			NetworkInterfaceID: e.ID, PrivateIP: ip}
		ev.IMDSEndpoint = o.s.imds.open(in.ID)
		in.State = "pending"
		o.emit(ev)
	}
	ids := make([]string, len(created))
	for i, in := range created {
		ids[i] = in.ID
		res.InstancesSet.Items = append(res.InstancesSet.Items, o.w.renderInstance(in, "pending"))
		o.await(in, o.s.opts.Durations.Pending)
	}
	if token != "" {
		o.w.ClientTokens[token] = clientToken{Hash: hash, Instances: ids}
	}
	return &runInstancesResp{xReservation: res}, nil
}

// launchSubnet picks the subnet a launch goes to: the one named, or the
// default subnet of the AZ named, or the default subnet of the first AZ.
func (o *op) launchSubnet(id, az string) (*subnet, error) {
	if id != "" {
		sn, ok := o.w.Subnets[id]
		if !ok {
			return nil, notFound("InvalidSubnetID.NotFound", "subnet ID", id)
		}
		if az != "" && az != sn.AZ {
			return nil, invalidCombination("Subnet %s is in %s, not the requested availability zone %s", id, sn.AZ, az)
		}
		return sn, nil
	}
	for _, sn := range o.w.sortedSubnets() {
		if sn.Default && (az == "" || sn.AZ == az) {
			return sn, nil
		}
	}
	return nil, invalidValue("Placement.AvailabilityZone", az, "There is no default subnet in that availability zone.")
}

type xStateChange struct {
	InstanceID    string `xml:"instanceId"`
	CurrentState  xState `xml:"currentState"`
	PreviousState xState `xml:"previousState"`
}

type stateChangeResp struct {
	respBase
	InstancesSet items[xStateChange] `xml:"instancesSet"`
}

// changeStates is Stop, Start and Terminate: check every instance may make
// the change, then make it. allowed maps a state to what happens: "" =
// IncorrectInstanceState, "same" = already there, else the transitional
// state to enter.
func (o *op) changeStates(verb string, allowed map[string]string, d time.Duration) (any, error) {
	ins, err := o.requiredInstances()
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		if allowed[in.State] == "" {
			return nil, incorrectState(in.ID, in.State, verb)
		}
	}
	out := &stateChangeResp{}
	for _, in := range ins {
		prev := in.State
		next := allowed[prev]
		cur := prev
		if next != "same" {
			cur = next
			if next == "pending" {
				in.StateReason, in.TransitionReason = "", ""
			} else {
				in.TransitionReason = "User initiated (" + o.now.UTC().Format("2006-01-02 15:04:05 MST") + ")"
			}
			o.transition(in, next, d)
		}
		out.InstancesSet.Items = append(out.InstancesSet.Items,
			xStateChange{InstanceID: in.ID, CurrentState: stateOf(cur), PreviousState: stateOf(prev)})
	}
	return out, nil
}

// Which states each call accepts is from the StopInstances,
// StartInstances and TerminateInstances pages of the EC2 API reference.
// A pending instance cannot be stopped; a stopping one cannot be started;
// repeating a call on an instance already on its way is accepted.
func opStopInstances(o *op) (any, error) {
	if _, err := o.p.boolean("Force"); err != nil {
		return nil, err
	}
	// Force skips the guest's orderly shutdown; the instance still passes
	// through stopping (moto differs: DescribeInstances right after already
	// says stopped; see moto_test.go).
	return o.changeStates("stopped", map[string]string{"running": "stopping", "stopping": "same", "stopped": "same"},
		o.s.opts.Durations.Stopping)
}

func opStartInstances(o *op) (any, error) {
	return o.changeStates("started", map[string]string{"stopped": "pending", "pending": "same", "running": "same"},
		o.s.opts.Durations.Pending)
}

func opTerminateInstances(o *op) (any, error) {
	return o.changeStates("terminated", map[string]string{"pending": "shutting-down", "running": "shutting-down",
		"stopping": "shutting-down", "stopped": "shutting-down", "shutting-down": "same", "terminated": "same"},
		o.s.opts.Durations.ShuttingDown)
}

type instanceStatusResp struct {
	respBase
	InstanceStatusSet items[xInstanceStatus] `xml:"instanceStatusSet"`
	NextToken         string                 `xml:"nextToken,omitempty"`
}

func statusSummary(in *instance) xStatusSummary {
	switch {
	case in.State != "running":
		return xStatusSummary{Status: "not-applicable"}
	case in.MachineGone:
		return xStatusSummary{Status: "impaired", Details: itemsOf([]xStatusDetail{{"reachability", "failed"}})}
	default:
		return xStatusSummary{Status: "ok", Details: itemsOf([]xStatusDetail{{"reachability", "passed"}})}
	}
}

var statusFilters = filterFields[*instance]{
	"instance-id":            instanceFilters["instance-id"],
	"instance-state-name":    instanceFilters["instance-state-name"],
	"instance-state-code":    instanceFilters["instance-state-code"],
	"availability-zone":      instanceFilters["availability-zone"],
	"instance-status.status": func(in *instance) []string { return one(statusSummary(in).Status) },
	"system-status.status":   func(in *instance) []string { return one(statusSummary(in).Status) },
}

func opDescribeInstanceStatus(o *op) (any, error) {
	all := sortInstances(o.w.allInstances())
	if ids := o.p.list("InstanceId"); len(ids) > 0 {
		var err error
		if all, err = o.instances(ids); err != nil {
			return nil, err
		}
	}
	includeAll, err := o.p.boolean("IncludeAllInstances")
	if err != nil {
		return nil, err
	}
	if !includeAll {
		// By default only running instances are described.
		running := all[:0:0]
		for _, in := range all {
			if in.State == "running" {
				running = append(running, in)
			}
		}
		all = running
	}
	all, err = applyFilters(o, statusFilters, all, func(in *instance) map[string]string { return o.w.Tags[in.ID] })
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(o, "DescribeInstanceStatus", all, 5, 1000)
	if err != nil {
		return nil, err
	}
	out := &instanceStatusResp{NextToken: next}
	for _, in := range page {
		out.InstanceStatusSet.Items = append(out.InstanceStatusSet.Items, xInstanceStatus{
			InstanceID: in.ID, AvailabilityZone: in.AZ, InstanceState: stateOf(in.State),
			SystemStatus: statusSummary(in), InstanceStatus: statusSummary(in),
		})
	}
	return out, nil
}

// opModifyInstanceAttribute supports the attributes ec2ha changes:
// sourceDestCheck (on the primary interface, as AWS applies it) and
// instanceType (only while stopped).
func opModifyInstanceAttribute(o *op) (any, error) {
	id, err := o.p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	ins, err := o.instances([]string{id})
	if err != nil {
		return nil, err
	}
	in := ins[0]
	attr, value := o.p.str("Attribute"), o.p.str("Value")
	switch {
	case o.p.str("SourceDestCheck.Value") != "":
		attr, value = "sourceDestCheck", o.p.str("SourceDestCheck.Value")
	case o.p.str("InstanceType.Value") != "":
		attr, value = "instanceType", o.p.str("InstanceType.Value")
	}
	switch attr {
	case "":
		return nil, missing("Attribute")
	case "sourceDestCheck":
		b, err := params{"v": value}.boolean("v")
		if err != nil || value == "" {
			return nil, invalidValue("SourceDestCheck.Value", value, "Expected true or false.")
		}
		e := o.w.ENIs[in.ENI]
		if e == nil {
			return nil, incorrectState(in.ID, in.State, "modified")
		}
		e.SourceDestCheck = b
		o.dirty = true
	case "instanceType":
		if in.State != "stopped" {
			return nil, incorrectState(in.ID, in.State, "modified (the instance type can only be changed while stopped)")
		}
		in.Type = value
		o.dirty = true
	default:
		return nil, invalidValue("Attribute", attr, "The simulator supports sourceDestCheck and instanceType.")
	}
	return returnTrue()
}
