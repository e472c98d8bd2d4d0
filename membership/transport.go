package membership

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// countingTransport wraps a memberlist.Transport to count gossip bytes in
// both directions for the metrics and benchmarks.
type countingTransport struct {
	memberlist.Transport
	st      *stats
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	closed  chan struct{} // the wrapped transport has shut down
	once    sync.Once
}

func newCountingTransport(t memberlist.Transport, st *stats) *countingTransport {
	c := &countingTransport{Transport: t, st: st, packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), done: make(chan struct{}), closed: make(chan struct{})}
	go c.forward()
	return c
}

func (c *countingTransport) forward() {
	defer c.drain()
	for {
		select {
		case p := <-c.Transport.PacketCh():
			c.st.recvBytes.Add(uint64(len(p.Buf)))
			select {
			case c.packets <- p:
			case <-c.done:
				return
			}
		case conn := <-c.Transport.StreamCh():
			select {
			case c.streams <- &countingConn{Conn: conn, st: c.st}:
			case <-c.done:
				_ = conn.Close()
				return
			}
		case <-c.done:
			return
		}
	}
}

// drain discards what the wrapped transport still delivers until it has
// shut down: its listeners block on their unbuffered channels, and its
// Shutdown waits for them, so nobody reading would hang Shutdown forever.
func (c *countingTransport) drain() {
	for {
		select {
		case <-c.Transport.PacketCh():
		case conn := <-c.Transport.StreamCh():
			_ = conn.Close()
		case <-c.closed:
			return
		}
	}
}

func (c *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	c.st.sentBytes.Add(uint64(len(b)))
	return c.Transport.WriteTo(b, addr)
}

func (c *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	conn, err := c.Transport.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, st: c.st}, nil
}

func (c *countingTransport) PacketCh() <-chan *memberlist.Packet { return c.packets }
func (c *countingTransport) StreamCh() <-chan net.Conn           { return c.streams }

func (c *countingTransport) Shutdown() error {
	var err error
	c.once.Do(func() {
		close(c.done)
		err = c.Transport.Shutdown()
		close(c.closed)
	})
	return err
}

type countingConn struct {
	net.Conn
	st *stats
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.st.recvBytes.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.st.sentBytes.Add(uint64(n))
	return n, err
}
