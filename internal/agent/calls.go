package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ec2ha/ec2ha/failover"
	"github.com/ec2ha/ec2ha/internal/api"
)

// Members ask each other over memberlist's encrypted stream (membership's
// Call): the coordinator asks the node that must start or stop a group to
// run its hook, and every node shares what it recorded for the history.

type callOp string

const (
	opStart callOp = "start"
	opStop  callOp = "stop"
	opEvent callOp = "event"
	// opWake asks the coordinator to observe now: an operator's intent
	// lives in EC2 tags, which it would otherwise read at its next
	// resync, seconds later.
	opWake callOp = "wake"
)

type call struct {
	Op     callOp     `json:"op"`
	Group  string     `json:"group,omitempty"`
	Reason string     `json:"reason,omitempty"`
	Event  *api.Event `json:"event,omitempty"`
}

func encodeCall(c call) ([]byte, error) { return json.Marshal(c) }

// handleCall serves another member's call.
func (a *Agent) handleCall(ctx context.Context, from string, body []byte) ([]byte, error) {
	var c call
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("unreadable call from %s: %w", from, err)
	}
	switch c.Op {
	case opEvent:
		if c.Event != nil {
			a.journal.add(*c.Event)
		}
		return nil, nil
	case opWake:
		a.poke()
		return nil, nil
	case opStart:
		// A start needs quorum here too: the coordinator had it when it
		// decided, but this node must not serve from a minority partition.
		if !a.node.Quorum().Has() {
			return nil, fmt.Errorf("%s refuses to start %s: %w", a.name, c.Group, errNoQuorum)
		}
		return nil, a.local.start(ctx, c.Group, fmt.Sprintf("%s (asked by %s)", c.Reason, from))
	case opStop:
		return nil, a.local.stop(ctx, c.Group, fmt.Sprintf("%s (asked by %s)", c.Reason, from))
	}
	return nil, fmt.Errorf("unknown call %q from %s", c.Op, from)
}

// runOn runs a start or stop of group on node: here directly, elsewhere
// by asking that node and waiting for its hook to finish.
func (a *Agent) runOn(ctx context.Context, node string, op callOp, group, reason string) error {
	if node == a.name {
		if op == opStart {
			return a.local.start(ctx, group, reason)
		}
		return a.local.stop(ctx, group, reason)
	}
	cfg, _ := a.config()
	g, ok := groupConfig(cfg, group)
	if !ok {
		return fmt.Errorf("unknown group %s", group)
	}
	// The hook's own timeout plus the time for the call to travel.
	timeout := max(g.Hooks.Start.Timeout, g.Hooks.Stop.Timeout) + 10*time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := encodeCall(call{Op: op, Group: group, Reason: reason})
	if err != nil {
		return err
	}
	_, err = a.node.Call(ctx, node, body)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s on %s: no answer within %s", op, group, node, timeout)
	}
	return err
}

// wakeCoordinator makes the coordinator act on a new intent at once: this
// node if it coordinates, else the coordinator by a call. A lost call
// costs only the wait until the next resync.
func (a *Agent) wakeCoordinator() {
	a.poke()
	fm, _ := members(a.node.View())
	coord := failover.Coordinator(failover.Observation{Members: fm})
	if coord == "" || coord == a.name {
		return
	}
	body, err := encodeCall(call{Op: opWake})
	if err != nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = a.node.Call(ctx, coord, body)
	}()
}
