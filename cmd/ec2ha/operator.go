package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// The operator commands talk to the local agent's API (/v1 on its Unix
// socket). Until the agent exists they say so.
const needsAgentAPI = "the agent's local API (issue #8)"

func operatorFlags(cmd *cobra.Command) {
	cmd.Flags().Bool("json", false, "print JSON instead of text")
	cmd.Flags().String("socket", "", "agent API socket (default: api.socket from the configuration)")
}

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster on one screen: quorum, coordinator, members, groups, recent events",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return notYet("status", needsAgentAPI) },
	}
	operatorFlags(cmd)
	return cmd
}

func newMembersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List members with state, availability zone, instance and incarnation",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return notYet("members", needsAgentAPI) },
	}
	operatorFlags(cmd)
	return cmd
}

func newHistoryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show fences and failovers with their reasons and durations",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return notYet("history", needsAgentAPI) },
	}
	operatorFlags(cmd)
	cmd.Flags().Int("limit", 50, "show at most this many events")
	return cmd
}

func newFailoverCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "failover GROUP",
		Short: "Move a group to another node (planned switchover)",
		Long: `Moves GROUP to NODE (--to), or to the next eligible node, in order: stop
hooks on the current owner, addresses moved, start hooks on the new owner.
With --wait the command follows the switchover step by step until it ends.`,
		Args: cobra.ExactArgs(1),
		RunE: func(*cobra.Command, []string) error { return notYet("failover", needsAgentAPI) },
	}
	operatorFlags(cmd)
	cmd.Flags().String("to", "", "target node (default: the next eligible node)")
	cmd.Flags().Bool("wait", false, "follow the switchover until it completes")
	return cmd
}

func newStandbyCmd(on bool) *cobra.Command {
	use, short := "standby NODE", "Put a node in standby: its groups move away and it takes none"
	if !on {
		use, short = "unstandby NODE", "Take a node out of standby so it can host groups again"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return notYet(cmd.Name(), needsAgentAPI)
		},
	}
	operatorFlags(cmd)
	return cmd
}

func newMaintenanceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:       "maintenance on|off",
		Short:     "Cluster-wide maintenance mode: observe and report, never fence or move",
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"on", "off"},
		RunE:      func(*cobra.Command, []string) error { return notYet("maintenance", needsAgentAPI) },
	}
	operatorFlags(cmd)
	return cmd
}

func newFenceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fence NODE",
		Short: "Fence a node now: stop its instance through EC2 and wait for the confirmation",
		Long: fmt.Sprintf(`Fences NODE through the agent, with the same checks as an automatic fence:
the target carries this cluster's tag, is not the node asking, and the
cluster is quorate. Asks for confirmation unless --yes is given.
Needs %s.`, needsAgentAPI),
		Args: cobra.ExactArgs(1),
		RunE: func(*cobra.Command, []string) error { return notYet("fence", needsAgentAPI) },
	}
	operatorFlags(cmd)
	cmd.Flags().Bool("yes", false, "do not ask for confirmation")
	return cmd
}

func newAgentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the cluster agent (under systemd on every instance)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return notYet("the agent", "membership, fencing, resource moves and the failover coordinator wired together (issue #8)")
		},
	}
	return cmd
}

func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole cluster on this machine against the embedded EC2 simulator and crash its active node",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return notYet("the demo", "the agent (issue #8) and the demo harness (issue #9)")
		},
	}
	cmd.Flags().Int("nodes", 3, "number of agents")
	cmd.Flags().String("fault", "crash", "fault to inject: crash, partition or throttle")
	cmd.Flags().Bool("keep", false, "keep the cluster running after the timeline for exploration")
	return cmd
}
