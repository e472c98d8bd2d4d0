package ec2sim

import (
	"context"
	"encoding/xml"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ec2ha/ec2ha/internal/clock"
)

// Namespace is the XML namespace of every EC2 response.
const Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// APIVersion is the EC2 API version the simulator implements.
const APIVersion = "2016-11-15"

// Durations are how long instances stay in each transitional state. Zero
// means the transition completes within the call that started it, which is
// what unit tests want.
type Durations struct {
	Pending      time.Duration `json:"pending"`      // pending -> running
	Stopping     time.Duration `json:"stopping"`     // stopping -> stopped
	ShuttingDown time.Duration `json:"shuttingDown"` // shutting-down -> terminated
}

// DemoDurations are short enough to watch a failover in a demo and long
// enough to see every state.
var DemoDurations = Durations{Pending: 2 * time.Second, Stopping: 3 * time.Second, ShuttingDown: 3 * time.Second}

// Options configure a simulator. The zero value is a usable unit-test
// simulator in us-east-1 with immediate transitions and the real clock.
type Options struct {
	// Region names the region; its AZs are Region+"a", "b" and "c".
	Region string
	// Durations of the transitional instance states.
	Durations Durations
	// Clock drives transitions, added latency and the token bucket;
	// clock.Real by default, a *clock.Fake in tests that step time.
	Clock clock.Clock
	// Seed makes fault injection's dice reproducible; 0 picks one.
	Seed uint64
	// Faults in force from the start.
	Faults Faults
	// IMDSHost, if set (e.g. "127.0.0.1"), gives every instance its own
	// IMDSv2 listener on that host at launch; see IMDSEndpoint.
	IMDSHost string
	// StatePath, if set, is a JSON file the world is loaded from at New
	// and saved to after every change.
	StatePath string
	// TerminatedRetention is how long terminated instances stay visible;
	// AWS says "about an hour", which is the default.
	TerminatedRetention time.Duration
	// Logger receives one debug line per request; nil discards.
	Logger *slog.Logger
}

// Sim is a simulated EC2 region. It is an http.Handler for the EC2 Query
// API, with the admin API under /admin/.
type Sim struct {
	opts Options
	clk  clock.Clock
	log  *slog.Logger

	mu      sync.Mutex // guards w, history and everything in an op
	w       *world
	history []snapshot // for stale reads; empty unless Faults.StaleReads > 0
	saveErr error

	faults faultState
	bus    *eventBus
	imds   *imdsServers
	admin  http.Handler

	reqSeq    atomic.Uint64
	closed    bool // under mu: no new timers
	done      chan struct{}
	closeOnce sync.Once
	timers    sync.WaitGroup
}

// New builds a simulator with the default world, or the one saved at
// opts.StatePath. It panics only on a corrupt state file; use Load to get
// that as an error.
func New(opts Options) *Sim {
	s, err := Load(opts)
	if err != nil {
		panic(err)
	}
	return s
}

// Load is New returning an error when opts.StatePath exists but cannot be
// read.
func Load(opts Options) (*Sim, error) {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Seed == 0 {
		opts.Seed = uint64(time.Now().UnixNano())
	}
	if opts.TerminatedRetention == 0 {
		opts.TerminatedRetention = time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sim{
		opts: opts,
		clk:  opts.Clock,
		log:  opts.Logger,
		bus:  newEventBus(),
		done: make(chan struct{}),
	}
	s.faults.rng = rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	s.imds = newIMDSServers(s, opts.IMDSHost)
	s.admin = s.adminHandler()
	w, err := loadWorld(opts.StatePath)
	if err != nil {
		return nil, err
	}
	if w == nil {
		w = newWorld(opts.Region, opts.Seed&0xffffffff)
	}
	s.w = w
	if err := s.SetFaults(opts.Faults); err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	s.resumeTransitions()
	// Instances restored from a state file get their IMDS back.
	for id, in := range w.Instances {
		if in.State != "terminated" {
			s.imds.open(id)
		}
	}
	return s, nil
}

// Close stops pending transitions, IMDS listeners and event delivery.
// Events already queued are delivered first.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		s.timers.Wait()
		s.imds.closeAll()
		s.bus.close()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveErr
}

// Region is the simulated region.
func (s *Sim) Region() string { return s.opts.Region }

// DefaultSubnets returns the default VPC's subnet ids in AZ order (a, b, c).
func (s *Sim) DefaultSubnets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sn := range s.w.sortedSubnets() {
		if sn.Default {
			out = append(out, sn.ID)
		}
	}
	return out
}

// MainRouteTable returns the default VPC's main route table id.
func (s *Sim) MainRouteTable() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rt := range s.w.RouteTables {
		if rt.Main && s.w.VPCs[rt.VpcID].Default {
			return rt.ID
		}
	}
	return ""
}

// op is one change or read of the world: an API request, a finished
// transition, or a Go API call. Events are collected and published when
// the change is complete.
type op struct {
	s      *Sim
	w      *world
	p      params
	now    time.Time
	events []Event
	dirty  bool
}

func (o *op) emit(e Event) {
	e.Time = o.now
	o.events = append(o.events, e)
	o.dirty = true
}

// mutate runs fn on the live world under the lock, then persists and
// publishes what it did. fn's error does not undo partial changes, so
// handlers validate before they change anything.
func (s *Sim) mutate(p params, fn func(o *op) (any, error)) (any, error) {
	s.mu.Lock()
	o := &op{s: s, w: s.w, p: p, now: s.clk.Now()}
	out, err := fn(o)
	if o.dirty {
		s.afterWrite(o.now)
	}
	// Queued under the lock, so events are in the order the changes were
	// made; publish only queues, subscribers run on the bus's goroutine.
	s.bus.publish(o.events)
	s.mu.Unlock()
	return out, err
}

// read runs fn on the world a reader sees: the live one, or a past one
// while stale reads are injected.
func (s *Sim) read(p params, fn func(o *op) (any, error)) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	s.purgeTerminated(now)
	o := &op{s: s, w: s.staleWorld(now), p: p, now: now}
	return fn(o)
}

type handler struct {
	fn   func(*op) (any, error)
	read bool // Describe*: may be served stale
}

// ServeHTTP answers the EC2 Query API on every path but /admin/.
func (s *Sim) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/admin/") {
		s.admin.ServeHTTP(rw, r)
		return
	}
	reqID := s.newRequestID()
	// Credentials are not checked: any SigV4 signature, or none, is accepted.
	if err := r.ParseForm(); err != nil {
		writeError(rw, reqID, clientErr("MalformedQueryString", "%v", err))
		return
	}
	p := newParams(r.Form)
	action := p.str("Action")
	out, err := s.call(r.Context(), action, p)
	s.log.Debug("ec2sim request", "action", action, "request_id", reqID, "err", err)
	if err != nil {
		apiErr, ok := err.(*APIError)
		if !ok {
			apiErr = &APIError{Status: http.StatusInternalServerError, Code: "InternalError", Message: err.Error()}
		}
		writeError(rw, reqID, apiErr)
		return
	}
	if rb, ok := out.(interface{ setRequestID(string) }); ok {
		rb.setRequestID(reqID)
	}
	rw.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	rw.Header().Set("X-Amzn-Requestid", reqID)
	_, _ = rw.Write([]byte(xml.Header))
	enc := xml.NewEncoder(rw)
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: Namespace}}}
	if err := enc.EncodeElement(out, start); err != nil {
		s.log.Error("ec2sim: encoding response", "action", action, "err", err)
	}
}

// call applies injected faults, then runs the action.
func (s *Sim) call(ctx context.Context, action string, p params) (any, error) {
	if action == "" {
		return nil, missing("Action")
	}
	h, ok := actions[action]
	if !ok {
		return nil, clientErr("InvalidAction", "The action %s is not valid for this web service.", action)
	}
	if err := s.injectFaults(ctx, action); err != nil {
		return nil, err
	}
	if dry, err := p.boolean("DryRun"); err != nil {
		return nil, err
	} else if dry {
		return nil, errDryRun
	}
	if h.read {
		return s.read(p, h.fn)
	}
	return s.mutate(p, h.fn)
}

// newRequestID makes a UUID-shaped request id, unique per simulator.
func (s *Sim) newRequestID() string {
	n := s.reqSeq.Add(1)
	r := rand.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", uint32(r>>32), uint16(r>>16), uint16(r>>4)&0xfff, uint16(r)&0xfff, n&0xffffffffffff)
}

type errorResponse struct {
	XMLName   xml.Name `xml:"Response"`
	Errors    []xError `xml:"Errors>Error"`
	RequestID string   `xml:"RequestID"`
}

type xError struct {
	Code    string
	Message string
}

func writeError(rw http.ResponseWriter, reqID string, e *APIError) {
	rw.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	rw.Header().Set("X-Amzn-Requestid", reqID)
	rw.WriteHeader(e.Status)
	_, _ = rw.Write([]byte(xml.Header))
	_ = xml.NewEncoder(rw).Encode(errorResponse{Errors: []xError{{e.Code, e.Message}}, RequestID: reqID})
}

// respBase carries the request id every EC2 response starts with.
type respBase struct {
	RequestID string `xml:"requestId"`
}

func (r *respBase) setRequestID(id string) { r.RequestID = id }

type boolResp struct {
	respBase
	Return bool `xml:"return"`
}

func returnTrue() (any, error) { return &boolResp{Return: true}, nil }
