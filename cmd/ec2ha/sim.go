package main

import "github.com/spf13/cobra"

// newSimCmd is replaced by the simulator's command (issue #3).
func newSimCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sim",
		Short: "Run the embedded EC2 simulator",
		RunE:  func(*cobra.Command, []string) error { return notYet("sim", "the EC2 simulator (issue #3)") },
	}
}
