package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ec2ha/ec2ha/internal/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check configuration files",
	}
	cmd.AddCommand(newConfigValidateCmd())
	return cmd
}

func newConfigValidateCmd() *cobra.Command {
	var print bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Report every problem in the configuration, or print it with its defaults",
		Long: `Loads the configuration file, applies defaults, EC2HA_ environment variables
and flags, and reports every problem at once: each names the key, the bad
value and the fix. Exits 0 when the configuration is valid, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := configPath(cmd)
			cfg, err := config.Load(path, cmd.Flags())
			var invalid *config.ValidationError
			if errors.As(err, &invalid) {
				out := cmd.ErrOrStderr()
				fmt.Fprintf(out, "%s: %d problem(s)\n", path, len(invalid.Problems))
				for _, p := range invalid.Problems {
					fmt.Fprintf(out, "  - %s\n", p)
				}
				return exitError{"invalid configuration"}
			}
			if err != nil {
				return err
			}
			if print {
				data, err := cfg.YAML()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is valid: cluster %q, %d nodes, quorum %d of %d votes, %d group(s)\n",
				path, cfg.Cluster.Name, len(cfg.Nodes), quorumOf(cfg), cfg.Cluster.ExpectedVotes, len(cfg.Groups))
			return nil
		},
	}
	cmd.Flags().BoolVar(&print, "print", false, "print the effective configuration with defaults applied")
	cmd.Flags().AddFlagSet(config.Flags())
	return cmd
}

// quorumOf is the number of votes a partition needs to act.
func quorumOf(cfg *config.Config) int {
	if cfg.Cluster.TwoNode {
		return 1
	}
	return cfg.Cluster.ExpectedVotes/2 + 1
}
