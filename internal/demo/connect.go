package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
)

// onSimEvent connects EC2 to the processes, as a hypervisor would: an
// instance that stops or terminates takes its processes with it, and one
// that a replacement launched gets an agent and an application once it
// runs. It also turns the simulator's events into milestones. It runs on
// the simulator's event goroutine, so anything slow goes to its own.
func (r *run) onSimEvent(e ec2sim.Event) {
	faulted := r.tl.Started()
	r.mu.Lock()
	initial := r.initial[e.InstanceID]
	victim := r.victimInst
	victimName := r.victim.Name
	var alloc string
	if r.w != nil {
		alloc = r.w.AllocationID
	}
	r.mu.Unlock()

	switch e.Type {
	case ec2sim.EventLaunch:
		r.mu.Lock()
		r.imds[e.InstanceID] = e.IMDSEndpoint
		r.mu.Unlock()
		if faulted && !initial {
			r.mu.Lock()
			r.replacement = e.InstanceID
			r.mu.Unlock()
			r.tl.Mark(StepLaunched, fmt.Sprintf("replacement %s launched from %s in %s", e.InstanceID, TemplateName, e.AvailabilityZone), "sim", e.Time)
		}

	case ec2sim.EventState:
		r.tl.Note("sim", fmt.Sprintf("%s %s → %s", e.InstanceID, e.PreviousState, e.State), e.Time)
		switch e.State {
		case "stopping", "stopped", "shutting-down", "terminated":
			go r.killInstance(e.InstanceID, "is "+e.State)
		}
		if e.InstanceID == victim && victim != "" {
			switch e.State {
			case "stopping", "shutting-down":
				r.tl.Mark(StepFenceRequest, fmt.Sprintf("fence requested: %s (%s) %s", victimName, victim, e.State), "sim", e.Time)
			case "stopped", "terminated":
				r.tl.Mark(StepFenceConfirm, fmt.Sprintf("fence confirmed: EC2 reports %s %s", victim, e.State), "sim", e.Time)
			}
		}
		if e.State == "running" && faulted && !initial {
			r.mu.Lock()
			boot := !r.started[e.InstanceID]
			r.started[e.InstanceID] = true
			r.mu.Unlock()
			if boot {
				r.tl.Mark(StepRunning, fmt.Sprintf("replacement %s running", e.InstanceID), "sim", e.Time)
				go r.bootReplacement(e.InstanceID)
			}
		}

	case ec2sim.EventAddress:
		if e.AllocationID != alloc || alloc == "" {
			return
		}
		r.mu.Lock()
		r.eipOn = e.InstanceID
		if e.NetworkInterfaceID != "" {
			r.eniOwner[e.NetworkInterfaceID] = e.InstanceID
		}
		holder := r.nodeOfLocked(e.InstanceID)
		r.mu.Unlock()
		if e.InstanceID == "" {
			r.tl.Note("sim", fmt.Sprintf("Elastic IP %s disassociated", e.PublicIP), e.Time)
			return
		}
		r.tl.Note("sim", fmt.Sprintf("Elastic IP %s associated with %s (%s)", e.PublicIP, holder, e.InstanceID), e.Time)
		if faulted && e.InstanceID != victim {
			r.tl.Mark(StepEIPMoved, fmt.Sprintf("Elastic IP %s moved to %s (%s)", e.PublicIP, holder, e.InstanceID), "sim", e.Time)
		}

	case ec2sim.EventRoute:
		if e.Destination != OverlayIP+"/32" {
			return
		}
		r.mu.Lock()
		r.routeENI = e.NetworkInterfaceID
		inst := e.InstanceID
		if inst == "" {
			inst = r.eniOwner[e.NetworkInterfaceID]
		}
		for _, n := range r.w.Nodes {
			if n.ENI == e.NetworkInterfaceID {
				inst = n.InstanceID
			}
		}
		holder := r.nodeOfLocked(inst)
		victimENI := r.victim.ENI
		r.mu.Unlock()
		r.tl.Note("sim", fmt.Sprintf("route %s in %s → %s (%s)", e.Destination, e.RouteTableID, e.NetworkInterfaceID, holder), e.Time)
		if faulted && e.NetworkInterfaceID != "" && e.NetworkInterfaceID != victimENI {
			r.tl.Mark(StepOverlayMoved, fmt.Sprintf("overlay IP %s routed to %s (%s)", OverlayIP, holder, e.NetworkInterfaceID), "sim", e.Time)
		}

	case ec2sim.EventMachineGone:
		if e.Gone {
			r.tl.Note("sim", fmt.Sprintf("%s: machine gone (IMDS and status checks stop answering; the API still says %s)", e.InstanceID, e.State), e.Time)
			go r.killInstance(e.InstanceID, "lost its machine")
		}
	}
}

// nodeOfLocked names the node an instance plays, or returns the id.
func (r *run) nodeOfLocked(instanceID string) string {
	for _, np := range r.procs {
		if np.instanceID == instanceID {
			return np.node.Name
		}
	}
	if r.w != nil {
		if n, ok := r.w.NodeByInstance(instanceID); ok {
			return n.Name
		}
	}
	return instanceID
}

// bootReplacement starts the processes of a replacement instance on its
// node's address, once the previous machine's processes are gone.
func (r *run) bootReplacement(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), r.o.StepTimeout)
	defer cancel()
	n, tagged, err := r.w.NodeOfInstance(ctx, r.ec2, id)
	if err != nil {
		r.fail(fmt.Errorf("replacement %s: %w", id, err))
		return
	}
	r.mu.Lock()
	old := r.procs[n.Name]
	r.mu.Unlock()
	if old != nil {
		for _, p := range []*Proc{old.agent, old.app} {
			select {
			case <-p.Done():
			case <-ctx.Done():
				r.fail(fmt.Errorf("replacement %s: %s of the fenced instance %s is still running", id, p.Name, old.instanceID))
				return
			}
		}
	}
	if !tagged {
		r.tl.Note("demo", fmt.Sprintf("%s has no %s tag; its node name %s comes from its %s tag, so the demo sets node.name", id, NodeTagKey, n.Name, "ec2ha:replaces"), time.Time{})
	}
	if err := r.startNode(n, id, tagged); err != nil {
		r.fail(err)
	}
}

func (r *run) fail(err error) {
	select {
	case r.errs <- err:
	default:
	}
}
