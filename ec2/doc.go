// Package ec2 owns ec2ha's conversation with the EC2 API: the narrow API
// interface of the calls the agent makes (the same list that `ec2ha
// iam-policy` turns into a least-privilege policy), client set-up, instance
// identity from IMDSv2, and the resource operations that move addresses.
//
// Sub-packages:
//   - ec2sim: an embedded, wire-compatible EC2 simulator for the demo and
//     tests (ec2sim/simtest starts one per test);
//   - moves: compare-and-set Elastic IP, secondary IP and overlay route moves;
//   - replace: launching a replacement from a launch template, idempotent by
//     client token, with an hourly limit and a circuit breaker;
//   - hostnet: an address on the host interface (netlink) and its
//     gratuitous ARP.
package ec2
