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

// clocked observes f with the fake clock's time, as a real observer would.
type clocked struct {
	*fakeCluster
	clk *clock.Fake
}

func (c clocked) Observe(ctx context.Context) (Observation, error) {
	c.obs.Now = c.clk.Now()
	return c.fakeCluster.Observe(ctx)
}

func TestExecutorRunCarriesAFailoverThroughWithoutWaitingForResync(t *testing.T) {
	f := deadA()
	clk := clock.NewFake(t0)
	f.obs.Now, f.obs.ViewSince = t0, t0.Add(-time.Hour)
	cfg := testConfig()
	cfg.Replacement.Enabled = false
	e := &Executor{Config: cfg, Observer: clocked{f, clk}, Actor: f, Clock: clk, Resync: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx, nil) }()
	if err := clk.BlockUntilWaiting(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	// Fence, move and start each need the one before confirmed; all of
	// them happened with the clock standing still.
	if g := f.obs.Groups[0]; g.Running != "b" || len(g.Holders) != 1 || g.Holders[0] != "i-b" {
		t.Fatalf("after Run settled, web is %+v; done %v", g, f.done)
	}
}

func TestExecutorRunLooksAgainWhenTheSettleTimeEnds(t *testing.T) {
	f := deadA()
	clk := clock.NewFake(t0)
	f.obs.ViewSince = t0 // the view just changed
	cfg := testConfig()
	cfg.SettleTime = 3 * time.Second
	cfg.Replacement.Enabled = false
	e := &Executor{Config: cfg, Observer: clocked{f, clk}, Actor: f, Clock: clk, Resync: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- e.Run(ctx, nil) }()
	if err := clk.BlockUntilWaiting(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if len(f.done) != 0 {
		t.Fatalf("acted %v while settling", f.done)
	}
	clk.Advance(3 * time.Second) // not the hour of the resync
	if err := clk.BlockUntilWaiting(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if f.obs.Groups[0].Running != "b" {
		t.Fatalf("after the settle time web is %+v; done %v", f.obs.Groups[0], f.done)
	}
}

// A step that fails inside Run is reported, so the agent can log why its
// coordinator is not getting anywhere.
func TestExecutorRunReportsFailedSteps(t *testing.T) {
	f := deadA()
	f.failKind = Fence
	clk := clock.NewFake(t0)
	failed := make(chan error, 10)
	e := &Executor{Config: testConfig(), Observer: f, Actor: f, Clock: clk, Resync: time.Minute,
		Failed: func(err error) { failed <- err }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx, nil) }()
	select {
	case err := <-failed:
		if err == nil || err.Error() != "API failure" {
			t.Fatalf("reported %v, want the fence's API failure", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the failed fence was not reported")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}
