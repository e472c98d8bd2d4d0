// Command ec2ha is the AWS-native high-availability controller: one binary
// that runs the agent, the operator commands and the EC2 simulator.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "ec2ha: under construction")
	os.Exit(1)
}
