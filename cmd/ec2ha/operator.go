package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
)

// The operator commands talk to the local agent's API (/v1 on its Unix
// socket, or the TCP API with a bearer token).

func operatorFlags(cmd *cobra.Command) {
	cmd.Flags().Bool("json", false, "print JSON instead of text")
	cmd.Flags().String("socket", "", "agent API: a Unix socket path or an http:// URL (default: api.socket from the configuration)")
	cmd.Flags().String("token-file", "", "bearer token file for an http:// API")
}

// apiClient finds the agent: --socket, else api.socket from the
// configuration file, else the default socket.
func apiClient(cmd *cobra.Command) (*api.Client, error) {
	target, _ := cmd.Flags().GetString("socket")
	if target == "" {
		target = config.Default().API.Socket
		if cfg, err := config.Read(configPath(cmd), nil); cfg != nil && err == nil && cfg.API.Socket != "" {
			target = cfg.API.Socket
		}
	}
	token := ""
	if path, _ := cmd.Flags().GetString("token-file"); path != "" {
		data, err := config.ReadSecretFile(path)
		if err != nil {
			return nil, fmt.Errorf("--token-file %s %v: give the agent's api.token_file, readable only by you (chmod 0600 %s)", path, err, path)
		}
		token = string(data)
	}
	return api.NewClient(target, token), nil
}

func wantJSON(cmd *cobra.Command) bool {
	j, _ := cmd.Flags().GetBool("json")
	return j
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// operatorCmd builds a command that calls the agent and prints the answer.
func operatorCmd(use, short string, args cobra.PositionalArgs, run func(ctx context.Context, cmd *cobra.Command, c *api.Client, args []string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			return run(cmd.Context(), cmd, c, args)
		},
	}
	operatorFlags(cmd)
	return cmd
}

func newStatusCmd() *cobra.Command {
	return operatorCmd("status", "Show the cluster on one screen: quorum, coordinator, members, groups, recent events", cobra.NoArgs,
		func(ctx context.Context, cmd *cobra.Command, c *api.Client, _ []string) error {
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), st)
			}
			api.RenderStatus(cmd.OutOrStdout(), st)
			return nil
		})
}

func newMembersCmd() *cobra.Command {
	return operatorCmd("members", "List members with state, availability zone, instance and incarnation", cobra.NoArgs,
		func(ctx context.Context, cmd *cobra.Command, c *api.Client, _ []string) error {
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), st.Members)
			}
			api.RenderMembers(cmd.OutOrStdout(), st.Members)
			return nil
		})
}

func newHistoryCmd() *cobra.Command {
	cmd := operatorCmd("history", "Show fences and failovers with their reasons and durations", cobra.NoArgs,
		func(ctx context.Context, cmd *cobra.Command, c *api.Client, _ []string) error {
			limit, _ := cmd.Flags().GetInt("limit")
			events, err := newestEvents(ctx, c, limit)
			if err != nil {
				return err
			}
			if wantJSON(cmd) {
				if events == nil {
					events = []api.Event{} // [] rather than null for scripts
				}
				return printJSON(cmd.OutOrStdout(), events)
			}
			if len(events) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no events yet")
			}
			api.RenderHistory(cmd.OutOrStdout(), events)
			return nil
		})
	cmd.Flags().Int("limit", 100, "show the newest this many events")
	return cmd
}

// newestEvents returns the last limit events of the agent's history. The
// API pages forward from a sequence number, oldest first, so asking for
// limit events after 0 would show the oldest ones: an operator looking
// for last night's failover in a busy history would not find it.
func newestEvents(ctx context.Context, c *api.Client, limit int) ([]api.Event, error) {
	const page = 1000
	var all []api.Event
	var after uint64
	for {
		events, err := c.History(ctx, after, page)
		if err != nil {
			return nil, err
		}
		all = append(all, events...)
		if len(events) < page {
			break
		}
		after = events[len(events)-1].Seq
	}
	if limit > 0 && len(all) > limit {
		all = all[len(all)-limit:]
	}
	return all, nil
}

func newFailoverCmd() *cobra.Command {
	cmd := operatorCmd("failover GROUP", "Move a group to another node (planned switchover)", cobra.ExactArgs(1),
		func(ctx context.Context, cmd *cobra.Command, c *api.Client, args []string) error {
			to, _ := cmd.Flags().GetString("to")
			ticket, err := c.Move(ctx, args[0], api.MoveRequest{To: to})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			target := ticket.To
			if target == "" {
				target = "the next eligible node"
			}
			if wait, _ := cmd.Flags().GetBool("wait"); !wait {
				if wantJSON(cmd) {
					return printJSON(out, ticket)
				}
				fmt.Fprintf(out, "switchover of %s to %s requested; follow it with `ec2ha history`\n", ticket.Group, target)
				return nil
			}
			timeout, _ := cmd.Flags().GetDuration("timeout")
			if !wantJSON(cmd) {
				fmt.Fprintf(out, "switching %s over to %s ...\n", ticket.Group, target)
			}
			return followSwitchover(ctx, c, ticket, timeout, out, wantJSON(cmd))
		})
	cmd.Long = `Moves GROUP to NODE (--to), or to the next eligible node, in order: stop
hooks on the current owner, addresses moved, start hooks on the new owner.
With --wait the command prints each step until the switchover ends, and
exits 1 if it failed.`
	cmd.Flags().String("to", "", "target node (default: the next eligible node)")
	cmd.Flags().Bool("wait", false, "follow the switchover step by step until it ends")
	cmd.Flags().Duration("timeout", 5*time.Minute, "give up waiting after this long (the switchover itself goes on)")
	return cmd
}

// followSwitchover prints the group's events until the agent reports the
// switchover done or failed.
func followSwitchover(ctx context.Context, c *api.Client, t api.MoveTicket, timeout time.Duration, out io.Writer, asJSON bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	after := t.AfterSeq
	for {
		events, err := c.History(ctx, after, 100)
		if err != nil {
			return err
		}
		for _, e := range events {
			after = e.Seq
			if e.Group != t.Group {
				continue
			}
			if asJSON {
				_ = printJSON(out, e)
			} else {
				api.RenderHistory(out, []api.Event{e})
			}
			if e.Kind == api.KindSwitchover && e.Outcome != api.OutcomeStarted {
				if e.Outcome != api.OutcomeOK {
					return fmt.Errorf("switchover of %s failed: %s", t.Group, e.Message)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting after %s; the switchover goes on: `ec2ha status` shows where %s is", timeout, t.Group)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func newStandbyCmd(on bool) *cobra.Command {
	use, short := "standby NODE", "Put a node in standby: its groups move away and it takes none"
	if !on {
		use, short = "unstandby NODE", "Take a node out of standby so it can host groups again"
	}
	return operatorCmd(use, short, cobra.ExactArgs(1),
		func(ctx context.Context, cmd *cobra.Command, c *api.Client, args []string) error {
			if err := c.SetStandby(ctx, args[0], on); err != nil {
				return err
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), map[string]any{"node": args[0], "standby": on})
			}
			state := "in standby"
			if !on {
				state = "out of standby"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is %s\n", args[0], state)
			return nil
		})
}

func newMaintenanceCmd() *cobra.Command {
	cmd := operatorCmd("maintenance on|off", "Cluster-wide maintenance mode: observe and report, never fence or move",
		cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		func(ctx context.Context, cmd *cobra.Command, c *api.Client, args []string) error {
			if err := c.SetMaintenance(ctx, args[0] == "on"); err != nil {
				return err
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), map[string]bool{"maintenance": args[0] == "on"})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "maintenance mode %s\n", args[0])
			return nil
		})
	cmd.ValidArgs = []string{"on", "off"}
	return cmd
}

func newFenceCmd() *cobra.Command {
	cmd := operatorCmd("fence NODE", "Fence a node now: stop its instance through EC2 and wait for the confirmation", cobra.ExactArgs(1),
		func(ctx context.Context, cmd *cobra.Command, c *api.Client, args []string) error {
			if yes, _ := cmd.Flags().GetBool("yes"); !yes {
				fmt.Fprintf(cmd.ErrOrStderr(), "Fence %s? Its instance will be stopped through EC2. Type yes to go on: ", args[0])
				answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if strings.TrimSpace(answer) != "yes" {
					return fmt.Errorf("not fenced: no confirmation")
				}
			}
			res, err := c.Fence(ctx, args[0])
			if err != nil {
				return err
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s in %s — %s\n", res.Node, res.Instance, res.Outcome, res.Duration.Round(time.Millisecond), res.Message)
			if res.Outcome != "confirmed" {
				return exitError{"fence not confirmed"}
			}
			return nil
		})
	cmd.Long = `Fences NODE through the agent, with the same checks as an automatic fence:
the target carries this cluster's tag, is not the node asking, and the
cluster is quorate. Asks for confirmation unless --yes is given.`
	cmd.Flags().Bool("yes", false, "do not ask for confirmation")
	return cmd
}

func newUnfenceCmd() *cobra.Command {
	cmd := operatorCmd("unfence NODE", "Start a fenced node's stopped instance again, so it rejoins", cobra.ExactArgs(1),
		func(ctx context.Context, cmd *cobra.Command, c *api.Client, args []string) error {
			if yes, _ := cmd.Flags().GetBool("yes"); !yes {
				fmt.Fprintf(cmd.ErrOrStderr(), "Start %s's instance again? Type yes to go on: ", args[0])
				answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if strings.TrimSpace(answer) != "yes" {
					return fmt.Errorf("not started: no confirmation")
				}
			}
			res, err := c.Unfence(ctx, args[0])
			if err != nil {
				return err
			}
			if wantJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s — %s\n", res.Node, res.Instance, res.Outcome, res.Message)
			return nil
		})
	cmd.Long = `Starts NODE's instance through EC2 after a fence (stonith_admin --unfence),
once the cause is fixed; its agent then rejoins by itself. Refused for an
instance without this cluster's tag, for a node that is alive, and without
quorum. Asks for confirmation unless --yes is given.`
	cmd.Flags().Bool("yes", false, "do not ask for confirmation")
	return cmd
}
