package hostnet_test

import (
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ec2ha/ec2ha/ec2/hostnet"
)

// inNamespaces runs fn on a thread of its own in fresh network
// namespaces "old" and "new", joined by a veth pair (old0 in old, new0 in
// new). The thread is never unlocked, so Go discards it with the
// namespaces when fn returns and no other goroutine ever runs in them.
func inNamespaces(t *testing.T, fn func(enter func(netns.NsHandle), old, nw netns.NsHandle)) {
	if os.Geteuid() != 0 {
		t.Skip("hostnet tests create network namespaces and need root; run them as root (e.g. sudo go test ./ec2/hostnet)")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		nw, err := netns.New()
		if err != nil {
			t.Errorf("creating namespace: %v", err)
			return
		}
		defer nw.Close()
		old, err := netns.New()
		if err != nil {
			t.Errorf("creating namespace: %v", err)
			return
		}
		defer old.Close()
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "old0"}, PeerName: "new0", PeerNamespace: netlink.NsFd(nw)}
		if err := netlink.LinkAdd(veth); err != nil {
			t.Errorf("creating veth pair: %v", err)
			return
		}
		enter := func(ns netns.NsHandle) {
			if err := netns.Set(ns); err != nil {
				panic(err) // the thread is in an unknown namespace: stop at once
			}
		}
		for _, ns := range []netns.NsHandle{nw, old} {
			enter(ns)
			for _, name := range []string{"old0", "new0"} {
				if l, err := netlink.LinkByName(name); err == nil {
					if err := netlink.LinkSetUp(l); err != nil {
						t.Errorf("up %s: %v", name, err)
					}
				}
			}
		}
		fn(enter, old, nw)
	}()
	<-done
}

func TestAddressMovesBetweenHosts(t *testing.T) {
	vip := netip.MustParsePrefix("172.31.10.9/20")
	inNamespaces(t, func(enter func(netns.NsHandle), old, nw netns.NsHandle) {
		has := func(ifname string) bool {
			ok, err := hostnet.Has(ifname, vip.Addr())
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		enter(old)
		for range 2 { // idempotent
			if err := hostnet.Configure("old0", vip); err != nil {
				t.Fatal(err)
			}
		}
		if !has("old0") {
			t.Fatal("address not on the old owner after Configure")
		}
		// Listen for the new owner's announcement on the old side.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		ifi, _ := netlink.LinkByName("old0")
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Attrs().Index}); err != nil {
			t.Fatal(err)
		}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 30}); err != nil {
			t.Fatal(err)
		}

		enter(nw)
		if err := hostnet.Configure("new0", vip); err != nil {
			t.Fatal(err)
		}
		if !has("new0") {
			t.Fatal("address not on the new owner")
		}
		newMAC, _ := netlink.LinkByName("new0")
		enter(old)
		for range 2 {
			if err := hostnet.Remove("old0", vip); err != nil {
				t.Fatal(err)
			}
		}
		if has("old0") {
			t.Fatal("address still on the old owner after Remove")
		}

		buf := make([]byte, 128)
		deadline := time.Now().Add(30 * time.Second)
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || time.Now().After(deadline) {
				t.Fatalf("no gratuitous ARP from the new owner: %v", err)
			}
			// Sender MAC at 22, sender IP at 28, target IP at 38.
			f := buf[:n]
			if n >= 42 && string(f[22:28]) == string(newMAC.Attrs().HardwareAddr) &&
				netip.AddrFrom4([4]byte(f[28:32])) == vip.Addr() && netip.AddrFrom4([4]byte(f[38:42])) == vip.Addr() {
				return
			}
		}
	})
}

func TestBadInputNamesTheProblem(t *testing.T) {
	inNamespaces(t, func(func(netns.NsHandle), netns.NsHandle, netns.NsHandle) {
		if err := hostnet.Configure("nosuch0", netip.MustParsePrefix("10.0.0.1/32")); err == nil {
			t.Error("configured an address on a missing interface")
		}
		if err := hostnet.Configure("old0", netip.MustParsePrefix("fd00::1/128")); err == nil {
			t.Error("accepted an IPv6 address")
		}
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
