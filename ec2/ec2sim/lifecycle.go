package ec2sim

import (
	"time"
)

// The instance lifecycle follows "Amazon EC2 instance state changes" in
// the EC2 user guide: pending -> running, stopping -> stopped,
// shutting-down -> terminated, each transitional state lasting the
// configured Durations.

func (o *op) setState(in *instance, state string) {
	prev := in.State
	in.State = state
	in.Gen++
	in.TransitionDue = time.Time{}
	o.emit(Event{Type: EventState, InstanceID: in.ID, PreviousState: prev, State: state, AvailabilityZone: in.AZ})
}

// transition enters a transitional state and arranges for it to end after
// d; with d == 0 it ends before the call returns.
func (o *op) transition(in *instance, transitional string, d time.Duration) {
	o.setState(in, transitional)
	o.await(in, d)
}

// await ends the transitional state in is in after d.
func (o *op) await(in *instance, d time.Duration) {
	if d <= 0 {
		o.finish(in)
		return
	}
	in.TransitionDue = o.now.Add(d)
	o.s.schedule(in.ID, in.Gen, d)
}

// finish ends the transitional state an instance is in.
func (o *op) finish(in *instance) {
	switch in.State {
	case "pending":
		o.setState(in, "running")
	case "stopping":
		in.StateReason = "Client.UserInitiatedShutdown: User initiated shutdown"
		o.setState(in, "stopped")
	case "shutting-down":
		o.terminated(in)
	}
}

// terminated applies what "Terminate Amazon EC2 instances" (EC2 user
// guide, "What happens when you terminate an instance") says is lost: the
// Elastic IP is disassociated but stays allocated to the account, and the
// primary network interface is deleted with its private addresses (its
// DeleteOnTermination is true). Routes that pointed at that interface stay
// in their route tables as blackholes. The instance itself remains
// visible for TerminatedRetention. (moto differs: it leaves the Elastic IP
// associated with the terminated instance; see moto_test.go.)
func (o *op) terminated(in *instance) {
	if e := o.w.ENIs[in.ENI]; e != nil {
		for _, a := range o.w.Addresses {
			if a.ENI == e.ID {
				o.disassociate(a)
			}
		}
		if e.DeleteOnTermination {
			delete(o.w.ENIs, e.ID)
			delete(o.w.Tags, e.ID)
		} else {
			e.InstanceID, e.AttachmentID = "", ""
		}
	}
	in.ENI = ""
	o.s.imds.shut(in.ID)
	in.TerminatedAt = o.now
	in.StateReason = "Client.UserInitiatedShutdown: User initiated shutdown"
	o.setState(in, "terminated")
}

// schedule ends a transition after d, unless the instance has changed
// state (gen) in the meantime or the simulator is closed. Called with s.mu
// held.
func (s *Sim) schedule(id string, gen uint64, d time.Duration) {
	if s.closed {
		return
	}
	s.timers.Add(1)
	go func() {
		defer s.timers.Done()
		select {
		case <-s.clk.After(d):
		case <-s.done:
			return
		}
		_, _ = s.mutate(nil, func(o *op) (any, error) {
			if in := o.w.Instances[id]; in != nil && in.Gen == gen {
				o.finish(in)
			}
			return nil, nil
		})
	}()
}

// resumeTransitions restarts the timers of instances loaded mid-transition.
func (s *Sim) resumeTransitions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	for _, in := range s.w.Instances {
		if !in.TransitionDue.IsZero() {
			s.schedule(in.ID, in.Gen, max(in.TransitionDue.Sub(now), 0))
		}
	}
}

// purgeTerminated forgets instances terminated longer ago than
// TerminatedRetention, as EC2 does after about an hour.
func (s *Sim) purgeTerminated(now time.Time) {
	for id, in := range s.w.Instances {
		if in.State == "terminated" && now.Sub(in.TerminatedAt) > s.opts.TerminatedRetention {
			delete(s.w.Instances, id)
			delete(s.w.Tags, id)
		}
	}
}
