package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ec2ha/ec2ha/internal/config"
)

func newKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make a random 32-byte gossip encryption key (base64)",
		Long: `Makes a random AES-256 key for gossip encryption, base64 encoded. With --out
the key is written to a new file with mode 0600 (an existing file is never
overwritten); otherwise it is printed. Copy the same key to every node.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out != "" {
				if err := config.WriteKeyFile(out); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote a new gossip key to %s (mode 0600)\n", out)
				return nil
			}
			key, err := config.NewKey()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), key)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the key to this new file (mode 0600) instead of stdout")
	return cmd
}
