package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeFiresOnlyWhenDue(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	early, late := f.After(time.Second), f.After(3*time.Second)
	f.Advance(2 * time.Second)
	select {
	case at := <-early:
		if !at.Equal(start.Add(time.Second)) {
			t.Fatalf("early fired at %v", at)
		}
	default:
		t.Fatal("timer due after 1s did not fire after 2s")
	}
	select {
	case <-late:
		t.Fatal("timer due after 3s fired after 2s")
	default:
	}
	f.Advance(time.Second)
	<-late
	if got := f.Now().Sub(start); got != 3*time.Second {
		t.Fatalf("Now advanced by %v, want 3s", got)
	}
}

func TestSleepWakesOnAdvanceOrCancel(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	done := make(chan error, 1)
	go func() { done <- Sleep(context.Background(), f, time.Minute) }()
	if err := f.BlockUntilWaiting(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatalf("Sleep returned %v after the clock advanced", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- Sleep(ctx, f, time.Minute) }()
	_ = f.BlockUntilWaiting(context.Background(), 1)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Sleep returned %v after cancel, want context.Canceled", err)
	}
}
