// Package failover is ec2ha's decision engine. It takes observations — the
// membership view and quorum, EC2's state of instances and resources, hook
// health, configuration, operator intents and the time — and returns the
// actions the coordinator should take and why. It does no I/O: the caller
// observes, asks the engine, and carries the actions out in order.
package failover
