// Command ec2ha is the AWS-native high-availability controller: one binary
// that runs the agent, the operator commands and the EC2 simulator.
//
// This package owns only the command line: cobra commands that map flags
// onto the packages doing the work (internal/config for loading and
// validation, internal/iampolicy, internal/agent, internal/api's client for
// the operator commands, ec2/ec2sim for `ec2ha sim`, internal/demo).
package main
