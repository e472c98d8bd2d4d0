package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ec2ha/ec2ha/internal/agent"
	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/logging"
)

func newAgentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the cluster agent (under systemd on every instance)",
		Long: `Runs the agent: reads this instance's identity from IMDSv2, joins the
cluster's gossip, waits for quorum, and from then on fences failed members,
moves the groups' addresses and runs their hooks, and launches replacements.

SIGTERM hands the groups running here to another node (node.shutdown) and
leaves the cluster. SIGHUP reloads the configuration file where that is
safe and logs the keys that need a restart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := configPath(cmd)
			cfg, err := config.Load(path, cmd.Flags())
			if err != nil {
				return err
			}
			log, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
			if err != nil {
				return err
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			hangup := make(chan struct{})
			go func() {
				for range hup {
					hangup <- struct{}{}
				}
			}()
			return agent.Run(cmd.Context(), cfg, agent.Options{
				Logger: log,
				Reload: func() (*config.Config, error) { return config.Load(path, cmd.Flags()) },
				Hangup: hangup,
			})
		},
	}
	cmd.Flags().AddFlagSet(config.Flags())
	return cmd
}
