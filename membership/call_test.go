package membership

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/membership/memtest"
)

// echo answers "node<-from:body".
func echo(name string) func(context.Context, string, []byte) ([]byte, error) {
	return func(_ context.Context, from string, body []byte) ([]byte, error) {
		return fmt.Appendf(nil, "%s<-%s:%s", name, from, body), nil
	}
}

// handlerCluster starts nodes whose handlers are made by h(name).
func handlerCluster(t *testing.T, h func(name string) func(context.Context, string, []byte) ([]byte, error), names ...string) *cluster {
	c := fastCluster(t, len(names))
	for _, name := range names {
		c.base.Handler = h(name)
		c.start(name)
	}
	c.base.Handler = nil
	for _, n := range c.nodes {
		sees(t, n, alive(names...))
	}
	return c
}

func callCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestCallRoundTrip(t *testing.T) {
	c := handlerCluster(t, echo, "a", "b")
	a := c.nodes["a"]
	got, err := a.Call(callCtx(t, waitTimeout), "b", []byte(`{"op":"status"}`))
	if err != nil || string(got) != `b<-a:{"op":"status"}` {
		t.Fatalf("a→b: %q, %v", got, err)
	}
	got, err = a.Call(callCtx(t, waitTimeout), "a", []byte("self"))
	if err != nil || string(got) != "a<-a:self" {
		t.Fatalf("a→a: %q, %v", got, err)
	}
}

func TestCallErrors(t *testing.T) {
	c := handlerCluster(t, func(name string) func(context.Context, string, []byte) ([]byte, error) {
		return func(context.Context, string, []byte) ([]byte, error) {
			return nil, errors.New("start hook of web: exit status 3")
		}
	}, "a", "b")
	c.start("c") // no handler
	sees(t, c.nodes["a"], alive("a", "b", "c"))
	a := c.nodes["a"]

	_, err := a.Call(callCtx(t, waitTimeout), "b", []byte("start web"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Node != "b" || err.Error() != "start hook of web: exit status 3" {
		t.Fatalf("handler error: %#v", err)
	}
	var rv RemoteError
	if !errors.As(err, &rv) || rv.Msg != "start hook of web: exit status 3" {
		t.Fatalf("errors.As with a value target: %#v", rv)
	}
	if _, err := a.Call(callCtx(t, waitTimeout), "a", nil); !errors.As(err, &re) || re.Node != "a" {
		t.Fatalf("local handler error: %#v", err)
	}
	if _, err := a.Call(callCtx(t, waitTimeout), "c", nil); !errors.As(err, &re) || re.Msg != "no handler" || re.Node != "c" {
		t.Fatalf("nil handler: %#v", err)
	}
	_, err = a.Call(callCtx(t, waitTimeout), "zz", nil)
	if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "zz") {
		t.Fatalf("unknown member: %v", err)
	}
	c.crash("b")
	sees(t, a, map[string]State{"b": StateDead})
	_, err = a.Call(callCtx(t, waitTimeout), "b", nil)
	if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "b: not an alive member") {
		t.Fatalf("dead member: %v", err)
	}
}

func TestCallHandlerPanicIsAnError(t *testing.T) {
	c := handlerCluster(t, func(name string) func(context.Context, string, []byte) ([]byte, error) {
		return func(context.Context, string, []byte) ([]byte, error) { panic("boom") }
	}, "a", "b")
	var re *RemoteError
	if _, err := c.nodes["a"].Call(callCtx(t, waitTimeout), "b", nil); !errors.As(err, &re) || !strings.Contains(re.Msg, "boom") {
		t.Fatalf("panicking handler: %v", err)
	}
}

// blackhole drops outgoing dials silently once on, as a TCP connect to a
// partitioned host hangs until its timeout (memtest refuses at once).
type blackhole struct {
	*memtest.Transport
	on atomic.Bool
}

func (b *blackhole) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if b.on.Load() {
		time.Sleep(timeout)
		return nil, fmt.Errorf("dial %s: i/o timeout", addr)
	}
	return b.Transport.DialTimeout(addr, timeout)
}

func TestCallToPartitionedMemberEndsWithTheContext(t *testing.T) {
	c := fastCluster(t, 2)
	c.base.Handler = echo("x")
	bh := &blackhole{Transport: c.net.NewTransport()}
	a := c.startWith("a", bh)
	b := c.start("b")
	sees(t, a, alive("a", "b"))
	if _, err := a.Call(callCtx(t, waitTimeout), "b", nil); err != nil {
		t.Fatalf("before the partition: %v", err)
	}

	c.net.Partition([]string{a.Addr()}, []string{b.Addr()})
	bh.on.Store(true)
	ctx := callCtx(t, 300*time.Millisecond)
	start := time.Now()
	_, err := a.Call(ctx, "b", []byte("hello?"))
	took := time.Since(start)
	var re *RemoteError
	if err == nil || errors.As(err, &re) {
		t.Fatalf("call across a partition: %v", err)
	}
	// Either b was still alive in a's view and the context ended the call,
	// or the failure detector was quicker; never memberlist's 10s dial.
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "not an alive member") {
		t.Fatalf("call across a partition: %v", err)
	}
	if took > 5*time.Second {
		t.Fatalf("call took %v after a 300ms context", took)
	}
	t.Logf("returned after %v: %v", took, err)
}

func TestCallDeadlineReachesTheHandler(t *testing.T) {
	ended := make(chan error, 1)
	c := handlerCluster(t, func(name string) func(context.Context, string, []byte) ([]byte, error) {
		return func(ctx context.Context, _ string, _ []byte) ([]byte, error) {
			<-ctx.Done()
			ended <- ctx.Err()
			return nil, ctx.Err()
		}
	}, "a", "b")
	_, err := c.nodes["a"].Call(callCtx(t, 500*time.Millisecond), "b", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("handler that never answers: %v", err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("handler's context ended with %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the handler's context never ended")
	}
}

func TestConcurrentCallsGetTheirOwnReplies(t *testing.T) {
	c := handlerCluster(t, func(name string) func(context.Context, string, []byte) ([]byte, error) {
		return func(_ context.Context, from string, body []byte) ([]byte, error) {
			// Answer out of order: later calls often finish first.
			time.Sleep(time.Duration(len(body)%7) * 5 * time.Millisecond)
			if strings.HasSuffix(string(body), "3") {
				return nil, fmt.Errorf("refused %s", body)
			}
			return fmt.Appendf(nil, "%s<-%s:%s", name, from, body), nil
		}
	}, "a", "b", "c")
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 60 {
		wg.Go(func() {
			from := c.nodes[[]string{"a", "b", "c"}[i%3]]
			to := []string{"a", "b", "c"}[(i/3)%3]
			body := fmt.Sprintf("call-%s-%d", strings.Repeat("x", i%5), i)
			got, err := from.Call(callCtx(t, waitTimeout), to, []byte(body))
			var re *RemoteError
			switch {
			case strings.HasSuffix(body, "3"):
				if !errors.As(err, &re) || re.Msg != "refused "+body || re.Node != to {
					errs <- fmt.Errorf("%s→%s %s: want refusal, got %q, %v", from.Name(), to, body, got, err)
				}
			case err != nil:
				errs <- fmt.Errorf("%s→%s %s: %v", from.Name(), to, body, err)
			case string(got) != to+"<-"+from.Name()+":"+body:
				errs <- fmt.Errorf("%s→%s %s: got %q", from.Name(), to, body, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
