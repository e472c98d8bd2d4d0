package ec2sim_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
	"github.com/ec2ha/ec2ha/internal/clock"
)

func TestDefaultWorld(t *testing.T) {
	env := start(t)
	subs := mustOK(env.Client.DescribeSubnets(ctx, &awsec2.DescribeSubnetsInput{})).Subnets
	var azs []string
	for _, s := range subs {
		azs = append(azs, *s.AvailabilityZone)
		if !*s.DefaultForAz || *s.AvailableIpAddressCount != 4091 {
			t.Errorf("subnet %s: default %v, %d free", *s.SubnetId, *s.DefaultForAz, *s.AvailableIpAddressCount)
		}
	}
	if !slices.Equal(azs, []string{"us-east-1a", "us-east-1b", "us-east-1c"}) {
		t.Errorf("AZs %v", azs)
	}
	vpcs := mustOK(env.Client.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{
		Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})).Vpcs
	if len(vpcs) != 1 || *vpcs[0].CidrBlock != "172.31.0.0/16" {
		t.Fatalf("default VPC: %+v", vpcs)
	}
	rts := mustOK(env.Client.DescribeRouteTables(ctx, &awsec2.DescribeRouteTablesInput{
		Filters: []types.Filter{{Name: aws.String("association.main"), Values: []string{"true"}}}})).RouteTables
	if len(rts) != 1 || *rts[0].RouteTableId != env.Sim.MainRouteTable() || len(rts[0].Routes) != 2 {
		t.Fatalf("main route table: %+v", rts)
	}
	other := simtest.Start(t, ec2sim.Options{Region: "eu-west-2"})
	subs = mustOK(other.Client.DescribeSubnets(ctx, &awsec2.DescribeSubnetsInput{})).Subnets
	if *subs[0].AvailabilityZone != "eu-west-2a" {
		t.Errorf("eu-west-2 subnet in %s", *subs[0].AvailabilityZone)
	}
}

func TestRunInstancesPlacementAndAddresses(t *testing.T) {
	env := start(t)
	c := env.Client
	subnets := env.Sim.DefaultSubnets()
	got := launch(t, c, 3, subnets[1], tag("cluster", "c1"))
	seen := map[string]bool{}
	for _, in := range got {
		if *in.SubnetId != subnets[1] || *in.Placement.AvailabilityZone != "us-east-1b" {
			t.Errorf("%s in %s/%s", *in.InstanceId, *in.SubnetId, *in.Placement.AvailabilityZone)
		}
		if in.State.Name != types.InstanceStateNamePending {
			t.Errorf("RunInstances reports %s, want pending", in.State.Name)
		}
		if seen[*in.PrivateIpAddress] {
			t.Errorf("duplicate private IP %s", *in.PrivateIpAddress)
		}
		seen[*in.PrivateIpAddress] = true
		if len(in.NetworkInterfaces) != 1 || *in.NetworkInterfaces[0].PrivateIpAddress != *in.PrivateIpAddress {
			t.Errorf("primary ENI: %+v", in.NetworkInterfaces)
		}
	}
	d := describe(t, c, *got[0].InstanceId)
	if d.Monitoring == nil || d.Monitoring.State != types.MonitoringStateDisabled {
		t.Errorf("monitoring: %+v", d.Monitoring)
	}
	if d.State.Name != types.InstanceStateNameRunning || len(d.Tags) != 1 || *d.Tags[0].Value != "c1" {
		t.Errorf("described: %s tags %v", d.State.Name, d.Tags)
	}

	fixed := mustOK(c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1),
		MaxCount: aws.Int32(1), SubnetId: aws.String(subnets[0]), PrivateIpAddress: aws.String("172.31.5.5")})).Instances[0]
	if *fixed.PrivateIpAddress != "172.31.5.5" {
		t.Errorf("PrivateIpAddress %s", *fixed.PrivateIpAddress)
	}
	_, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1),
		MaxCount: aws.Int32(1), SubnetId: aws.String(subnets[0]), PrivateIpAddress: aws.String("172.31.5.5")})
	wantErr(t, err, "InvalidIPAddress.InUse", 400)
}

func TestRunInstancesFromLaunchTemplate(t *testing.T) {
	env := start(t)
	c := env.Client
	subnets := env.Sim.DefaultSubnets()
	lt := mustOK(c.CreateLaunchTemplate(ctx, &awsec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("ha-node"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-11111111"), InstanceType: types.InstanceTypeT3Small,
			TagSpecifications: []types.LaunchTemplateTagSpecificationRequest{{ResourceType: types.ResourceTypeInstance,
				Tags: []types.Tag{tag("cluster", "c1"), tag("role", "node")}}}},
	})).LaunchTemplate
	if *lt.DefaultVersionNumber != 1 || *lt.LatestVersionNumber != 1 {
		t.Fatalf("new template versions %d/%d", *lt.DefaultVersionNumber, *lt.LatestVersionNumber)
	}
	v2 := mustOK(c.CreateLaunchTemplateVersion(ctx, &awsec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: lt.LaunchTemplateId, SourceVersion: aws.String("1"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-22222222"),
			NetworkInterfaces: []types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{{DeviceIndex: aws.Int32(0), SubnetId: aws.String(subnets[2])}}},
	})).LaunchTemplateVersion
	if *v2.VersionNumber != 2 || v2.LaunchTemplateData.InstanceType != types.InstanceTypeT3Small {
		t.Fatalf("version 2 did not inherit from version 1: %+v", v2.LaunchTemplateData)
	}

	cases := []struct {
		name    string
		spec    types.LaunchTemplateSpecification
		image   string
		az      string
		version string
	}{
		{"by id, default", types.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplateId}, "ami-11111111", "us-east-1a", "1"},
		{"by name, $Latest", types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("ha-node"), Version: aws.String("$Latest")}, "ami-22222222", "us-east-1c", "2"},
		{"by name, $Default", types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("ha-node"), Version: aws.String("$Default")}, "ami-11111111", "us-east-1a", "1"},
		{"by id, version 2", types.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplateId, Version: aws.String("2")}, "ami-22222222", "us-east-1c", "2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			in := mustOK(c.RunInstances(ctx, &awsec2.RunInstancesInput{LaunchTemplate: &spec, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
				TagSpecifications: instanceTags(tag("role", "replacement"))})).Instances[0]
			d := describe(t, c, *in.InstanceId)
			tags := map[string]string{}
			for _, tg := range d.Tags {
				tags[*tg.Key] = *tg.Value
			}
			if *d.ImageId != tc.image || *d.Placement.AvailabilityZone != tc.az || d.InstanceType != types.InstanceTypeT3Small {
				t.Errorf("image %s az %s type %s", *d.ImageId, *d.Placement.AvailabilityZone, d.InstanceType)
			}
			if tags["cluster"] != "c1" || tags["role"] != "replacement" || tags["aws:ec2launchtemplate:version"] != tc.version {
				t.Errorf("tags %v: want template tags, request overriding role, version %s", tags, tc.version)
			}
		})
	}

	mustOK(c.ModifyLaunchTemplate(ctx, &awsec2.ModifyLaunchTemplateInput{LaunchTemplateId: lt.LaunchTemplateId, DefaultVersion: aws.String("2")}))
	vs := mustOK(c.DescribeLaunchTemplateVersions(ctx, &awsec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateName: aws.String("ha-node"), Versions: []string{"$Default"}})).LaunchTemplateVersions
	if len(vs) != 1 || *vs[0].VersionNumber != 2 || !*vs[0].DefaultVersion {
		t.Fatalf("$Default after ModifyLaunchTemplate: %+v", vs)
	}
	all := mustOK(c.DescribeLaunchTemplateVersions(ctx, &awsec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: lt.LaunchTemplateId})).LaunchTemplateVersions
	if len(all) != 2 || *all[0].VersionNumber != 2 {
		t.Fatalf("all versions newest first: %d", len(all))
	}
	lts := mustOK(c.DescribeLaunchTemplates(ctx, &awsec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"ha-node"}})).LaunchTemplates
	if len(lts) != 1 || *lts[0].LatestVersionNumber != 2 || *lts[0].DefaultVersionNumber != 2 {
		t.Fatalf("DescribeLaunchTemplates: %+v", lts)
	}
}

func TestClientTokenIdempotency(t *testing.T) {
	env := start(t)
	c := env.Client
	in := &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(2), MaxCount: aws.Int32(2), ClientToken: aws.String("launch-1")}
	first := mustOK(c.RunInstances(ctx, in))
	again := mustOK(c.RunInstances(ctx, in))
	if *first.ReservationId != *again.ReservationId || !slices.Equal(ids(first.Instances), ids(again.Instances)) {
		t.Fatalf("retry with the same token launched again: %v vs %v", ids(first.Instances), ids(again.Instances))
	}
	all := mustOK(c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{}))
	if n := len(all.Reservations[0].Instances); len(all.Reservations) != 1 || n != 2 {
		t.Fatalf("%d reservations, want 1 of 2 instances", len(all.Reservations))
	}
	in.ImageId = aws.String("ami-87654321")
	_, err := c.RunInstances(ctx, in)
	wantErr(t, err, "IdempotentParameterMismatch", 400)
}

func TestDescribeInstancesFiltersAndPages(t *testing.T) {
	env := start(t)
	c := env.Client
	subnets := env.Sim.DefaultSubnets()
	a := launch(t, c, 3, subnets[0], tag("cluster", "alpha"), tag("ha:node", "yes"))
	b := launch(t, c, 2, subnets[1], tag("cluster", "beta"))
	mustOK(c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{*b[0].InstanceId}}))

	count := func(filters ...types.Filter) []string {
		t.Helper()
		out := mustOK(c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{Filters: filters}))
		var got []string
		for _, r := range out.Reservations {
			got = append(got, ids(r.Instances)...)
		}
		slices.Sort(got)
		return got
	}
	f := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	sorted := func(v ...string) []string { slices.Sort(v); return v }
	cases := []struct {
		name    string
		filters []types.Filter
		want    []string
	}{
		{"tag", []types.Filter{f("tag:cluster", "alpha")}, sorted(ids(a)...)},
		{"tag wildcard", []types.Filter{f("tag:cluster", "b*")}, sorted(ids(b)...)},
		{"tag-key", []types.Filter{f("tag-key", "ha:node")}, sorted(ids(a)...)},
		{"state", []types.Filter{f("instance-state-name", "stopped")}, []string{*b[0].InstanceId}},
		{"state and tag", []types.Filter{f("instance-state-name", "running"), f("tag:cluster", "beta")}, []string{*b[1].InstanceId}},
		{"instance-id", []types.Filter{f("instance-id", *a[1].InstanceId, *b[1].InstanceId)}, sorted(*a[1].InstanceId, *b[1].InstanceId)},
		{"subnet-id", []types.Filter{f("subnet-id", subnets[1])}, sorted(ids(b)...)},
		{"availability-zone", []types.Filter{f("availability-zone", "us-east-1a")}, sorted(ids(a)...)},
		{"eni", []types.Filter{f("network-interface.network-interface-id", *a[2].NetworkInterfaces[0].NetworkInterfaceId)}, []string{*a[2].InstanceId}},
		{"no match", []types.Filter{f("tag:cluster", "gamma")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := count(tc.filters...); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	var paged []string
	pages := 0
	p := awsec2.NewDescribeInstancesPaginator(c, &awsec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	launch(t, c, 4, "")
	for p.HasMorePages() {
		out := mustOK(p.NextPage(ctx))
		pages++
		for _, r := range out.Reservations {
			paged = append(paged, ids(r.Instances)...)
		}
	}
	if pages != 2 || len(paged) != 9 {
		t.Fatalf("%d pages with %d instances, want 2 pages with 9", pages, len(paged))
	}
	slices.Sort(paged)
	if len(slices.Compact(paged)) != 9 {
		t.Fatalf("pages repeated instances")
	}
}

// fakeEnv is a simulator whose transitions take time on a fake clock.
func fakeEnv(t *testing.T) (*simtest.Env, *clock.Fake) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	env := simtest.Start(t, ec2sim.Options{Clock: fc, Durations: ec2sim.Durations{Pending: 5 * time.Second, Stopping: 10 * time.Second, ShuttingDown: 10 * time.Second}})
	return env, fc
}

// advance moves the fake clock once the simulator's n timers are waiting,
// then waits for the state.
func advanceTo(t *testing.T, env *simtest.Env, fc *clock.Fake, id string, d time.Duration, want types.InstanceStateName) {
	t.Helper()
	if err := fc.BlockUntilWaiting(ctx, 1); err != nil {
		t.Fatal(err)
	}
	fc.Advance(d)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if describe(t, env.Client, id).State.Name == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never became %s", id, want)
}

func TestLifecycleTransitions(t *testing.T) {
	env, fc := fakeEnv(t)
	c := env.Client
	evs := events(env)
	in := launch(t, c, 1, "")[0]
	id := *in.InstanceId
	if s := describe(t, c, id).State.Name; s != types.InstanceStateNamePending {
		t.Fatalf("just launched: %s", s)
	}
	advanceTo(t, env, fc, id, 5*time.Second, types.InstanceStateNameRunning)

	_, err := c.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatalf("starting a running instance is accepted: %v", err)
	}
	stop := mustOK(c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{id}, Force: aws.Bool(true)}))
	if sc := stop.StoppingInstances[0]; sc.CurrentState.Name != types.InstanceStateNameStopping || sc.PreviousState.Name != types.InstanceStateNameRunning {
		t.Fatalf("force stop: %s -> %s", sc.PreviousState.Name, sc.CurrentState.Name)
	}
	if s := describe(t, c, id).State.Name; s != types.InstanceStateNameStopping {
		t.Fatalf("after force stop: %s, want stopping first", s)
	}
	_, err = c.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: []string{id}}, noRetry)
	wantErr(t, err, "IncorrectInstanceState", 400)
	advanceTo(t, env, fc, id, 10*time.Second, types.InstanceStateNameStopped)

	mustOK(c.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: []string{id}}))
	advanceTo(t, env, fc, id, 5*time.Second, types.InstanceStateNameRunning)
	mustOK(c.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{id}}))
	if s := describe(t, c, id).State.Name; s != types.InstanceStateNameShuttingDown {
		t.Fatalf("after terminate: %s", s)
	}
	advanceTo(t, env, fc, id, 10*time.Second, types.InstanceStateNameTerminated)

	var trail []string
	for len(trail) < 8 {
		e := <-evs
		if e.Type == ec2sim.EventState || e.Type == ec2sim.EventLaunch {
			trail = append(trail, e.State)
		}
	}
	want := []string{"pending", "running", "stopping", "stopped", "pending", "running", "shutting-down", "terminated"}
	if !slices.Equal(trail, want) {
		t.Fatalf("events %v, want %v", trail, want)
	}
}

// What a stopped instance keeps and a terminated one loses follows "Stop
// and start Amazon EC2 instances" and "Terminate Amazon EC2 instances" in
// the EC2 user guide.
func TestStopKeepsTerminateReleases(t *testing.T) {
	env := start(t)
	c := env.Client
	in := launch(t, c, 1, "")[0]
	id, eni := *in.InstanceId, *in.NetworkInterfaces[0].NetworkInterfaceId
	alloc := mustOK(c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}))
	mustOK(c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, InstanceId: aws.String(id)}))
	mustOK(c.AssignPrivateIpAddresses(ctx, &awsec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eni), PrivateIpAddresses: []string{"172.31.9.9"}}))
	mustOK(c.CreateRoute(ctx, &awsec2.CreateRouteInput{RouteTableId: aws.String(env.Sim.MainRouteTable()), DestinationCidrBlock: aws.String("10.99.0.1/32"), InstanceId: aws.String(id)}))

	mustOK(c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{id}}))
	d := describe(t, c, id)
	if !strings.HasPrefix(aws.ToString(d.StateTransitionReason), "User initiated (") || aws.ToString(d.StateReason.Code) != "Client.UserInitiatedShutdown" {
		t.Errorf("stopped instance reasons: %q %+v", aws.ToString(d.StateTransitionReason), d.StateReason)
	}
	if d.State.Name != types.InstanceStateNameStopped || *d.PrivateIpAddress != *in.PrivateIpAddress || aws.ToString(d.PublicIpAddress) != *alloc.PublicIp {
		t.Fatalf("stopped instance: %s ip %s public %s", d.State.Name, aws.ToString(d.PrivateIpAddress), aws.ToString(d.PublicIpAddress))
	}
	if ips := d.NetworkInterfaces[0].PrivateIpAddresses; len(ips) != 2 {
		t.Fatalf("stopped instance lost its secondary IP: %d addresses", len(ips))
	}
	if st := routeState(t, env, "10.99.0.1/32"); st != types.RouteStateBlackhole {
		t.Fatalf("route to a stopped instance is %s, want blackhole", st)
	}
	mustOK(c.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: []string{id}}))
	if st := routeState(t, env, "10.99.0.1/32"); st != types.RouteStateActive {
		t.Fatalf("route to a running instance is %s", st)
	}

	mustOK(c.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{id}}))
	d = describe(t, c, id)
	if d.PrivateIpAddress != nil || len(d.NetworkInterfaces) != 0 || d.PublicIpAddress != nil {
		t.Fatalf("terminated instance still has addresses: %v %v", d.PrivateIpAddress, d.NetworkInterfaces)
	}
	addrs := mustOK(c.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{AllocationIds: []string{*alloc.AllocationId}})).Addresses
	if len(addrs) != 1 || addrs[0].AssociationId != nil {
		t.Fatalf("EIP after terminate: %+v (want allocated, not associated)", addrs)
	}
	_, err := c.DescribeNetworkInterfaces(ctx, &awsec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}}, noRetry)
	wantErr(t, err, "InvalidNetworkInterfaceID.NotFound", 400)
	if st := routeState(t, env, "10.99.0.1/32"); st != types.RouteStateBlackhole {
		t.Fatalf("route to a terminated instance is %s", st)
	}
	// The freed addresses can be used again.
	again := mustOK(c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		PrivateIpAddress: aws.String("172.31.9.9")}))
	if *again.Instances[0].PrivateIpAddress != "172.31.9.9" {
		t.Fatal("address of a terminated instance not reusable")
	}
}

func routeState(t *testing.T, env *simtest.Env, dest string) types.RouteState {
	t.Helper()
	rts := mustOK(env.Client.DescribeRouteTables(ctx, &awsec2.DescribeRouteTablesInput{RouteTableIds: []string{env.Sim.MainRouteTable()}})).RouteTables
	for _, r := range rts[0].Routes {
		if aws.ToString(r.DestinationCidrBlock) == dest {
			return r.State
		}
	}
	t.Fatalf("no route %s", dest)
	return ""
}

func TestTerminatedInstancesExpire(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	env := simtest.Start(t, ec2sim.Options{Clock: fc})
	id := *launch(t, env.Client, 1, "")[0].InstanceId
	mustOK(env.Client.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{id}}))
	fc.Advance(59 * time.Minute)
	describe(t, env.Client, id)
	fc.Advance(2 * time.Minute)
	_, err := env.Client.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}}, noRetry)
	wantErr(t, err, "InvalidInstanceID.NotFound", 400)
}

func TestDescribeInstanceStatusAndAttributes(t *testing.T) {
	env := start(t)
	c := env.Client
	ins := launch(t, c, 3, "")
	mustOK(c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{*ins[2].InstanceId}}))
	if err := env.Sim.SetMachineGone(*ins[1].InstanceId, true); err != nil {
		t.Fatal(err)
	}
	st := mustOK(c.DescribeInstanceStatus(ctx, &awsec2.DescribeInstanceStatusInput{})).InstanceStatuses
	if len(st) != 2 {
		t.Fatalf("%d statuses, want the 2 running instances", len(st))
	}
	byID := map[string]types.InstanceStatus{}
	for _, s := range st {
		byID[*s.InstanceId] = s
	}
	if byID[*ins[0].InstanceId].SystemStatus.Status != types.SummaryStatusOk || byID[*ins[1].InstanceId].SystemStatus.Status != types.SummaryStatusImpaired {
		t.Fatalf("status checks: healthy %s, gone %s", byID[*ins[0].InstanceId].SystemStatus.Status, byID[*ins[1].InstanceId].SystemStatus.Status)
	}
	all := mustOK(c.DescribeInstanceStatus(ctx, &awsec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true),
		Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"stopped"}}}})).InstanceStatuses
	if len(all) != 1 || *all[0].InstanceId != *ins[2].InstanceId {
		t.Fatalf("IncludeAllInstances with stopped filter: %+v", all)
	}
	if describe(t, c, *ins[1].InstanceId).State.Name != types.InstanceStateNameRunning {
		t.Fatal("the API must still say running when the machine is gone")
	}

	mustOK(c.ModifyInstanceAttribute(ctx, &awsec2.ModifyInstanceAttributeInput{InstanceId: ins[0].InstanceId, SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(false)}}))
	d := describe(t, c, *ins[0].InstanceId)
	if *d.SourceDestCheck || *d.NetworkInterfaces[0].SourceDestCheck {
		t.Fatal("SourceDestCheck still on")
	}
	enis := mustOK(c.DescribeNetworkInterfaces(ctx, &awsec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{*ins[0].NetworkInterfaces[0].NetworkInterfaceId}})).NetworkInterfaces
	if *enis[0].SourceDestCheck {
		t.Fatal("ENI SourceDestCheck still on")
	}
}

// TestEventsFollowEachInstanceInOrder has clients stop and start
// instances concurrently while transitions finish on timers; each
// instance's events must form one unbroken chain of states, or a test bed
// following them would act on a stale state.
func TestEventsFollowEachInstanceInOrder(t *testing.T) {
	env := simtest.Start(t, ec2sim.Options{Durations: ec2sim.Durations{Pending: time.Millisecond, Stopping: time.Millisecond}})
	var mu sync.Mutex
	last := map[string]string{}
	broken := ""
	env.Sim.OnEvent(func(e ec2sim.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Type {
		case ec2sim.EventLaunch:
			last[e.InstanceID] = e.State
		case ec2sim.EventState:
			if last[e.InstanceID] != e.PreviousState && broken == "" {
				broken = fmt.Sprintf("%s: event %s->%s after %s", e.InstanceID, e.PreviousState, e.State, last[e.InstanceID])
			}
			last[e.InstanceID] = e.State
		}
	})
	ins := launch(t, env.Client, 4, "")
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			for range 15 {
				// Errors are expected: the instance is often mid-transition.
				_, _ = env.Client.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{id}}, noRetry)
				_, _ = env.Client.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: []string{id}}, noRetry)
			}
		}(*in.InstanceId)
	}
	wg.Wait()
	if err := env.Sim.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if broken != "" {
		t.Fatal(broken)
	}
	if len(last) != 4 {
		t.Fatalf("events for %d instances", len(last))
	}
}

// TestImplementsEveryCallEc2haMakes keeps the simulator in step with
// ec2.API: a call added there must be simulated here too.
func TestImplementsEveryCallEc2haMakes(t *testing.T) {
	have := ec2sim.Actions()
	for _, a := range ec2.Actions {
		if !slices.Contains(have, a.Name) {
			t.Errorf("ec2.API calls %s, which the simulator does not implement", a.Name)
		}
	}
}

// TestSDKWaiters checks the SDK's own waiters, which poll DescribeInstances
// with JMESPath over the XML, see the transitions.
func TestSDKWaiters(t *testing.T) {
	env := simtest.Start(t, ec2sim.Options{Durations: ec2sim.Durations{Pending: 20 * time.Millisecond, Stopping: 20 * time.Millisecond}})
	id := *launch(t, env.Client, 1, "")[0].InstanceId
	fast := func(min, max *time.Duration) { *min, *max = 10*time.Millisecond, 50*time.Millisecond }
	running := awsec2.NewInstanceRunningWaiter(env.Client, func(o *awsec2.InstanceRunningWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) })
	if err := running.Wait(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
		t.Fatalf("InstanceRunningWaiter: %v", err)
	}
	mustOK(env.Client.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{id}, Force: aws.Bool(true)}))
	stopped := awsec2.NewInstanceStoppedWaiter(env.Client, func(o *awsec2.InstanceStoppedWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) })
	if err := stopped.Wait(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
		t.Fatalf("InstanceStoppedWaiter: %v", err)
	}
}
