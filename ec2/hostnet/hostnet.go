package hostnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Configure puts prefix (e.g. 172.31.10.9/20, or an overlay /32) on the
// interface named ifname and announces it with a gratuitous ARP.
func Configure(ifname string, prefix netip.Prefix) error {
	link, addr, err := lookup(ifname, prefix)
	if err != nil {
		return err
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("adding %s to %s: %w", prefix, ifname, err)
	}
	return GratuitousARP(ifname, prefix.Addr())
}

// Remove takes prefix off ifname; an address that is not there is not an
// error.
func Remove(ifname string, prefix netip.Prefix) error {
	link, addr, err := lookup(ifname, prefix)
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(link, addr); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
		return fmt.Errorf("removing %s from %s: %w", prefix, ifname, err)
	}
	return nil
}

// Has reports whether ifname carries addr.
func Has(ifname string, addr netip.Addr) (bool, error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return false, fmt.Errorf("interface %q: %w (check the group's interface setting)", ifname, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return false, fmt.Errorf("listing addresses of %s: %w", ifname, err)
	}
	for _, a := range addrs {
		if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == addr {
			return true, nil
		}
	}
	return false, nil
}

func lookup(ifname string, prefix netip.Prefix) (netlink.Link, *netlink.Addr, error) {
	if !prefix.IsValid() || !prefix.Addr().Is4() {
		return nil, nil, fmt.Errorf("address %q: want an IPv4 prefix such as 172.31.10.9/20", prefix)
	}
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, nil, fmt.Errorf("interface %q: %w (check the group's interface setting)", ifname, err)
	}
	ip := prefix.Addr().As4()
	return link, &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(ip[:]), Mask: net.CIDRMask(prefix.Bits(), 32)}}, nil
}

// GratuitousARP broadcasts an ARP request for ip from ifname's MAC, the
// announcement neighbours use to update their caches.
func GratuitousARP(ifname string, ip netip.Addr) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("interface %q: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil // no Ethernet address (e.g. a tunnel): nothing to announce
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return fmt.Errorf("gratuitous ARP for %s: raw socket (needs CAP_NET_RAW): %w", ip, err)
	}
	defer unix.Close(fd)
	broadcast := [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index, Halen: 6, Addr: broadcast}
	if err := unix.Sendto(fd, arpFrame(ifi.HardwareAddr, ip.As4()), 0, to); err != nil {
		return fmt.Errorf("gratuitous ARP for %s on %s: %w", ip, ifname, err)
	}
	return nil
}

// arpFrame is an Ethernet broadcast ARP request whose sender and target
// address are both ip: RFC 5227's announcement.
func arpFrame(mac net.HardwareAddr, ip [4]byte) []byte {
	f := make([]byte, 0, 42)
	f = append(f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	f = append(f, mac...)
	f = binary.BigEndian.AppendUint16(f, unix.ETH_P_ARP)
	f = binary.BigEndian.AppendUint16(f, 1)      // hardware type Ethernet
	f = binary.BigEndian.AppendUint16(f, 0x0800) // protocol IPv4
	f = append(f, 6, 4)
	f = binary.BigEndian.AppendUint16(f, 1) // request
	f = append(f, mac...)
	f = append(f, ip[:]...)
	f = append(f, 0, 0, 0, 0, 0, 0)
	return append(f, ip[:]...)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
