// Package ec2sim is an embedded EC2 simulator that speaks the EC2 Query
// protocol, so the real aws-sdk-go-v2 client, the AWS CLI and ec2ha itself
// can run against it without an AWS account.
//
// It owns a simulated region: a default VPC with a subnet in each of three
// AZs and a main route table; instances with a primary network interface
// and a private address from their subnet; Elastic IPs; launch templates
// with versions; route tables; tags. Instances move through pending,
// stopping and shutting-down for configurable durations (Options.Durations,
// zero for unit tests, DemoDurations for the demo), and what a stopped or
// terminated instance keeps follows the EC2 user guide (see lifecycle.go).
//
// A *Sim is an http.Handler: POST form-encoded Action=...&Version=2016-11-15
// to any path and get EC2's XML back, errors included with EC2's codes and
// HTTP statuses. Signatures are not checked. Under /admin/ is a small JSON
// API to change injected faults at run time and to stream events.
//
// For a test bed it offers:
//   - fault injection (SetFaults, or PUT /admin/faults): latency per
//     action, throttling by rate or token bucket, 500/503 rates, dropped
//     connections, stale Describe* reads, denied actions, and per instance
//     a machine that is gone while the API says it runs (SetMachineGone);
//   - events (OnEvent, or GET /admin/events) for launches, state changes
//     and moves of addresses, private IPs and routes;
//   - IMDSv2 per instance on its own listener (Options.IMDSHost,
//     IMDSEndpoint), for the SDK's imds client;
//   - persistence to a JSON file (Options.StatePath).
//
// Package simtest starts one for a Go test with a real EC2 client.
package ec2sim
