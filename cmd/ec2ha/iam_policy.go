package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/iampolicy"
)

func newIAMPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "iam-policy",
		Short: "Print the least-privilege IAM policy this configuration needs",
		Long: `Prints the IAM policy document (JSON) for the agents' instance role: only the
EC2 actions the agent calls for this configuration, with instance actions
limited to instances tagged ec2ha:cluster=<cluster name> and launches limited
to the configured launch template. The key file is not needed here, so this
can run on a workstation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Read(configPath(cmd), cmd.Flags())
			if err == nil {
				err = cfg.ValidateWithoutFiles()
			}
			var invalid *config.ValidationError
			if errors.As(err, &invalid) {
				return fmt.Errorf("fix the configuration first (`ec2ha config validate`): %w", err)
			}
			if err != nil {
				return err
			}
			for _, w := range iampolicy.Warnings(cfg) {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(iampolicy.ForConfig(cfg))
		},
	}
	cmd.Flags().AddFlagSet(config.Flags())
	return cmd
}
