package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2/moves"
	"github.com/ec2ha/ec2ha/fencing"
)

// sample is one timed operation.
type sample struct {
	Profile string
	Tool    string // ec2ha, fence_aws, awseip, awsvip, aws-cli
	Op      string // fence, eip, secondary-ip, route, all-three, ...
	Run     int
	Wall    time.Duration
	Calls   int
	Floor   time.Duration // what the simulator's configured latencies impose
	OK      bool
	Note    string
}

func (s sample) overhead() time.Duration { return s.Wall - s.Floor }

// scenarioResult is everything the scenario timings produced.
type scenarioResult struct {
	Samples   []sample
	Checks    []string // functional outcomes worth a sentence
	Errors    []string
	Tools     *pyTools
	PollEC2HA time.Duration
}

// series is the key samples are grouped by in the report.
type series struct{ Profile, Tool, Op string }

func (r *scenarioResult) group() map[series][]sample {
	g := map[series][]sample{}
	for _, s := range r.Samples {
		k := series{s.Profile, s.Tool, s.Op}
		g[k] = append(g[k], s)
	}
	return g
}

func (r *scenarioResult) add(s sample) { r.Samples = append(r.Samples, s) }

func (r *scenarioResult) errorf(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	r.Errors = append(r.Errors, msg)
	logf("error: %s", msg)
}

func quorate() fencing.Authority { return fencing.Authority{Quorate: true, Epoch: 1} }

// runScenarios times fences and moves by ec2ha and by the Python tools on
// a simulator per profile. Every tool gets one untimed warm-up run.
func runScenarios(ctx context.Context, profiles []profile, runs int, tools *pyTools, poll time.Duration) *scenarioResult {
	res := &scenarioResult{Tools: tools, PollEC2HA: poll}
	for _, p := range profiles {
		logf("scenarios: %s (%s)", p.Name, p)
		e, err := startSim(ctx, p)
		if err != nil {
			res.errorf("%s: starting the simulator: %v", p.Name, err)
			continue
		}
		fenceScenario(ctx, res, e, runs, tools, poll)
		moveScenario(ctx, res, e, runs, tools)
		if tools.AWSCLI != "" {
			cliScenario(ctx, res, e, runs, tools)
		}
		e.close()
	}
	return res
}

func fenceScenario(ctx context.Context, res *scenarioResult, e *simEnv, runs int, tools *pyTools, poll time.Duration) {
	p := e.prof
	n := 1 + runs
	if tools.FenceAWS != "" {
		n *= 2
	}
	ins, err := e.launch(ctx, 1+n)
	if err != nil {
		res.errorf("%s: launching instances: %v", p.Name, err)
		return
	}
	self, targets := ins[0], ins[1:]
	f, err := fencing.New(e.Client, fencing.Config{Cluster: benchCluster, Self: self.ID, PollInterval: poll,
		Levels: []fencing.Level{{Method: fencing.StopForce, Timeout: 90 * time.Second}}})
	if err != nil {
		res.errorf("fencing.New: %v", err)
		return
	}
	for i := 0; i <= runs; i++ {
		target := targets[0]
		targets = targets[1:]
		mark := e.mark()
		start := time.Now()
		rec, err := f.Fence(ctx, fencing.Request{Target: target.ID, Requester: "bench", Reason: "bench", Authority: quorate})
		wall := time.Since(start)
		calls := e.since(mark)
		s := sample{Profile: p.Name, Tool: "ec2ha", Op: "fence", Run: i, Wall: wall, Calls: len(calls), Floor: p.floor(calls), OK: err == nil}
		if err != nil {
			s.Note = fmt.Sprintf("%s: %v", rec.Outcome, err)
		}
		if i > 0 {
			res.add(s)
		}
	}
	if tools.FenceAWS == "" {
		return
	}
	for i := 0; i <= runs; i++ {
		target := targets[0]
		targets = targets[1:]
		mark := e.mark()
		r := tools.fenceAWS(ctx, e, self, target.ID)
		calls := e.since(mark)
		st, err := e.state(ctx, target.ID)
		s := sample{Profile: p.Name, Tool: "fence_aws", Op: "fence", Run: i, Wall: r.Took, Calls: len(calls), Floor: p.floor(calls),
			OK: r.Exit == 0 && err == nil && st == types.InstanceStateNameStopped}
		if !s.OK {
			s.Note = fmt.Sprintf("exit %d, target %s: %s", r.Exit, st, lastLine(r.Output))
			if i == 0 {
				res.errorf("%s: fence_aws warm-up run failed: exit %d: %s", p.Name, r.Exit, r.Output)
			}
		}
		if i > 0 {
			res.add(s)
		}
	}
}

func moveScenario(ctx context.Context, res *scenarioResult, e *simEnv, runs int, tools *pyTools) {
	p := e.prof
	ins, err := e.launch(ctx, 4)
	if err != nil {
		res.errorf("%s: launching instances: %v", p.Name, err)
		return
	}
	a, b := ins[0], ins[1]
	owners := []moves.Owner{{InstanceID: a.ID, ENI: a.ENI}, {InstanceID: b.ID, ENI: b.ENI}}
	c := e.Client
	alloc, err := c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{Domain: types.DomainTypeVpc})
	if err != nil {
		res.errorf("%s: AllocateAddress: %v", p.Name, err)
		return
	}
	allocID, eip := aws.ToString(alloc.AllocationId), aws.ToString(alloc.PublicIp)
	secondary := a.PrivateIP[:strings.LastIndexByte(a.PrivateIP, '.')] + ".250"
	rtb := e.sim.MainRouteTable()
	const dest = "10.99.0.30/32"
	if _, err := c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: &allocID, NetworkInterfaceId: &a.ENI}); err != nil {
		res.errorf("%s: AssociateAddress: %v", p.Name, err)
		return
	}
	if _, err := c.AssignPrivateIpAddresses(ctx, &awsec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: &a.ENI, PrivateIpAddresses: []string{secondary}}); err != nil {
		res.errorf("%s: AssignPrivateIpAddresses %s: %v", p.Name, secondary, err)
		return
	}
	if _, err := c.CreateRoute(ctx, &awsec2.CreateRouteInput{RouteTableId: &rtb, DestinationCidrBlock: aws.String(dest), NetworkInterfaceId: &a.ENI}); err != nil {
		res.errorf("%s: CreateRoute: %v", p.Name, err)
		return
	}

	// ec2ha: the three moves of a group, one after the other as the
	// executor does them, each timed.
	timed := func(op string, run int, fn func() error) time.Duration {
		mark := e.mark()
		start := time.Now()
		err := fn()
		wall := time.Since(start)
		calls := e.since(mark)
		if run > 0 {
			s := sample{Profile: p.Name, Tool: "ec2ha", Op: op, Run: run, Wall: wall, Calls: len(calls), Floor: p.floor(calls), OK: err == nil}
			if err != nil {
				s.Note = err.Error()
			}
			res.add(s)
		}
		return wall
	}
	for i := 0; i <= runs; i++ {
		from, to := owners[i%2], owners[(i+1)%2]
		mark := e.mark()
		w := timed("eip", i, func() error { return moves.MoveEIP(ctx, c, allocID, from, to) })
		w += timed("secondary-ip", i, func() error { return moves.MoveSecondaryIP(ctx, c, secondary, to) })
		w += timed("route", i, func() error { return moves.MoveRoute(ctx, c, []string{rtb}, dest, to) })
		if i > 0 {
			calls := e.since(mark)
			res.add(sample{Profile: p.Name, Tool: "ec2ha", Op: "all-three", Run: i, Wall: w, Calls: len(calls), Floor: p.floor(calls), OK: true})
		}
	}

	// After a fence: the Elastic IP is still associated with the stopped
	// instance. ec2ha takes it from the fenced owner.
	fenced, survivor := ins[2], ins[3]
	fencedOwner := moves.Owner{InstanceID: fenced.ID, ENI: fenced.ENI}
	survivorOwner := moves.Owner{InstanceID: survivor.ID, ENI: survivor.ENI}
	alloc2, err := c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{Domain: types.DomainTypeVpc})
	if err == nil {
		_, err = c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc2.AllocationId, NetworkInterfaceId: &fenced.ENI})
	}
	if err == nil {
		_, err = c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{fenced.ID}, Force: aws.Bool(true)})
	}
	if err == nil {
		err = e.waitState(ctx, fenced.ID, types.InstanceStateNameStopped)
	}
	if err != nil {
		res.errorf("%s: setting up the after-fence EIP check: %v", p.Name, err)
		return
	}
	alloc2ID, eip2 := aws.ToString(alloc2.AllocationId), aws.ToString(alloc2.PublicIp)
	if tools.AWSCLI != "" && p.Call == 0 {
		r := tools.ra(ctx, e, survivor, "awseip", "start", map[string]string{"elastic_ip": eip2, "allocation_id": alloc2ID})
		owner := eipOwner(ctx, e, alloc2ID)
		res.Checks = append(res.Checks, fmt.Sprintf("awseip `start` on the survivor while the Elastic IP is still associated with the fenced (stopped) instance: exit %d, Elastic IP on %s (%s). awseip calls associate-address without --allow-reassociation, so EC2 refuses: after a fence the Elastic IP stays on the dead instance until someone disassociates it. Output: `%s`",
			r.Exit, owner, whose(owner, fenced.ID, survivor.ID), oneLine(r.Output)))
	}
	start := time.Now()
	err = moves.MoveEIP(ctx, c, alloc2ID, fencedOwner, survivorOwner)
	if p.Call == 0 {
		owner := eipOwner(ctx, e, alloc2ID)
		res.Checks = append(res.Checks, fmt.Sprintf("ec2ha `moves.MoveEIP` from the fenced (stopped) instance to the survivor: err=%v, %v, Elastic IP on %s (%s).",
			err, time.Since(start).Round(time.Microsecond), owner, whose(owner, fenced.ID, survivor.ID)))
	}

	if tools.AWSCLI == "" {
		return
	}
	// The resource agents: awsvip start on the new owner (it reassigns),
	// awseip stop on the old owner then start on the new one, which is
	// what Pacemaker runs for a move (see the after-fence check for why).
	// ec2ha's loop left everything on owners[runs+1 % 2]; start there.
	for i := 0; i <= runs; i++ {
		from, to := ins[(i+runs+1)%2], ins[(i+runs)%2]
		mark := e.mark()
		r := tools.ra(ctx, e, to, "awsvip", "start", map[string]string{"secondary_private_ip": secondary})
		calls := e.since(mark)
		got, err := moves.ObserveSecondaryIPs(ctx, c, []string{secondary})
		s := sample{Profile: p.Name, Tool: "awsvip", Op: "secondary-ip", Run: i, Wall: r.Took, Calls: len(calls), Floor: p.floor(calls),
			OK: r.Exit == 0 && err == nil && got[secondary].ENI == to.ENI}
		if !s.OK {
			s.Note = fmt.Sprintf("exit %d: %s", r.Exit, oneLine(r.Output))
			if i == 0 {
				res.errorf("%s: awsvip warm-up run failed: %s", p.Name, s.Note)
			}
		}
		if i > 0 {
			res.add(s)
		}

		eipParams := map[string]string{"elastic_ip": eip, "allocation_id": allocID}
		mark = e.mark()
		stop := tools.ra(ctx, e, from, "awseip", "stop", eipParams)
		stopCalls := e.since(mark)
		mark = e.mark()
		startR := tools.ra(ctx, e, to, "awseip", "start", eipParams)
		startCalls := e.since(mark)
		owner := eipOwner(ctx, e, allocID)
		ok := stop.Exit == 0 && startR.Exit == 0 && owner == to.ID
		note := ""
		if !ok {
			note = fmt.Sprintf("stop exit %d, start exit %d, EIP on %s: %s %s", stop.Exit, startR.Exit, owner, oneLine(stop.Output), oneLine(startR.Output))
			if i == 0 {
				res.errorf("%s: awseip warm-up run failed: %s", p.Name, note)
			}
		}
		if i > 0 {
			res.add(sample{Profile: p.Name, Tool: "awseip", Op: "eip-stop", Run: i, Wall: stop.Took, Calls: len(stopCalls), Floor: p.floor(stopCalls), OK: stop.Exit == 0})
			res.add(sample{Profile: p.Name, Tool: "awseip", Op: "eip-start", Run: i, Wall: startR.Took, Calls: len(startCalls), Floor: p.floor(startCalls), OK: startR.Exit == 0})
			all := append(stopCalls, startCalls...)
			res.add(sample{Profile: p.Name, Tool: "awseip", Op: "eip", Run: i, Wall: stop.Took + startR.Took, Calls: len(all), Floor: p.floor(all), OK: ok, Note: note})
		}
	}
}

// cliScenario times one AWS CLI call: Python start-up plus one request,
// the unit the resource agents are built from.
func cliScenario(ctx context.Context, res *scenarioResult, e *simEnv, runs int, tools *pyTools) {
	ins, err := e.launch(ctx, 1)
	if err != nil {
		res.errorf("%s: launching: %v", e.prof.Name, err)
		return
	}
	for i := 0; i <= runs; i++ {
		mark := e.mark()
		r := tools.awsCall(ctx, e, ins[0], "ec2", "describe-instances", "--instance-ids", ins[0].ID, "--output", "json")
		calls := e.since(mark)
		if i > 0 {
			res.add(sample{Profile: e.prof.Name, Tool: "aws-cli", Op: "one call", Run: i, Wall: r.Took, Calls: len(calls), Floor: e.prof.floor(calls), OK: r.Exit == 0})
		}
	}
}

func eipOwner(ctx context.Context, e *simEnv, alloc string) string {
	got, err := moves.ObserveEIPs(ctx, e.Client, []string{alloc})
	if err != nil {
		return "error: " + err.Error()
	}
	if got[alloc].InstanceID == "" {
		return "nothing"
	}
	return got[alloc].InstanceID
}

func whose(owner, fenced, survivor string) string {
	switch owner {
	case fenced:
		return "the fenced instance"
	case survivor:
		return "the survivor"
	}
	return "neither"
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// writeSamples keeps every sample as CSV.
func writeSamples(path string, ss []sample) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"profile", "tool", "op", "run", "wall_ms", "ec2_calls", "floor_ms", "overhead_ms", "ok", "note"})
	for _, s := range ss {
		_ = w.Write([]string{s.Profile, s.Tool, s.Op, strconv.Itoa(s.Run), fmt.Sprintf("%.3f", ms(s.Wall)), strconv.Itoa(s.Calls),
			fmt.Sprintf("%.3f", ms(s.Floor)), fmt.Sprintf("%.3f", ms(s.overhead())), strconv.FormatBool(s.OK), s.Note})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
