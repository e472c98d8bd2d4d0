package failover

import (
	"context"
	"time"

	"github.com/ec2ha/ec2ha/internal/clock"
)

// Observer gathers a fresh Observation: the membership view and quorum,
// and EC2's state asked anew, never a cached belief.
type Observer interface {
	Observe(ctx context.Context) (Observation, error)
}

// Actor carries out one action. It must be idempotent: an action may be
// repeated after a crash or a lost reply.
type Actor interface {
	Do(ctx context.Context, a Action) error
}

// Event records one decision or outcome for `history`.
type Event struct {
	At     time.Time
	Action Action
	// Err is the outcome of an executed action; nil if it succeeded or was
	// not executed.
	Err error
	// Done is true once the action was carried out.
	Done bool
}

// Executor runs observe → decide → act → observe. It keeps no state between
// steps that a successor would need: everything comes from Observe, so a
// coordinator that crashes mid-way is finished by the next from EC2's state.
type Executor struct {
	Config   Config
	Observer Observer
	Actor    Actor
	Clock    clock.Clock
	// Resync is the period of the level-triggered resync.
	Resync time.Duration
	// Record receives every event; nil drops them.
	Record func(Event)
	// Failed receives the error of every failed step (an observation EC2
	// did not answer, an action that failed), so that a coordinator that
	// keeps failing says why; nil drops them.
	Failed func(error)
}

func (e *Executor) record(ev Event) {
	if e.Record != nil {
		e.Record(ev)
	}
}

// Step observes, decides and acts once. Before each effect after the first it
// observes again and decides again, and stops unless the fresh decision
// still asks for that same action: coordination and quorum are re-checked
// before every action, and an action made moot by the previous one is
// dropped. It stops at the first failure; the next step starts over from
// what is observed then.
func (e *Executor) Step(ctx context.Context) error {
	_, _, err := e.step(ctx)
	return err
}

// step is Step, also saying whether an action was carried out and when the
// decision asked to be looked at again.
func (e *Executor) step(ctx context.Context) (acted bool, requeue time.Duration, err error) {
	obs, err := e.Observer.Observe(ctx)
	if err != nil {
		return false, 0, err
	}
	d := Decide(e.Config, obs)
	requeue = d.RequeueAfter()
	for _, a := range d.Actions {
		if !a.effect() {
			e.record(Event{At: obs.Now, Action: a})
		}
	}
	for i, a := range d.Effects() {
		if i > 0 {
			if obs, err = e.Observer.Observe(ctx); err != nil {
				return acted, requeue, err
			}
			if !containsAction(Decide(e.Config, obs).Effects(), a) {
				return acted, requeue, nil
			}
		}
		err := e.Actor.Do(ctx, a)
		e.record(Event{At: e.Clock.Now(), Action: a, Err: err, Done: err == nil})
		if err != nil {
			return acted, requeue, err
		}
		acted = true
	}
	return acted, requeue, nil
}

// maxBackToBack bounds the steps taken one after another without waiting,
// so an action that succeeds without changing what is observed cannot spin.
const maxBackToBack = 20

func containsAction(acts []Action, a Action) bool {
	for _, b := range acts {
		if b.Kind == a.Kind && b.Group == a.Group && b.Node == a.Node && b.Instance == a.Instance {
			return true
		}
	}
	return false
}

// Run steps until ctx ends: at once again after a step that acted (the
// next action of a failover, a fence confirmed then the move, needs no
// outside event), when a wait the engine explained runs out, whenever wake
// fires (membership events), and every Resync. A failed step is retried at
// the next wake or resync.
func (e *Executor) Run(ctx context.Context, wake <-chan struct{}) error {
	backToBack := 0
	for {
		acted, requeue, err := e.step(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && e.Failed != nil {
			e.Failed(err)
		}
		if acted && err == nil && backToBack < maxBackToBack {
			backToBack++
			continue
		}
		backToBack = 0
		next := e.Resync
		if requeue > 0 && requeue < next {
			next = requeue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-e.Clock.After(next):
		}
	}
}
