package ec2sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// The world is the simulated account in one region. Every field is
// exported only so that encoding/json can persist it (--state); nothing
// outside this package touches it.
type world struct {
	Region       string
	Seq          uint64 // feeds resource ids, so they are unique across restarts
	VPCs         map[string]*vpc
	Subnets      map[string]*subnet
	RouteTables  map[string]*routeTable
	Instances    map[string]*instance
	ENIs         map[string]*eni
	Addresses    map[string]*address // by allocation id
	Templates    map[string]*launchTemplate
	Tags         map[string]map[string]string // resource id -> key -> value
	ClientTokens map[string]clientToken       // RunInstances idempotency
	NextPublicIP uint32                       // host part of the next Elastic IP
	Gateway      string
}

// Tag is a key/value pair on a resource.
type Tag struct{ Key, Value string }

type clientToken struct {
	Hash      string
	Instances []string
}

type vpc struct {
	ID, CIDR string
	Default  bool
}

type subnet struct {
	ID, VpcID, AZ, CIDR string
	Default             bool
}

type routeTable struct {
	ID, VpcID string
	Main      bool
	Subnets   []string // explicitly associated subnets
	Routes    []route
}

type route struct {
	Destination        string
	GatewayID          string `json:",omitempty"`
	InstanceID         string `json:",omitempty"`
	NetworkInterfaceID string `json:",omitempty"`
	Origin             string // CreateRouteTable, CreateRoute
}

type instance struct {
	ID, ImageID, Type     string
	SubnetID, VpcID, AZ   string
	PrivateIP             string // primary ENI's primary address; kept after terminate for the record
	ENI                   string // primary ENI; empty once terminated
	State                 string
	StateReason           string `json:",omitempty"`
	TransitionReason      string `json:",omitempty"`
	Reservation           string
	ClientToken           string `json:",omitempty"`
	LaunchTemplateID      string `json:",omitempty"`
	LaunchTemplateVersion string `json:",omitempty"`
	LaunchTime            time.Time
	TerminatedAt          time.Time `json:",omitempty"`
	TransitionDue         time.Time `json:",omitempty"` // when the current transitional state ends
	Gen                   uint64    // bumps on every state change, so stale timers do nothing
	MachineGone           bool      `json:",omitempty"`
	LaunchIndex           int
}

type eni struct {
	ID, SubnetID, VpcID, AZ, MAC string
	Description                  string
	PrivateIPs                   []string // [0] is the primary address
	InstanceID                   string   `json:",omitempty"`
	AttachmentID                 string   `json:",omitempty"`
	DeviceIndex                  int
	SourceDestCheck              bool
	DeleteOnTermination          bool
	AttachTime                   time.Time
}

type address struct {
	AllocationID, PublicIP string
	AssociationID          string `json:",omitempty"`
	InstanceID             string `json:",omitempty"`
	ENI                    string `json:",omitempty"`
	PrivateIP              string `json:",omitempty"`
}

type launchTemplate struct {
	ID, Name       string
	DefaultVersion int
	Versions       []*ltVersion // index = number-1
	CreateTime     time.Time
}

type ltVersion struct {
	Number      int
	Description string `json:",omitempty"`
	CreateTime  time.Time
	Data        ltData
}

// ltData is the part of a launch template the simulator understands.
type ltData struct {
	ImageID, InstanceType string `json:",omitempty"`
	SubnetID              string `json:",omitempty"` // from NetworkInterface.1.SubnetId
	AZ                    string `json:",omitempty"` // from Placement.AvailabilityZone
	UserData              string `json:",omitempty"`
	TagSpecs              map[string][]Tag
}

const ownerID = "123456789012"

// Instance state codes, from the InstanceState reference page.
var stateCodes = map[string]int{
	"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80,
}

func newWorld(region string, seed uint64) *world {
	w := &world{
		Region:       region,
		Seq:          seed,
		VPCs:         map[string]*vpc{},
		Subnets:      map[string]*subnet{},
		RouteTables:  map[string]*routeTable{},
		Instances:    map[string]*instance{},
		ENIs:         map[string]*eni{},
		Addresses:    map[string]*address{},
		Templates:    map[string]*launchTemplate{},
		Tags:         map[string]map[string]string{},
		ClientTokens: map[string]clientToken{},
	}
	// The default VPC as AWS creates it: 172.31.0.0/16 with a /20 per AZ,
	// an internet gateway and a main route table.
	v := &vpc{ID: w.newID("vpc-"), CIDR: "172.31.0.0/16", Default: true}
	w.VPCs[v.ID] = v
	for i, az := range []string{"a", "b", "c"} {
		s := &subnet{ID: w.newID("subnet-"), VpcID: v.ID, AZ: region + az,
			CIDR: fmt.Sprintf("172.31.%d.0/20", i*16), Default: true}
		w.Subnets[s.ID] = s
	}
	w.Gateway = w.newID("igw-")
	rt := &routeTable{ID: w.newID("rtb-"), VpcID: v.ID, Main: true, Routes: []route{
		{Destination: v.CIDR, GatewayID: "local", Origin: "CreateRouteTable"},
		{Destination: "0.0.0.0/0", GatewayID: w.Gateway, Origin: "CreateRoute"},
	}}
	w.RouteTables[rt.ID] = rt
	return w
}

// newID makes an id of EC2's long form: prefix plus 17 hex digits. The
// sequence is mixed so ids look random but never repeat.
func (w *world) newID(prefix string) string {
	w.Seq++
	mixed := rand.New(rand.NewPCG(w.Seq, 0x5eed)).Uint64()&^0xffffff | (w.Seq & 0xffffff)
	return fmt.Sprintf("%s0%016x", prefix, mixed)
}

func (w *world) newMAC() string {
	w.Seq++
	return fmt.Sprintf("0a:%02x:%02x:%02x:%02x:%02x", byte(w.Seq>>32), byte(w.Seq>>24), byte(w.Seq>>16), byte(w.Seq>>8), byte(w.Seq))
}

// sortedSubnets returns subnets in AZ order, so "the default subnet" is stable.
func (w *world) sortedSubnets() []*subnet {
	out := make([]*subnet, 0, len(w.Subnets))
	for _, s := range w.Subnets {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AZ < out[j].AZ || out[i].AZ == out[j].AZ && out[i].ID < out[j].ID })
	return out
}

// ipOwner returns the ENI holding ip, if any.
func (w *world) ipOwner(ip string) *eni {
	for _, e := range w.ENIs {
		for _, a := range e.PrivateIPs {
			if a == ip {
				return e
			}
		}
	}
	return nil
}

// freeIP returns the lowest unused address of a subnet. AWS reserves the
// first four and the last address of every subnet ("Subnet CIDR blocks" in
// the VPC user guide).
func (w *world) freeIP(s *subnet) (string, error) {
	pfx := netip.MustParsePrefix(s.CIDR)
	used := map[string]bool{}
	for _, e := range w.ENIs {
		if e.SubnetID == s.ID {
			for _, a := range e.PrivateIPs {
				used[a] = true
			}
		}
	}
	addr := pfx.Addr()
	for range 4 {
		addr = addr.Next()
	}
	for ; pfx.Contains(addr.Next()); addr = addr.Next() {
		if !used[addr.String()] {
			return addr.String(), nil
		}
	}
	return "", clientErr("InsufficientFreeAddressesInSubnet", "The subnet '%s' has no free addresses", s.ID)
}

// checkIPInSubnet validates a requested private address.
func checkIPInSubnet(param, ip string, s *subnet) error {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return invalidValue(param, ip, "Expected an IPv4 address such as 172.31.0.10.")
	}
	pfx := netip.MustParsePrefix(s.CIDR)
	if !pfx.Contains(a) {
		return invalidValue(param, ip, fmt.Sprintf("Address does not fall within the subnet's address range (%s, %s).", s.ID, s.CIDR))
	}
	first := pfx.Addr()
	for range 3 {
		first = first.Next()
	}
	if a.Compare(first) <= 0 || !pfx.Contains(a.Next()) {
		return invalidValue(param, ip, fmt.Sprintf("Address is in subnet's reserved address range (%s).", s.CIDR))
	}
	return nil
}

func (w *world) nextPublicIP() string {
	// 198.51.100.0/24 and 203.0.113.0/24 are documentation ranges (RFC 5737):
	// they never collide with a real address.
	n := w.NextPublicIP
	w.NextPublicIP++
	if n < 254 {
		return fmt.Sprintf("198.51.100.%d", n+1)
	}
	return fmt.Sprintf("203.0.113.%d", (n-254)%254+1)
}

func (w *world) tagList(id string) []Tag {
	m := w.Tags[id]
	out := make([]Tag, 0, len(m))
	for k, v := range m {
		out = append(out, Tag{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (w *world) setTags(id string, tags []Tag) {
	if len(tags) == 0 {
		return
	}
	m := w.Tags[id]
	if m == nil {
		m = map[string]string{}
		w.Tags[id] = m
	}
	for _, t := range tags {
		m[t.Key] = t.Value
	}
}

// resourceType names the kind of resource an id denotes, as DescribeTags
// reports it.
func resourceType(id string) string {
	prefix, _, _ := strings.Cut(id, "-")
	return map[string]string{
		"i": "instance", "eni": "network-interface", "eipalloc": "elastic-ip", "rtb": "route-table",
		"subnet": "subnet", "vpc": "vpc", "lt": "launch-template", "igw": "internet-gateway",
	}[prefix]
}

// exists reports whether a taggable resource exists, or the error EC2
// gives for it.
func (w *world) exists(id string) error {
	var ok bool
	var code string
	switch resourceType(id) {
	case "instance":
		_, ok = w.Instances[id]
		code = "InvalidInstanceID.NotFound"
	case "network-interface":
		_, ok = w.ENIs[id]
		code = "InvalidNetworkInterfaceID.NotFound"
	case "elastic-ip":
		_, ok = w.Addresses[id]
		code = "InvalidAllocationID.NotFound"
	case "route-table":
		_, ok = w.RouteTables[id]
		code = "InvalidRouteTableID.NotFound"
	case "subnet":
		_, ok = w.Subnets[id]
		code = "InvalidSubnetID.NotFound"
	case "vpc":
		_, ok = w.VPCs[id]
		code = "InvalidVpcID.NotFound"
	case "launch-template":
		_, ok = w.Templates[id]
		code = "InvalidLaunchTemplateId.NotFound"
	case "internet-gateway":
		ok, code = id == w.Gateway, "InvalidInternetGatewayID.NotFound"
	default:
		return clientErr("InvalidID", "The ID '%s' is not valid", id)
	}
	if !ok {
		return clientErr(code, "The ID '%s' does not exist", id)
	}
	return nil
}
