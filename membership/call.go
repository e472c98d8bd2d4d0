package membership

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Call is a request/reply between two members. The request and the reply
// each travel as one memberlist user message over a reliable stream
// (SendReliable), so they are encrypted and labelled like the rest of the
// gossip; a request carries an id the reply echoes, matched in a pending
// map as the key operations do.

const (
	msgCallRequest byte = 'C'
	msgCallReply   byte = 'A'
)

type callRequest struct {
	ID   string `json:"id"`
	From string `json:"from"`
	// Timeout is what was left of the caller's deadline when it sent the
	// request (0: none), so the handler stops when the caller gives up.
	Timeout time.Duration `json:"t,omitempty"`
	Body    []byte        `json:"b,omitempty"`
}

type callReply struct {
	ID     string `json:"id"`
	From   string `json:"from"`
	Body   []byte `json:"b,omitempty"`
	Failed bool   `json:"x,omitempty"`
	Err    string `json:"e,omitempty"`
}

// RemoteError is the error a member's Handler returned to a Call, as
// opposed to a failure to reach the member (those are other errors). Call
// returns it as *RemoteError; errors.As finds it with a *RemoteError or a
// RemoteError target.
type RemoteError struct {
	Node string // the member whose handler failed
	Msg  string // the handler's error text
}

// Error is the remote error's text, unchanged.
func (e RemoteError) Error() string { return e.Msg }

// As lets errors.As fill a RemoteError (value) target as well.
func (e *RemoteError) As(target any) bool {
	if t, ok := target.(*RemoteError); ok {
		*t = *e
		return true
	}
	return false
}

// errNoHandler answers calls when Config.Handler is nil.
var errNoHandler = errors.New("no handler")

// Call sends body to the named member's Handler and returns its answer.
// It waits for the reply until ctx ends (a member that cannot be reached or
// never answers costs exactly the caller's deadline, never memberlist's TCP
// timeout). The handler's error comes back as *RemoteError; an unknown,
// dead or left member, a failed send, ctx's end and shutdown are other
// errors. Calling the local node's own name runs the handler directly.
func (n *Node) Call(ctx context.Context, to string, body []byte) ([]byte, error) {
	if to == n.cfg.NodeName {
		out, err := n.runHandler(ctx, to, body)
		if err != nil {
			return nil, &RemoteError{Node: to, Msg: err.Error()}
		}
		return out, nil
	}
	target, ok := n.peer(to)
	if !ok {
		return nil, fmt.Errorf("membership: call to %s: not an alive member of the cluster", to)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("membership: call to %s: %w", to, err)
	}

	id, replies, done := n.calls.add(1)
	defer done()
	req := callRequest{ID: id, From: n.cfg.NodeName, Body: body}
	if dl, ok := ctx.Deadline(); ok {
		req.Timeout = max(time.Until(dl), time.Millisecond)
	}
	b, _ := json.Marshal(req)
	msg := append([]byte{msgCallRequest}, b...)

	// SendReliable dials with memberlist's TCPTimeout (10s by default) and
	// knows no context: it runs aside so ctx alone bounds the call.
	sent := make(chan error, 1)
	go func() { sent <- n.ml.SendReliable(target, msg) }()
	for {
		select {
		case err := <-sent:
			if err != nil {
				return nil, fmt.Errorf("membership: call to %s: send: %w", to, err)
			}
			sent = nil
		case r := <-replies:
			if r.From != to {
				continue
			}
			if r.Failed {
				// A handler stopped by the deadline this call gave it
				// answers about when that deadline passes here, and the
				// reply may win the race with ctx.Done(): the caller
				// gave up, so it learns that, not the handler's echo. (A
				// busy machine may also run the deadline's timer late,
				// hence the look at the clock.)
				if err := ctx.Err(); err != nil {
					return nil, fmt.Errorf("membership: call to %s: no reply: %w", to, err)
				}
				if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
					return nil, fmt.Errorf("membership: call to %s: no reply: %w", to, context.DeadlineExceeded)
				}
				return nil, &RemoteError{Node: to, Msg: r.Err}
			}
			return r.Body, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("membership: call to %s: no reply: %w", to, ctx.Err())
		case <-n.stop:
			return nil, fmt.Errorf("membership: call to %s: the local node shut down", to)
		}
	}
}

// runHandler calls Config.Handler, turning a panic into an error: one bad
// request must not take the agent down.
func (n *Node) runHandler(ctx context.Context, from string, body []byte) (out []byte, err error) {
	h := n.cfg.Handler
	if h == nil {
		return nil, errNoHandler
	}
	defer func() {
		if p := recover(); p != nil {
			n.log.Error("call handler panicked", "from", from, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			out, err = nil, fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h(ctx, from, body)
}

// handleCallMsg runs on memberlist's receive path: requests go to their
// own goroutine, replies to the waiting Call.
func (n *Node) handleCallMsg(b []byte) {
	switch b[0] {
	case msgCallRequest:
		var req callRequest
		if err := json.Unmarshal(b[1:], &req); err != nil {
			n.log.Warn("unreadable call request", "err", err)
			return
		}
		go n.answerCall(req)
	case msgCallReply:
		var rep callReply
		if err := json.Unmarshal(b[1:], &rep); err != nil {
			n.log.Warn("unreadable call reply", "err", err)
			return
		}
		n.calls.deliver(rep.ID, rep)
	}
}

func (n *Node) answerCall(req callRequest) {
	select {
	case <-n.ready:
	case <-n.ctx.Done():
		return
	}
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	if req.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	out, err := n.runHandler(ctx, req.From, req.Body)
	rep := callReply{ID: req.ID, From: n.cfg.NodeName, Body: out}
	if err != nil {
		rep.Body, rep.Failed, rep.Err = nil, true, err.Error()
	}
	b, _ := json.Marshal(rep)
	if to, ok := n.peer(req.From); ok {
		if err := n.ml.SendReliable(to, append([]byte{msgCallReply}, b...)); err != nil {
			n.log.Warn("cannot send call reply", "to", req.From, "err", err)
		}
		return
	}
	n.log.Warn("cannot send call reply: caller is not an alive member", "to", req.From)
}

// pending matches replies to the requests waiting for them by id.
type pending[T any] struct {
	mu sync.Mutex
	m  map[string]chan T
}

// add registers a new request id; done unregisters it. The channel holds
// size replies before further ones are dropped.
func (p *pending[T]) add(size int) (id string, replies chan T, done func()) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id = hex.EncodeToString(b)
	replies = make(chan T, max(1, size))
	p.mu.Lock()
	if p.m == nil {
		p.m = map[string]chan T{}
	}
	p.m[id] = replies
	p.mu.Unlock()
	return id, replies, func() {
		p.mu.Lock()
		delete(p.m, id)
		p.mu.Unlock()
	}
}

// deliver hands v to the request waiting under id, if any, without
// blocking: a reply for a request that gave up is dropped.
func (p *pending[T]) deliver(id string, v T) {
	p.mu.Lock()
	ch := p.m[id]
	p.mu.Unlock()
	if ch != nil {
		select {
		case ch <- v:
		default:
		}
	}
}
