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
	once    sync.Once
}

func newCountingTransport(t memberlist.Transport, st *stats) *countingTransport {
	c := &countingTransport{Transport: t, st: st, packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), done: make(chan struct{})}
	go c.forward()
	return c
}

func (c *countingTransport) forward() {
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
	c.once.Do(func() { close(c.done) })
	return c.Transport.Shutdown()
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
