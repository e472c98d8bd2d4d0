package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
)

// newSimCmd runs the embedded EC2 simulator as a server. All behaviour is
// in package ec2sim; this only maps flags.
func newSimCmd() *cobra.Command {
	var (
		listen, state, latency, faults, region, imdsHost string
		durations                                        = ec2sim.DemoDurations
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the embedded EC2 simulator",
		Long: `Run the EC2 simulator: the EC2 Query API that the AWS CLI, the SDKs and ec2ha
speak, with an admin API under /admin/ for fault injection and events, and an
IMDSv2 endpoint per instance. It stops cleanly on SIGINT or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := ec2sim.Options{Region: region, StatePath: state, Durations: durations, IMDSHost: imdsHost}
			if faults != "" {
				if err := json.Unmarshal([]byte(faults), &opts.Faults); err != nil {
					return fmt.Errorf("--faults: %w (example: '{\"throttleRate\":0.1}')", err)
				}
			}
			lat, err := ec2sim.ParseLatency(latency)
			if err != nil {
				return err
			}
			if len(lat) > 0 {
				opts.Faults.Latency = lat
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return ec2sim.Serve(ctx, ec2sim.ServeConfig{Listen: listen, Options: opts, Out: cmd.OutOrStdout()})
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:4566", "host:port for the EC2 API and the admin API")
	f.StringVar(&state, "state", "", "JSON file to load the world from and save it to (optional)")
	f.StringVar(&latency, "latency", "", "added latency: 200ms for every action, or StopInstances=2s,*=50ms")
	f.StringVar(&faults, "faults", "", `initial faults as JSON, e.g. '{"throttleRate":0.1,"staleReads":"2s"}'`)
	f.StringVar(&region, "region", "us-east-1", "region to simulate")
	f.StringVar(&imdsHost, "imds-host", "", "host for per-instance IMDS listeners (default: the --listen host)")
	f.DurationVar(&durations.Pending, "pending", durations.Pending, "how long instances stay pending")
	f.DurationVar(&durations.Stopping, "stopping", durations.Stopping, "how long instances stay stopping")
	f.DurationVar(&durations.ShuttingDown, "shutting-down", durations.ShuttingDown, "how long instances stay shutting-down")
	return cmd
}
