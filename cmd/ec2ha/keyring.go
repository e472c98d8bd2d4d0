package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/ec2ha/ec2ha/internal/api"
	"github.com/ec2ha/ec2ha/internal/config"
)

// newKeyringCmd rotates the gossip key without downtime, like Serf's and
// Consul's keyring: install the new key everywhere, use it, remove the old.
func newKeyringCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keyring",
		Short: "Rotate the gossip encryption key across the running cluster",
		Long: `Rotates the gossip key on every member without downtime, each step
confirmed by every alive member before it returns:

  ec2ha keygen --out /etc/ec2ha/gossip.key.new
  ec2ha keyring install /etc/ec2ha/gossip.key.new   # every member can decrypt with it
  ec2ha keyring use /etc/ec2ha/gossip.key.new       # every member encrypts with it
  ec2ha keyring remove /etc/ec2ha/gossip.key        # the old key no longer decrypts

Then replace gossip.key with the new file on every instance (and in the
Terraform secret) so restarted agents use it: the running keyring is not
written back to disk. Keys travel only over the local socket and the
encrypted gossip stream and are never printed; list shows fingerprints.`,
	}
	for _, op := range []string{"install", "use", "remove"} {
		cmd.AddCommand(operatorCmd(op+" KEYFILE", op+" the key in KEYFILE (base64, as keygen writes it) on every member", cobra.ExactArgs(1),
			func(ctx context.Context, cmd *cobra.Command, c *api.Client, args []string) error {
				key, err := config.ReadKeyFile(args[0])
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				resp, err := c.Keyring(ctx, api.KeyringRequest{Op: op, Key: base64.StdEncoding.EncodeToString(key)})
				if err != nil {
					return err
				}
				return printKeyring(cmd, resp)
			}))
	}
	cmd.AddCommand(operatorCmd("list", "list the key fingerprints installed on the members", cobra.NoArgs,
		func(ctx context.Context, cmd *cobra.Command, c *api.Client, _ []string) error {
			resp, err := c.Keyring(ctx, api.KeyringRequest{Op: "list"})
			if err != nil {
				return err
			}
			return printKeyring(cmd, resp)
		}))
	return cmd
}

func printKeyring(cmd *cobra.Command, resp api.KeyringResponse) error {
	w := cmd.OutOrStdout()
	if wantJSON(cmd) {
		return printJSON(w, resp)
	}
	fps := make([]string, 0, len(resp.Keys))
	for fp := range resp.Keys {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	fmt.Fprintf(w, "%d members answered\n", resp.Members)
	for _, fp := range fps {
		mark := ""
		if fp == resp.Primary {
			mark = "  (primary here)"
		}
		fmt.Fprintf(w, "  %s  on %d of %d members%s\n", fp, resp.Keys[fp], resp.Members, mark)
	}
	return nil
}
