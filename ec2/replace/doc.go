// Package replace launches a replacement for a fenced instance from the
// cluster's launch template, so the cluster returns to full strength
// without a person acting.
//
// A launch is idempotent: its ClientToken is derived from the cluster,
// the failed instance and the failover, so a coordinator that crashes
// and is succeeded, or a request retried after a timeout, gets the same
// instance back from EC2 instead of a second one. Launches are limited
// per hour and stop behind a circuit breaker when they keep failing, so a
// broken template or an exhausted capacity pool cannot turn into a launch
// storm. After the replacement runs, the fenced instance is terminated,
// kept stopped or restarted as configured.
package replace
