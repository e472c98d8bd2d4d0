package ec2sim_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
)

// TestAWSCLIScript runs testdata/cli.sh, which drives the simulator with
// the AWS CLI the way a user pasting commands would. AWS_CLI chooses the
// binary.
func TestAWSCLIScript(t *testing.T) {
	cli := os.Getenv("AWS_CLI") // e.g. /usr/bin/aws for Debian's v2
	if cli == "" {
		cli = "aws"
	}
	for _, tool := range []string{cli, "bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed; install the AWS CLI (pip install awscli, or Debian's awscli) to run the CLI scenarios", tool)
		}
	}
	// Stopping lasts long enough for the script to see it; the rest is
	// immediate to keep the test short.
	env := simtest.Start(t, ec2sim.Options{Durations: ec2sim.Durations{Stopping: 3 * time.Second}})
	runCtx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, "bash", "testdata/cli.sh")
	cmd.Env = append(cmd.Environ(), "ENDPOINT="+env.URL)
	out, err := cmd.CombinedOutput()
	t.Logf("cli.sh:\n%s", out)
	if err != nil {
		t.Fatalf("cli.sh failed: %v", err)
	}
}
