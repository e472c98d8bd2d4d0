// Package fencing implements STONITH through the EC2 API: a fenced peer is
// stopped with Force (or terminated) and counts as fenced only once EC2
// reports it stopped or terminated.
//
// Every fence is checked first, each check with its own error: the caller
// is quorate (ErrNotQuorate, re-checked from the Authority it is handed),
// the target is not the caller (ErrSelf), the caller's own instance is
// running according to EC2 (ErrSelfNotRunning), and the target carries
// this cluster's tag (ErrNotClusterMember). Methods are tried as ordered
// levels, each with its own timeout, like Pacemaker's fencing topology.
// In a two-node race the node that does not hold the resources waits the
// fencing delay first and gives up if it finds itself fenced meanwhile.
//
// Throttling and 5xx answers that outlast the SDK's retries are asked
// again every poll interval within the level's timeout (the first level's,
// for the safety checks' reads), so they delay a fence but never escalate
// it to the next level; an answer EC2 gives for good (a missing permission,
// say) moves on at once.
//
// Every attempt ends confirmed, failed with its reason, or timed out, and
// is kept in an in-memory History and tagged on the target
// (ec2ha:fenced-by, ec2ha:fenced-at).
package fencing
