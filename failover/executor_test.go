package failover

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/internal/clock"
)

// fakeCluster is an Observer and Actor over one Observation that actions
// change the way EC2 and the hooks would.
type fakeCluster struct {
	obs      Observation
	done     []Action
	failKind Kind
	observed int
}

func (f *fakeCluster) Observe(context.Context) (Observation, error) {
	f.observed++
	return f.obs, nil
}

func (f *fakeCluster) Do(_ context.Context, a Action) error {
	if a.Kind == f.failKind {
		return errors.New("API failure")
	}
	f.done = append(f.done, a)
	g := &f.obs.Groups[0]
	switch a.Kind {
	case Fence:
		setInstance(&f.obs, a.Instance, Stopped)
	case MoveResources:
		g.Holders = []string{"i-" + a.Node}
	case StartGroup:
		g.Running = a.Node
	case StopGroup:
		g.Running = ""
	}
	return nil
}

func deadA() *fakeCluster {
	obs := healthyObs()
	obs.Local = "b"
	member(&obs, "a").State = Dead
	return &fakeCluster{obs: obs, failKind: -1}
}

func TestExecutorFinishesFailoverOverSteps(t *testing.T) {
	f := deadA()
	cfg := testConfig()
	cfg.Replacement.Enabled = false
	var events []Event
	e := &Executor{Config: cfg, Observer: f, Actor: f, Clock: clock.NewFake(t0), Record: func(ev Event) { events = append(events, ev) }}
	for range 3 {
		if err := e.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got := effects(Decision{Actions: f.done})
	if want := "fence i-a, move-resources b, start-group b"; got != want {
		t.Fatalf("carried out %q, want %q", got, want)
	}
	if len(events) == 0 || events[len(events)-1].Action.Reason == "" {
		t.Fatalf("events lack reasons: %v", events)
	}
}

func TestExecutorStopsAtFailureAndRetriesFromEC2State(t *testing.T) {
	f := deadA()
	setInstance(&f.obs, "i-a", Stopped)
	f.failKind = StartGroup
	cfg := testConfig()
	cfg.Replacement.Enabled = false
	e := &Executor{Config: cfg, Observer: f, Actor: f, Clock: clock.NewFake(t0)}
	if err := e.Step(context.Background()); err == nil {
		t.Fatal("Step hid the start hook's failure")
	}
	// A new coordinator after a crash: same EC2 state, fresh executor.
	f.failKind = -1
	e2 := &Executor{Config: cfg, Observer: f, Actor: f, Clock: clock.NewFake(t0)}
	if err := e2.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := effects(Decision{Actions: f.done}), "move-resources b, start-group b"; got != want {
		t.Fatalf("carried out %q, want %q (the move must not be repeated once EC2 shows it done)", got, want)
	}
}

func TestExecutorRechecksBeforeEachAction(t *testing.T) {
	f := deadA()
	setInstance(&f.obs, "i-a", Stopped)
	cfg := testConfig()
	cfg.Replacement.Enabled = false
	// Quorum is lost as soon as the first action is done.
	act := actorFunc(func(ctx context.Context, a Action) error {
		err := f.Do(ctx, a)
		f.obs.Quorum.Quorate = false
		return err
	})
	e := &Executor{Config: cfg, Observer: f, Actor: act, Clock: clock.NewFake(t0)}
	if err := e.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := effects(Decision{Actions: f.done}), "move-resources b"; got != want {
		t.Fatalf("carried out %q after losing quorum, want only %q", got, want)
	}
}

type actorFunc func(context.Context, Action) error

func (f actorFunc) Do(ctx context.Context, a Action) error { return f(ctx, a) }

func TestExecutorRunResyncsOnTheClock(t *testing.T) {
	f := deadA()
	clk := clock.NewFake(t0)
	e := &Executor{Config: testConfig(), Observer: f, Actor: f, Clock: clk, Resync: 30 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx, nil) }()
	if err := clk.BlockUntilWaiting(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	if err := clk.BlockUntilWaiting(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if f.observed < 2 {
		t.Fatalf("observed %d times; the resync did not step again", f.observed)
	}
}
