package main

import (
	"github.com/spf13/cobra"

	"github.com/ec2ha/ec2ha/internal/demo"
)

// newDemoCmd runs the demo `make demo` shows; everything is in package
// internal/demo. Its hidden `app` subcommand is the protected application
// the demo starts on every node.
func newDemoCmd() *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole cluster on this machine against the embedded EC2 simulator and crash its active node",
		Long: `Starts the embedded EC2 simulator with instances in three availability zones,
an Elastic IP, an overlay IP and a launch template; one agent and one small
HTTP service per node as processes; then injects a fault on the active node
and prints a live timeline: detection, quorum, fence requested and
confirmed, addresses moved, the service answering on the new node, the
replacement launched, running and joined. Ends with ` + "`ec2ha status`" + ` and
stops everything it started.

Faults: crash (the agent and the service are killed while EC2 still shows
the instance running), partition (the agent is frozen with SIGSTOP, so it
neither sends nor answers gossip while its service keeps answering), and
throttle (a crash while EC2 throttles a share of all API calls, --throttle-rate).

Node N uses the loopback address 127.0.0.(10+N), which Linux provides.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out, o.Err = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return demo.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Nodes, "nodes", 3, "number of agents (at least 3)")
	f.StringVar(&o.Fault, "fault", demo.FaultCrash, "fault to inject: crash, partition or throttle")
	f.BoolVar(&o.Keep, "keep", false, "keep the cluster running after the timeline for exploration, until Ctrl-C")
	f.BoolVar(&o.JSON, "json", false, "print the timeline as JSON on stdout (the live lines go to stderr)")
	f.Float64Var(&o.ThrottleRate, "throttle-rate", 0.25, "with --fault throttle: share of EC2 calls answered RequestLimitExceeded")
	f.DurationVar(&o.StepTimeout, "step-timeout", 0, "give up when no step happens for this long (default 60s)")
	cmd.AddCommand(newDemoAppCmd())
	return cmd
}

func newDemoAppCmd() *cobra.Command {
	var node, listen, state string
	cmd := &cobra.Command{
		Use:    "app",
		Short:  "The demo's protected HTTP service: 200 while --state-file exists, 503 otherwise",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.RunApp(cmd.Context(), node, listen, state)
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "node name to answer with")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "host:port to serve on")
	cmd.Flags().StringVar(&state, "state-file", "", "the service is active while this file exists")
	_ = cmd.MarkFlagRequired("node")
	_ = cmd.MarkFlagRequired("state-file")
	return cmd
}
