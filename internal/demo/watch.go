package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ec2ha/ec2ha/internal/api"
)

// probe is the client's view of the service: it resolves the Elastic IP's
// current association (as EC2's network would route it) to the node whose
// machine holds it, and GETs that node's application.
func (r *run) probe(ctx context.Context) (node string, code int, body string) {
	r.mu.Lock()
	inst := r.eipOn
	var addr string
	for _, np := range r.procs {
		if np.instanceID == inst {
			node, addr = np.node.Name, np.node.Addr
		}
	}
	r.mu.Unlock()
	switch {
	case inst == "":
		return "", 0, "the Elastic IP is not associated"
	case addr == "":
		return inst, 0, "the Elastic IP points at " + inst + ", which has no machine"
	}
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(addr, strconv.Itoa(r.p.App))+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return node, 0, "no answer: " + shortErr(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	return node, resp.StatusCode, strings.TrimSpace(string(b))
}

func shortErr(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "connection refused"):
		return "connection refused"
	case strings.Contains(s, "deadline exceeded"), strings.Contains(s, "timeout"):
		return "timed out"
	}
	return s
}

// client probes the service every 50ms, prints each change of answer,
// and marks the first 200 from a node other than the failed one.
func (r *run) client(ctx context.Context, last string) {
	for ctx.Err() == nil {
		node, code, body := r.probe(ctx)
		now := time.Now()
		if ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		victim := r.victim.Name
		if code == http.StatusOK && (victim == "" || node == victim) {
			r.lastOldOK = now
		}
		r.mu.Unlock()
		answer := answerKey(node, code, body)
		if answer != last {
			last = answer
			what := body
			if code != 0 {
				what = fmt.Sprintf("%d %s", code, body)
			}
			r.tl.Note("client", fmt.Sprintf("%s → %s: %s", r.w.PublicIP, orDash(node), what), now)
		}
		if code == http.StatusOK && victim != "" && node != victim && r.tl.Started() {
			if r.tl.Mark(StepServing, fmt.Sprintf("service answering on %s: %q", node, body), "client", now) {
				r.mu.Lock()
				r.newOwner = node
				r.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func answerKey(node string, code int, body string) string {
	return fmt.Sprintf("%s %d %s", node, code, body)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// watchAgents follows a surviving agent: its view of the failed member
// and of quorum from /v1/status, and its history from /v1/history.
func (r *run) watchAgents(ctx context.Context) {
	seen := map[string]uint64{} // agent -> last history seq printed
	fault, _ := r.tl.At(StepFault)
	for ctx.Err() == nil {
		name, c := r.watcher()
		if c != nil {
			r.watchOnce(ctx, name, c, seen, fault)
		}
		select {
		case <-ctx.Done():
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// watcher picks a live agent that is not the failed node's.
func (r *run) watcher() (string, *api.Client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.w.Nodes {
		if np := r.procs[n.Name]; np != nil && np.agent.Alive() && n.Name != r.victim.Name {
			return n.Name, r.agentClient(n.Name)
		}
	}
	return "", nil
}

func (r *run) watchOnce(ctx context.Context, name string, c *api.Client, seen map[string]uint64, fault time.Time) {
	// Generous: an agent may answer slowly while EC2 throttles it.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r.mu.Lock()
	victim, replacement := r.victim.Name, r.replacement
	r.mu.Unlock()

	if events, err := c.History(ctx, seen[name], 200); err == nil {
		for _, e := range events {
			seen[name] = e.Seq
			if e.Time.Before(fault) {
				continue
			}
			r.tl.Note("agent", fmt.Sprintf("%s: %s", name, describeEvent(e)), e.Time)
			switch {
			case e.Node == victim && isMemberFailure(e):
				r.tl.Mark(StepDetected, fmt.Sprintf("%s detected as failed by %s (%s)", victim, name, e.Kind), "agent", e.Time)
			case e.Node == victim && isMemberReturn(e) && r.tl.Has(StepRunning):
				r.tl.Mark(StepJoined, fmt.Sprintf("%s joined again on %s (%s in %s's history)", victim, replacement, e.Kind, name), "agent", e.Time)
			}
		}
	}
	st, err := c.Status(ctx)
	if err != nil {
		return
	}
	now := time.Now()
	m := memberOf(st, victim)
	if m != nil && m.State != "alive" && m.State != "suspect" && !r.tl.Has(StepLaunched) {
		r.tl.Mark(StepDetected, fmt.Sprintf("%s is %s in %s's view", victim, m.State, name), "agent", now)
	}
	if r.tl.Has(StepDetected) && st.Quorum.Quorate {
		r.tl.Mark(StepQuorum, fmt.Sprintf("quorum kept: %d of %d votes (%d needed)", st.Quorum.Votes, st.Quorum.Expected, st.Quorum.Needed), "agent", now)
	}
	if r.tl.Has(StepRunning) && m != nil && m.State == "alive" && replacement != "" && (m.InstanceID == replacement || m.InstanceID == "") {
		r.tl.Mark(StepJoined, fmt.Sprintf("%s joined again on %s (alive in %s's view)", victim, replacement, name), "agent", now)
	}
}

// isMemberFailure recognises the agent's event for a member declared
// failed, whatever its exact kind name.
func isMemberFailure(e api.Event) bool {
	k := strings.ToLower(e.Kind)
	if !strings.Contains(k, "member") && !strings.Contains(k, "detect") {
		return false
	}
	text := k + " " + strings.ToLower(e.Outcome) + " " + strings.ToLower(e.Message)
	return strings.Contains(text, "fail") || strings.Contains(text, "dead")
}

// isMemberReturn recognises the agent's event for a member that is back.
func isMemberReturn(e api.Event) bool {
	k := strings.ToLower(e.Kind)
	return strings.Contains(k, "member") && (strings.Contains(k, "recover") || strings.Contains(k, "join") || strings.Contains(k, "alive"))
}

func describeEvent(e api.Event) string {
	parts := []string{e.Kind}
	if e.Node != "" {
		parts = append(parts, e.Node)
	}
	if e.Group != "" {
		parts = append(parts, "group "+e.Group)
	}
	if e.Outcome != "" {
		parts = append(parts, e.Outcome)
	}
	s := strings.Join(parts, " ")
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Duration > 0 {
		s += fmt.Sprintf(" (%s)", e.Duration.Round(time.Millisecond))
	}
	return s
}
