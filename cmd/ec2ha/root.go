package main

import (
	"github.com/spf13/cobra"

	"github.com/ec2ha/ec2ha/internal/config"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ec2ha",
		Short: "AWS-native high availability: membership, quorum, EC2 fencing and address failover in one binary",
		Long: `ec2ha keeps an active/passive service on EC2 available. Each instance runs
"ec2ha agent"; the agents gossip over encrypted unicast, and when the active
instance fails a quorate survivor fences it through the EC2 API, moves its
Elastic IP, secondary IP and overlay routes, and launches a replacement.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("config", config.DefaultPath, "configuration file")
	root.AddCommand(
		newAgentCmd(),
		newSimCmd(),
		newDemoCmd(),
		newStatusCmd(),
		newMembersCmd(),
		newHistoryCmd(),
		newFailoverCmd(),
		newStandbyCmd(true),
		newStandbyCmd(false),
		newMaintenanceCmd(),
		newFenceCmd(),
		newUnfenceCmd(),
		newKeygenCmd(),
		newKeyringCmd(),
		newConfigCmd(),
		newIAMPolicyCmd(),
		newVersionCmd(),
	)
	return root
}

func configPath(cmd *cobra.Command) string {
	path, _ := cmd.Flags().GetString("config")
	return path
}
