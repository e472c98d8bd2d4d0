package failover

import (
	"fmt"
	"time"
)

// Kind is what an action does. Kinds are ordered: within one decision the
// executor carries actions out in slice order, which always puts fences
// before stops, stops before moves and moves before starts.
type Kind int

const (
	Nothing Kind = iota
	Wait
	Fence
	StopGroup
	MoveResources
	StartGroup
	LaunchReplacement
	Terminate
)

var kindNames = [...]string{"nothing", "wait", "fence", "stop-group", "move-resources", "start-group", "launch-replacement", "terminate"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Action is one intended effect and the reason for it.
type Action struct {
	Kind     Kind
	Group    string // StopGroup, MoveResources, StartGroup
	Node     string // node that runs a hook or receives the resources
	Instance string // Fence, LaunchReplacement, Terminate
	// Local marks an action the node takes on itself without quorum.
	Local  bool
	Reason string
	// After, on a Wait, is when observing again may give another answer
	// (the rest of a settle time, say); zero means at the next resync.
	After time.Duration
}

func (a Action) String() string {
	s := a.Kind.String()
	if a.Group != "" {
		s += " " + a.Group
	}
	if a.Node != "" {
		s += " on " + a.Node
	}
	if a.Instance != "" {
		s += " " + a.Instance
	}
	return s + ": " + a.Reason
}

// effect reports whether the action changes anything.
func (a Action) effect() bool { return a.Kind != Nothing && a.Kind != Wait }
