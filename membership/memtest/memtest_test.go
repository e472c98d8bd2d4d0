package memtest

import (
	"testing"
	"time"
)

func received(t *Transport) int {
	n := 0
	for {
		select {
		case <-t.PacketCh():
			n++
		default:
			return n
		}
	}
}

func TestPartitionLossAndCrash(t *testing.T) {
	net := NewNetwork()
	a, b, c := net.NewTransport(), net.NewTransport(), net.NewTransport()
	if a.Addr() == b.Addr() {
		t.Fatal("two transports share an address")
	}
	send := func(from, to *Transport, n int) {
		for range n {
			if _, err := from.WriteTo([]byte("x"), to.Addr()); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(a, b, 10)
	if got := received(b); got != 10 {
		t.Fatalf("lossless network delivered %d of 10", got)
	}

	net.Partition([]string{a.Addr()}, []string{b.Addr(), c.Addr()})
	send(a, b, 10)
	send(c, b, 10)
	if got := received(b); got != 10 {
		t.Fatalf("across and within a partition: %d delivered, want only the 10 from c", got)
	}
	if _, err := a.DialTimeout(b.Addr(), time.Second); err == nil {
		t.Fatal("stream crossed the partition")
	}
	net.Heal()

	net.SetLoss(0.5)
	send(a, b, 1000)
	if got := received(b); got < 350 || got > 650 {
		t.Fatalf("50%% loss delivered %d of 1000", got)
	}
	net.SetLoss(0)

	conn, err := a.DialTimeout(b.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	peer := <-b.StreamCh()
	go func() { _, _ = conn.Write([]byte("hi")) }()
	buf := make([]byte, 2)
	if _, err := peer.Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("stream read %q, %v", buf, err)
	}

	_ = b.Shutdown()
	send(a, b, 5)
	if _, err := a.DialTimeout(b.Addr(), time.Second); err == nil {
		t.Fatal("dialed a crashed node")
	}
	r := net.Reattach(b.Addr())
	send(a, r, 3)
	if got := received(r); got != 3 {
		t.Fatalf("restarted node got %d of 3", got)
	}
}
