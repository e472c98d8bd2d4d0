package ec2sim

import (
	"sync"
	"time"
)

// EventType says what an Event reports.
type EventType string

const (
	// EventLaunch: RunInstances created InstanceID (State is pending).
	EventLaunch EventType = "launch"
	// EventState: InstanceID went from PreviousState to State.
	EventState EventType = "state"
	// EventAddress: Elastic IP AllocationID moved to (InstanceID,
	// NetworkInterfaceID, PrivateIP), or was disassociated (those empty).
	EventAddress EventType = "address"
	// EventPrivateIP: PrivateIP was assigned to NetworkInterfaceID (taken
	// from FromNetworkInterfaceID, if it moved), or unassigned (empty).
	EventPrivateIP EventType = "private-ip"
	// EventRoute: Destination in RouteTableID now targets
	// NetworkInterfaceID/InstanceID/GatewayID.
	EventRoute EventType = "route"
	// EventMachineGone: InstanceID's machine vanished (Gone) or came back.
	EventMachineGone EventType = "machine-gone"
)

// Event is something a test bed may need to react to: an instance that
// stopped has to have its process killed, a launched one needs a process.
type Event struct {
	Seq                    uint64    `json:"seq"`
	Time                   time.Time `json:"time"`
	Type                   EventType `json:"type"`
	InstanceID             string    `json:"instanceId,omitempty"`
	PreviousState          string    `json:"previousState,omitempty"`
	State                  string    `json:"state,omitempty"`
	AvailabilityZone       string    `json:"availabilityZone,omitempty"`
	AllocationID           string    `json:"allocationId,omitempty"`
	PublicIP               string    `json:"publicIp,omitempty"`
	AssociationID          string    `json:"associationId,omitempty"`
	NetworkInterfaceID     string    `json:"networkInterfaceId,omitempty"`
	FromNetworkInterfaceID string    `json:"fromNetworkInterfaceId,omitempty"`
	PrivateIP              string    `json:"privateIp,omitempty"`
	RouteTableID           string    `json:"routeTableId,omitempty"`
	Destination            string    `json:"destination,omitempty"`
	GatewayID              string    `json:"gatewayId,omitempty"`
	Gone                   bool      `json:"gone,omitempty"`
	// IMDSEndpoint is the instance's metadata endpoint, on launch events
	// when Options.IMDSHost is set.
	IMDSEndpoint string `json:"imdsEndpoint,omitempty"`
}

// eventBus delivers events in order, on one goroutine, so a subscriber may
// call back into the simulator without deadlocking.
type eventBus struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []Event
	seq    uint64
	subs   map[int]func(Event)
	nextID int
	closed bool
	idle   chan struct{} // closed when the loop exits
}

func newEventBus() *eventBus {
	b := &eventBus{subs: map[int]func(Event){}, idle: make(chan struct{})}
	b.cond = sync.NewCond(&b.mu)
	go b.loop()
	return b
}

func (b *eventBus) publish(evs []Event) {
	if len(evs) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	for _, e := range evs {
		b.seq++
		e.Seq = b.seq
		b.queue = append(b.queue, e)
	}
	b.cond.Signal()
}

func (b *eventBus) loop() {
	defer close(b.idle)
	b.mu.Lock()
	for {
		for len(b.queue) == 0 && !b.closed {
			b.cond.Wait()
		}
		if len(b.queue) == 0 {
			b.mu.Unlock()
			return
		}
		batch := b.queue
		b.queue = nil
		subs := make([]func(Event), 0, len(b.subs))
		for id := 0; id < b.nextID; id++ {
			if fn, ok := b.subs[id]; ok {
				subs = append(subs, fn)
			}
		}
		b.mu.Unlock()
		for _, e := range batch {
			for _, fn := range subs {
				fn(e)
			}
		}
		b.mu.Lock()
	}
}

func (b *eventBus) subscribe(fn func(Event)) (cancel func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.nextID
	b.nextID++
	b.subs[id] = fn
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs, id)
	}
}

func (b *eventBus) close() {
	b.mu.Lock()
	b.closed = true
	b.cond.Signal()
	b.mu.Unlock()
	<-b.idle
}

// OnEvent calls fn for every event from now on, in order, on a single
// goroutine of the simulator's. fn may call the simulator. The returned
// function unsubscribes.
func (s *Sim) OnEvent(fn func(Event)) (cancel func()) {
	return s.bus.subscribe(fn)
}
