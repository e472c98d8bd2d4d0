package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ec2ha/ec2ha/internal/clock"
)

// DefaultPort is the gossip port (UDP and TCP) when none is configured.
const DefaultPort = 7946

// Config is everything Start needs. The agent maps its YAML onto it.
type Config struct {
	// ClusterName is memberlist's label: packets and streams carrying a
	// different label are dropped, so two clusters never merge. Required.
	ClusterName string
	// NodeName is this node's unique name in the cluster. Required.
	NodeName string

	// BindAddr/BindPort is where gossip listens (UDP and TCP). Defaults:
	// 0.0.0.0 and DefaultPort.
	BindAddr string
	BindPort int
	// AdvertiseAddr/AdvertisePort is what other members dial; empty means
	// memberlist picks the bind address (or the first private IP).
	AdvertiseAddr string
	AdvertisePort int

	// Keys are the gossip encryption keys (16, 24 or 32 bytes, AES-GCM);
	// the first is the primary that encrypts, all of them decrypt. Required
	// unless Insecure.
	Keys [][]byte
	// Insecure runs gossip without encryption. Development only.
	Insecure bool

	// Profile is the timing preset: fast, lan or wan (default fast).
	// Timing overrides single values of it; zero fields keep the preset.
	Profile string
	Timing  Timing

	// Join are static addresses (host or host:port) to join through.
	Join []string
	// Discover, if set, finds more addresses to join, e.g. EC2Discovery.
	Discover Discoverer
	// JoinBackoff is the first wait between join attempts; it doubles up
	// to JoinMaxBackoff. Defaults 1s and 30s.
	JoinBackoff    time.Duration
	JoinMaxBackoff time.Duration

	// Meta is this node's metadata (Meta.Incarnation is set by Start).
	Meta Meta

	// Quorum is the quorum rule; ExpectedVotes 0 means 1.
	Quorum QuorumPolicy

	// Logger receives membership and memberlist logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer, if set, gets the membership metrics.
	Registerer prometheus.Registerer
	// Transport replaces memberlist's UDP/TCP transport (tests use
	// memtest). Nil means a real network transport on BindAddr:BindPort.
	Transport memberlist.Transport
	// Clock paces join retries. Default clock.Real.
	Clock clock.Clock

	// Handler answers Call from other members (and from this node calling
	// itself). Each call runs in its own goroutine, so it may take as long
	// as the caller's context allows; its ctx ends when the caller's
	// deadline passes or the node shuts down. A returned error reaches the
	// caller as a *RemoteError with the error's text. Nil answers every
	// call with the error "no handler".
	Handler func(ctx context.Context, from string, body []byte) ([]byte, error)

	// bootIncarnation, when non-zero, replaces the boot incarnation Start
	// derives from the clock (tests of a replacement with a smaller one).
	bootIncarnation uint64
}

// Discoverer finds addresses of other cluster members.
type Discoverer interface {
	Discover(ctx context.Context) ([]string, error)
}

// DiscoverFunc adapts a function to Discoverer.
type DiscoverFunc func(ctx context.Context) ([]string, error)

// Discover calls f.
func (f DiscoverFunc) Discover(ctx context.Context) ([]string, error) { return f(ctx) }

func (c *Config) validate() error {
	var errs []error
	if c.ClusterName == "" {
		errs = append(errs, errors.New("membership: ClusterName (cluster.name) is empty: name the cluster"))
	}
	if c.NodeName == "" {
		errs = append(errs, errors.New("membership: NodeName (node.name) is empty: give this node a unique name"))
	}
	if !c.Insecure && len(c.Keys) == 0 {
		errs = append(errs, errors.New("membership: no gossip key (gossip.key_file): create one with `ec2ha keygen`, or set gossip.insecure for development"))
	}
	for i, k := range c.Keys {
		if err := memberlist.ValidateKey(k); err != nil {
			errs = append(errs, fmt.Errorf("membership: gossip key %d is %d bytes: use 16, 24 or 32 bytes (ec2ha keygen makes 32)", i, len(k)))
		}
	}
	if c.Quorum.ExpectedVotes < 0 {
		errs = append(errs, errors.New("membership: ExpectedVotes (cluster.expected_votes) is negative"))
	}
	if c.Quorum.TwoNode && c.Quorum.ExpectedVotes != 2 {
		errs = append(errs, fmt.Errorf("membership: two_node needs expected_votes 2, not %d", c.Quorum.ExpectedVotes))
	}
	if _, err := ResolveTiming(c.profile(), c.Timing); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Config) profile() string {
	if c.Profile == "" {
		return "fast"
	}
	return c.Profile
}
