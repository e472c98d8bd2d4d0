package membership

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// countingTransport wraps a memberlist.Transport to count gossip bytes in
// both directions for the metrics and benchmarks, and to note when
// anything last arrived from each peer address (see heardLog).
type countingTransport struct {
	memberlist.Transport
	st      *stats
	heard   *heardLog
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	closed  chan struct{} // the wrapped transport has shut down
	once    sync.Once
}

func newCountingTransport(t memberlist.Transport, st *stats, heard *heardLog) *countingTransport {
	c := &countingTransport{Transport: t, st: st, heard: heard, packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), done: make(chan struct{}), closed: make(chan struct{})}
	go c.forward()
	return c
}

func (c *countingTransport) forward() {
	defer c.drain()
	for {
		select {
		case p := <-c.Transport.PacketCh():
			c.st.recvBytes.Add(uint64(len(p.Buf)))
			c.heard.from(p.From, p.Timestamp)
			select {
			case c.packets <- p:
			case <-c.done:
				return
			}
		case conn := <-c.Transport.StreamCh():
			c.heard.from(conn.RemoteAddr(), time.Now())
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

// heardLog is when anything (a probe, an ack, gossip, a stream) last
// arrived from each peer host. memberlist declares unreachable members
// dead one probe at a time and shows no suspicion outside its own state,
// so this is how the decision engine tells a peer it can still hear from
// one that merely has not been declared dead yet (failover.Member.Heard).
// Peers are told apart by host: one agent runs per instance address.
type heardLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (h *heardLog) from(addr net.Addr, at time.Time) {
	if addr == nil {
		return
	}
	host := hostOf(addr.String())
	if at.IsZero() {
		at = time.Now()
	}
	h.mu.Lock()
	if h.last == nil {
		h.last = map[string]time.Time{}
	}
	if at.After(h.last[host]) {
		h.last[host] = at
	}
	h.mu.Unlock()
}

// at is when anything last arrived from the host of addr (host:port).
func (h *heardLog) at(addr string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last[hostOf(addr)]
}

func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
