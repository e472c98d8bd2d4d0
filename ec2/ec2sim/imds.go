package ec2sim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// IMDSv2 per instance. The SDK's imds client replaces the whole URL path
// with its own, so a path prefix cannot tell instances apart; each
// instance gets its own listener instead, and an agent is pointed at its
// instance with imds.Options{Endpoint: sim.IMDSEndpoint(id)}.

type imdsServers struct {
	s    *Sim
	host string

	mu      sync.Mutex
	servers map[string]*http.Server // by instance id
	urls    map[string]string
	tokens  map[string]time.Time // token -> expiry
}

func newIMDSServers(s *Sim, host string) *imdsServers {
	return &imdsServers{s: s, host: host, servers: map[string]*http.Server{}, urls: map[string]string{}, tokens: map[string]time.Time{}}
}

// open starts an instance's listener if IMDSHost is set and returns its
// endpoint, or "" when IMDS listeners are off or the port cannot be had
// (the error is logged; IMDSEndpoint reports it to a caller who asks).
func (m *imdsServers) open(id string) string {
	if m.host == "" {
		return ""
	}
	url, err := m.endpoint(id)
	if err != nil {
		m.s.log.Error("ec2sim: IMDS listener", "instance", id, "err", err)
	}
	return url
}

func (m *imdsServers) endpoint(id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if url, ok := m.urls[id]; ok {
		return url, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(m.host, "0"))
	if err != nil {
		return "", fmt.Errorf("IMDS listener for %s on %s: %w", id, m.host, err)
	}
	srv := &http.Server{Handler: m.s.IMDSHandler(id), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	m.servers[id], m.urls[id] = srv, url
	return url, nil
}

// shut closes a terminated instance's listener.
func (m *imdsServers) shut(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if srv, ok := m.servers[id]; ok {
		_ = srv.Close()
		delete(m.servers, id)
		delete(m.urls, id)
	}
}

func (m *imdsServers) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, srv := range m.servers {
		_ = srv.Close()
		delete(m.servers, id)
		delete(m.urls, id)
	}
}

func (m *imdsServers) all() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.urls))
	for k, v := range m.urls {
		out[k] = v
	}
	return out
}

// IMDSEndpoint returns the instance's own metadata endpoint, starting its
// listener if needed. It needs Options.IMDSHost.
func (s *Sim) IMDSEndpoint(instanceID string) (string, error) {
	if s.imds.host == "" {
		return "", errors.New("IMDS listeners are off: set Options.IMDSHost (e.g. 127.0.0.1), or mount IMDSHandler yourself")
	}
	s.mu.Lock()
	_, ok := s.w.Instances[instanceID]
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("no instance %s in the simulator", instanceID)
	}
	return s.imds.endpoint(instanceID)
}

// imdsView is what the metadata service of one instance knows.
type imdsView struct {
	in      instance
	e       eni
	public  string
	region  string
	running bool
}

func (s *Sim) imdsView(id string) (imdsView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.w.Instances[id]
	if !ok {
		return imdsView{}, false
	}
	v := imdsView{in: *in, region: s.w.Region, running: in.State == "running" && !in.MachineGone}
	if e := s.w.ENIs[in.ENI]; e != nil {
		v.e = *e
		v.e.PrivateIPs = append([]string(nil), e.PrivateIPs...)
	}
	if a := s.w.publicIP(in); a != nil {
		v.public = a.PublicIP
	}
	return v, true
}

// IMDSHandler serves IMDSv2 for one instance: a token from PUT
// /latest/api/token is required on every GET. While the instance is not
// running, or its machine is gone, connections are dropped, as a machine
// that is off would not answer.
func (s *Sim) IMDSHandler(instanceID string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		v, ok := s.imdsView(instanceID)
		if !ok || !v.running {
			panic(http.ErrAbortHandler)
		}
		m := s.imds
		if r.URL.Path == "/latest/api/token" {
			if r.Method != http.MethodPut {
				http.Error(rw, "token requests must use PUT", http.StatusMethodNotAllowed)
				return
			}
			ttl, err := strconv.Atoi(r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
			if err != nil || ttl < 1 || ttl > 21600 {
				http.Error(rw, "X-aws-ec2-metadata-token-ttl-seconds must be 1 to 21600", http.StatusBadRequest)
				return
			}
			b := make([]byte, 24)
			_, _ = rand.Read(b)
			tok := hex.EncodeToString(b)
			now := s.clk.Now()
			m.mu.Lock()
			for t, exp := range m.tokens {
				if now.After(exp) {
					delete(m.tokens, t)
				}
			}
			m.tokens[tok] = now.Add(time.Duration(ttl) * time.Second)
			m.mu.Unlock()
			rw.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", strconv.Itoa(ttl))
			_, _ = rw.Write([]byte(tok))
			return
		}
		m.mu.Lock()
		exp, ok := m.tokens[r.Header.Get("X-Aws-Ec2-Metadata-Token")]
		m.mu.Unlock()
		if !ok || s.clk.Now().After(exp) {
			http.Error(rw, "Unauthorized", http.StatusUnauthorized)
			return
		}
		body, ok := v.lookup(r.URL.Path)
		if !ok {
			http.NotFound(rw, r)
			return
		}
		_, _ = rw.Write([]byte(body))
	})
}

func (v imdsView) lookup(path string) (string, bool) {
	mac := v.e.MAC
	macPath := "/latest/meta-data/network/interfaces/macs/" + mac + "/"
	switch path {
	case "/latest/meta-data/", "/latest/meta-data":
		return "ami-id\nhostname\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nmac\nnetwork/\nplacement/\npublic-ipv4", true
	case "/latest/meta-data/instance-id":
		return v.in.ID, true
	case "/latest/meta-data/ami-id":
		return v.in.ImageID, true
	case "/latest/meta-data/instance-type":
		return v.in.Type, true
	case "/latest/meta-data/placement/availability-zone":
		return v.in.AZ, true
	case "/latest/meta-data/placement/region":
		return v.region, true
	case "/latest/meta-data/local-ipv4":
		return v.in.PrivateIP, true
	case "/latest/meta-data/hostname", "/latest/meta-data/local-hostname":
		return privateDNS(v.in.PrivateIP), true
	case "/latest/meta-data/mac":
		return mac, true
	case "/latest/meta-data/public-ipv4":
		return v.public, v.public != ""
	case "/latest/meta-data/network/interfaces/macs/":
		return mac + "/", true
	case macPath + "interface-id":
		return v.e.ID, true
	case macPath + "local-ipv4s":
		return strings.Join(v.e.PrivateIPs, "\n"), true
	case macPath + "subnet-id":
		return v.e.SubnetID, true
	case macPath + "vpc-id":
		return v.e.VpcID, true
	case "/latest/dynamic/instance-identity/document":
		b, _ := json.MarshalIndent(map[string]any{
			"accountId": ownerID, "architecture": "x86_64", "availabilityZone": v.in.AZ, "imageId": v.in.ImageID,
			"instanceId": v.in.ID, "instanceType": v.in.Type, "privateIp": v.in.PrivateIP, "region": v.region,
			"pendingTime": awsTime(v.in.LaunchTime), "version": "2017-09-30",
		}, "", "  ")
		return string(b), true
	}
	return "", false
}
