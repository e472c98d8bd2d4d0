// Package agent is `ec2ha agent`: it starts in the order the cluster
// needs (identity from IMDSv2, the EC2 client, the node name, fencing and
// replacement, then membership), serves the local API, metrics and health
// probes, and runs the failover coordinator. Each node gossips which
// groups it runs; the coordinator (the alive non-witness member with the
// lowest name) alone reads EC2, decides with package failover and acts:
// fences, address moves, and start and stop hooks on the chosen node over
// membership calls. Operator intents are EC2 tags on the cluster's
// instances. History is shared by all members. SIGTERM hands the groups
// over (node.shutdown); SIGHUP reloads what can change without a restart.
package agent
