package netbed

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func newBed(t *testing.T) *Bed {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip("skipping the network test bed: ", err)
	}
	b, err := New("ec2hat", netip.MustParsePrefix("10.231.7.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func addHost(t *testing.T, b *Bed, name, addr string) *Host {
	t.Helper()
	h, err := b.AddHost(name, netip.MustParseAddr(addr))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// serve runs a one-line HTTP server inside h answering its name, until
// the host crashes or the test ends.
func serve(t *testing.T, h *Host, addr string) {
	t.Helper()
	script := "import http.server as s\nclass H(s.BaseHTTPRequestHandler):\n def do_GET(self):\n  self.send_response(200); self.end_headers(); self.wfile.write(b'" + h.Name + "')\n def log_message(self,*a): pass\ns.HTTPServer(('" + addr + "', 8080), H).serve_forever()\n"
	cmd := h.Command(context.Background(), "python3", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Crash(); _ = cmd.Wait() })
}

func get(url string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A moved address really reaches the host that holds it, and a crash
// really stops the host from answering: what the e2e checker relies on.
func TestAddressMovesAndCrashes(t *testing.T) {
	b := newBed(t)
	a, c := addHost(t, b, "a", "10.231.7.11"), addHost(t, b, "b", "10.231.7.12")
	serve(t, a, "0.0.0.0")
	serve(t, c, "0.0.0.0")
	vip := netip.MustParseAddr("10.231.7.100")

	if err := a.AddAddress(vip); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the service address answers from a", func() bool { got, _ := get("http://10.231.7.100:8080/"); return got == "a" })

	if err := a.DelAddress(vip); err != nil {
		t.Fatal(err)
	}
	if err := a.DelAddress(vip); err != nil {
		t.Fatalf("removing an absent address must be a no-op: %v", err)
	}
	if err := c.AddAddress(vip); err != nil {
		t.Fatal(err)
	}
	// The bridge may cache a's MAC for the address until ARP refreshes.
	eventually(t, "the service address answers from b", func() bool { got, _ := get("http://10.231.7.100:8080/"); return got == "b" })

	if err := c.Crash(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b stops answering after the crash", func() bool { _, err := get("http://10.231.7.12:8080/"); return err != nil })
	if got, err := get("http://10.231.7.11:8080/"); got != "a" {
		t.Fatalf("a was hurt by b's crash: %q %v", got, err)
	}
}

func TestIsolateCutsOnlyTheNamedPeers(t *testing.T) {
	b := newBed(t)
	a, c, d := addHost(t, b, "a", "10.231.7.11"), addHost(t, b, "b", "10.231.7.12"), addHost(t, b, "c", "10.231.7.13")
	serve(t, a, "0.0.0.0")
	dial := func(from *Host) error {
		out, err := from.Command(context.Background(), "python3", "-c",
			"import socket; socket.create_connection(('10.231.7.11', 8080), timeout=1)").CombinedOutput()
		if err != nil {
			return &net.OpError{Op: "dial", Err: errString(strings.TrimSpace(string(out)))}
		}
		return nil
	}
	eventually(t, "b reaches a", func() bool { return dial(c) == nil })
	if err := a.Isolate(c); err != nil {
		t.Fatal(err)
	}
	if dial(c) == nil {
		t.Fatal("b still reaches a after the partition")
	}
	if err := dial(d); err != nil {
		t.Fatalf("c lost a too: %v", err)
	}
	if err := a.Heal(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b reaches a after healing", func() bool { return dial(c) == nil })
}

type errString string

func (e errString) Error() string { return string(e) }

// A client in the root namespace dials from a host's namespace, and
// HasAddress sees what AddAddress and DelAddress did.
func TestDialFromHostAndHasAddress(t *testing.T) {
	b := newBed(t)
	a, c := addHost(t, b, "a", "10.231.7.11"), addHost(t, b, "client", "10.231.7.20")
	vip := netip.MustParseAddr("10.231.7.100")
	serve(t, a, "0.0.0.0")
	if has, err := a.HasAddress(vip); err != nil || has {
		t.Fatalf("HasAddress before AddAddress = %v, %v; want false", has, err)
	}
	if err := a.AddAddress(vip); err != nil {
		t.Fatal(err)
	}
	if has, err := a.HasAddress(vip); err != nil || !has {
		t.Fatalf("HasAddress after AddAddress = %v, %v; want true", has, err)
	}
	// Only the client's namespace reaches the bed's service address the
	// way a host on the subnet does; check the connection's source.
	hc := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: c.DialContext, DisableKeepAlives: true}}
	eventually(t, "the client reaches a's service from its namespace", func() bool {
		conn, err := c.DialContext(context.Background(), "tcp", vip.String()+":8080")
		if err != nil {
			return false
		}
		// Closed before the request: the one-line server is serial.
		local := conn.LocalAddr().(*net.TCPAddr).IP.String()
		conn.Close()
		if local != "10.231.7.20" {
			t.Fatalf("dialled from %s, want the client's 10.231.7.20", local)
		}
		resp, err := hc.Get("http://" + vip.String() + ":8080/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body) == "a"
	})
	if err := a.DelAddress(vip); err != nil {
		t.Fatal(err)
	}
	if has, err := a.HasAddress(vip); err != nil || has {
		t.Fatalf("HasAddress after DelAddress = %v, %v; want false", has, err)
	}
}
