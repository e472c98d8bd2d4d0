package ec2sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ServeConfig is what `ec2ha sim` needs to run a simulator as a server.
type ServeConfig struct {
	Listen  string // host:port for the EC2 and admin APIs
	Options Options
	Out     io.Writer // the banner with the endpoint and CLI examples
}

// Serve runs a simulator on cfg.Listen until ctx ends, then shuts down
// cleanly: in-flight requests finish, the state file is saved.
func Serve(ctx context.Context, cfg ServeConfig) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	if cfg.Options.IMDSHost == "" {
		host, _, _ := net.SplitHostPort(ln.Addr().String())
		cfg.Options.IMDSHost = host
	}
	sim, err := Load(cfg.Options)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	endpoint := "http://" + ln.Addr().String()
	if cfg.Out != nil {
		fmt.Fprint(cfg.Out, Banner(endpoint, sim.Region()))
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(shutCtx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, sim.Close())
}

// Banner is what `ec2ha sim` prints: the endpoint and AWS CLI commands to
// paste.
func Banner(endpoint, region string) string {
	cli := fmt.Sprintf("AWS_ACCESS_KEY_ID=sim AWS_SECRET_ACCESS_KEY=sim aws --region %s --endpoint-url %s ec2", region, endpoint)
	var b strings.Builder
	fmt.Fprintf(&b, "EC2 simulator listening on %s (region %s; any credentials are accepted)\n\n", endpoint, region)
	fmt.Fprintf(&b, "Try:\n")
	fmt.Fprintf(&b, "  %s describe-subnets\n", cli)
	fmt.Fprintf(&b, "  %s run-instances --image-id ami-0123456789abcdef0 --count 1 --tag-specifications 'ResourceType=instance,Tags=[{Key=Name,Value=demo}]'\n", cli)
	fmt.Fprintf(&b, "  %s describe-instances --filters Name=tag:Name,Values=demo\n", cli)
	fmt.Fprintf(&b, "  %s stop-instances --force --instance-ids i-...\n", cli)
	fmt.Fprintf(&b, "  %s allocate-address\n\n", cli)
	fmt.Fprintf(&b, "Admin API:\n")
	fmt.Fprintf(&b, "  curl %s/admin/faults\n", endpoint)
	fmt.Fprintf(&b, "  curl -X PUT -d '{\"throttleRate\":0.2,\"latency\":{\"*\":\"100ms\"}}' %s/admin/faults\n", endpoint)
	fmt.Fprintf(&b, "  curl -N %s/admin/events\n", endpoint)
	fmt.Fprintf(&b, "  curl %s/admin/imds\n", endpoint)
	return b.String()
}

// ParseLatency reads a --latency value: a duration for every action
// ("200ms"), or action=duration pairs ("StopInstances=2s,*=50ms").
func ParseLatency(spec string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	for _, part := range strings.Split(spec, ",") {
		action, dur, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			action, dur = "*", action
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("--latency %q: %q is not a duration; use e.g. 200ms or StopInstances=2s,*=50ms", spec, dur)
		}
		if _, known := actions[action]; !known && action != "*" {
			return nil, fmt.Errorf("--latency %q: %s is not an action the simulator implements (see ec2sim.Actions)", spec, action)
		}
		out[action] = d
	}
	return out, nil
}
