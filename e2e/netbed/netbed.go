// Package netbed builds a small network of test hosts on one machine: each
// host is a Linux network namespace with its own address on a shared
// bridge, like instances in a VPC subnet. The end-to-end tests run one
// agent per host, move addresses between them, cut links with nftables
// and kill everything on a host to crash it. It needs root, iproute2 and
// nftables, and touches nothing outside the namespaces and the bridge it
// creates.
package netbed

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vishvananda/netns"
)

// Bed is a bridge and the hosts attached to it.
type Bed struct {
	prefix string       // names every link and namespace of this bed
	bridge string       // bridge device in the root namespace
	subnet netip.Prefix // hosts get addresses from it; .1 is the bridge
	mu     sync.Mutex
	hosts  map[string]*Host
}

// Host is one namespace on the bed.
type Host struct {
	Name string
	NS   string
	Addr netip.Addr
	veth string // its end of the link in the root namespace
	bed  *Bed
}

// Available says why a bed cannot be built here, or returns nil.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("netbed needs root to create network namespaces")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("netbed needs %s (apt-get install iproute2 nftables)", tool)
		}
	}
	return nil
}

// New creates a bridge named after prefix (at most 8 characters, so that
// device names stay under the kernel's 15) with subnet's first address.
func New(prefix string, subnet netip.Prefix) (*Bed, error) {
	if len(prefix) > 8 {
		return nil, fmt.Errorf("netbed prefix %q is longer than 8 characters", prefix)
	}
	b := &Bed{prefix: prefix, bridge: prefix + "br", subnet: subnet.Masked(), hosts: map[string]*Host{}}
	// A bed left behind by a killed run would make every step fail.
	b.cleanupStale()
	gw := b.subnet.Addr().Next()
	if err := run("ip", "link", "add", b.bridge, "type", "bridge"); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"addr", "add", fmt.Sprintf("%s/%d", gw, b.subnet.Bits()), "dev", b.bridge},
		{"link", "set", b.bridge, "up"},
	} {
		if err := run("ip", args...); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

// Gateway is the bridge's address: the root namespace as seen from hosts,
// where a simulator or a client outside the hosts can listen.
func (b *Bed) Gateway() netip.Addr { return b.subnet.Addr().Next() }

// AddHost creates a namespace with eth0 on the bridge at addr.
func (b *Bed) AddHost(name string, addr netip.Addr) (*Host, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.hosts[name]; ok {
		return nil, fmt.Errorf("host %s exists", name)
	}
	if !b.subnet.Contains(addr) {
		return nil, fmt.Errorf("address %s is not in %s", addr, b.subnet)
	}
	veth := fmt.Sprintf("%sv%d", b.prefix, addr.As4()[3])
	h := &Host{Name: name, NS: b.prefix + "-" + name, Addr: addr, veth: veth, bed: b}
	steps := [][]string{
		{"netns", "add", h.NS},
		{"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"link", "set", veth, "master", b.bridge, "up"},
		{"-n", h.NS, "addr", "add", fmt.Sprintf("%s/%d", addr, b.subnet.Bits()), "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", h.NS, "route", "add", "default", "via", b.Gateway().String()},
	}
	for _, s := range steps {
		if err := run("ip", s...); err != nil {
			_ = run("ip", "netns", "del", h.NS)
			return nil, err
		}
	}
	b.hosts[name] = h
	return h, nil
}

// Host returns the host called name, or nil.
func (b *Bed) Host(name string) *Host {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hosts[name]
}

// Command returns a command that runs inside the host's namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	// Its own process group, so a crash can kill everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// Crash kills every process in the host's namespace at once, as a power
// cut would: nothing gets to clean up or say goodbye.
func (h *Host) Crash() error {
	out, err := output("ip", "netns", "pids", h.NS)
	if err != nil {
		return err
	}
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return nil
}

// AddAddress puts addr on the host's eth0 (an address moved to it) and
// makes every other party forget where addr was, as the VPC's mapping
// service does when EC2 moves an address: on the bridge there is no such
// service, and stale ARP entries would keep sending traffic to the old
// holder.
func (h *Host) AddAddress(addr netip.Addr) error {
	if err := run("ip", "-n", h.NS, "addr", "replace", addr.String()+"/32", "dev", "eth0"); err != nil {
		return err
	}
	h.bed.forgetNeighbour(addr)
	return nil
}

func (b *Bed) forgetNeighbour(addr netip.Addr) {
	_ = run("ip", "neigh", "flush", "to", addr.String())
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range b.hosts {
		_ = run("ip", "-n", o.NS, "neigh", "flush", "to", addr.String())
	}
}

// DelAddress removes addr from the host's eth0; removing an absent
// address is not an error, so moves can be replayed.
func (h *Host) DelAddress(addr netip.Addr) error {
	err := run("ip", "-n", h.NS, "addr", "del", addr.String()+"/32", "dev", "eth0")
	if err != nil && (strings.Contains(err.Error(), "Address not found") || strings.Contains(err.Error(), "Cannot assign requested address")) {
		return nil
	}
	return err
}

// Isolate drops all traffic between h and the given peers in both
// directions (a partition), replacing any earlier rules of h.
func (h *Host) Isolate(peers ...*Host) error {
	var rules []string
	for _, p := range peers {
		rules = append(rules,
			fmt.Sprintf("add rule inet netbed in ip saddr %s drop", p.Addr),
			fmt.Sprintf("add rule inet netbed out ip daddr %s drop", p.Addr))
	}
	return h.setRules(rules)
}

// Lose drops percent of the packets h receives, at random.
func (h *Host) Lose(percent int) error {
	if percent <= 0 {
		return h.setRules(nil)
	}
	return h.setRules([]string{fmt.Sprintf("add rule inet netbed in meta l4proto udp numgen random mod 100 < %d drop", percent)})
}

// Heal removes every rule Isolate or Lose added.
func (h *Host) Heal() error { return h.setRules(nil) }

func (h *Host) setRules(rules []string) error {
	script := []string{
		"table inet netbed {}",
		"delete table inet netbed",
		"add table inet netbed",
		"add chain inet netbed in { type filter hook input priority 0; }",
		"add chain inet netbed out { type filter hook output priority 0; }",
	}
	script = append(script, rules...)
	cmd := exec.Command("ip", "netns", "exec", h.NS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(strings.Join(script, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %v: %s", h.NS, err, out)
	}
	return nil
}

// Remove crashes the host and deletes its namespace.
func (h *Host) Remove() error {
	_ = h.Crash()
	h.bed.mu.Lock()
	delete(h.bed.hosts, h.Name)
	h.bed.mu.Unlock()
	// Deleting our end of the link at once frees its name; the namespace's
	// own teardown happens asynchronously in the kernel.
	_ = run("ip", "link", "del", h.veth)
	return run("ip", "netns", "del", h.NS)
}

// Close removes every host and the bridge.
func (b *Bed) Close() error {
	b.mu.Lock()
	hosts := make([]*Host, 0, len(b.hosts))
	for _, h := range b.hosts {
		hosts = append(hosts, h)
	}
	b.mu.Unlock()
	for _, h := range hosts {
		_ = h.Remove()
	}
	return run("ip", "link", "del", b.bridge)
}

func (b *Bed) cleanupStale() {
	if out, err := output("ip", "netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], b.prefix+"-") {
				_ = run("ip", "netns", "del", f[0])
			}
		}
	}
	if out, err := output("ip", "-o", "link", "show"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], b.prefix+"v") {
				_ = run("ip", "link", "del", strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0])
			}
		}
	}
	_ = run("ip", "link", "del", b.bridge)
}

func run(name string, args ...string) error {
	_, err := output(name, args...)
	return err
}

func output(name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// HasAddress reports whether addr is configured on the host's eth0.
func (h *Host) HasAddress(addr netip.Addr) (bool, error) {
	out, err := output("ip", "-n", h.NS, "-o", "addr", "show", "dev", "eth0")
	if err != nil {
		return false, err
	}
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr() == addr {
			return true, nil
		}
	}
	return false, nil
}

// DialContext dials from inside the host's namespace, so that a test
// process in the root namespace can be a client on the bed: the socket
// is created on a thread that has entered the namespace, and a socket
// keeps its namespace wherever it is used afterwards.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The thread goes back to its own namespace before it is unlocked.
		// Leaving it locked in the host's would have the runtime end it, but
		// the runtime cannot end the main thread: it would stay in the
		// host's namespace, whose pids then include this process, and a
		// Crash of that host killed the whole test.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- result{nil, fmt.Errorf("this thread's namespace: %w", err)}
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath("/var/run/netns/" + h.NS)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("namespace %s: %w", h.NS, err)}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			done <- result{nil, fmt.Errorf("entering %s: %w", h.NS, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, address)
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

// SetLink takes the host's eth0 down or up: a stopped instance's network
// goes away with it, while its namespace (and the addresses configured in
// it) stays for a later start.
func (h *Host) SetLink(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	if err := run("ip", "-n", h.NS, "link", "set", "eth0", state); err != nil {
		return err
	}
	if up {
		// Bringing a link down drops its routes; put the default back.
		return run("ip", "-n", h.NS, "route", "replace", "default", "via", h.bed.Gateway().String())
	}
	return nil
}

// Route sends traffic for addr straight onto the bridge (on-link), so a
// host reaches an address that another host answers for, such as an
// Elastic IP, without going through the gateway.
func (h *Host) Route(addr netip.Addr) error {
	return run("ip", "-n", h.NS, "route", "replace", addr.String()+"/32", "dev", "eth0")
}
