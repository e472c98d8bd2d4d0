// Package membership gives every agent an authenticated view of who is alive
// through hashicorp/memberlist gossip over unicast UDP and TCP, and the
// quorum answer that gates every cluster action.
//
// It owns:
//   - Start/Node: one memberlist instance with AES-GCM gossip encryption
//     (required unless Config.Insecure), memberlist's label set to the
//     cluster name so two clusters never merge, node metadata (Meta) in
//     memberlist's node meta, and a join loop over static addresses and
//     discovery (EC2Discovery: running instances tagged ec2ha:cluster) that
//     retries with backoff and rejoins after a network blip.
//   - The view (View, Member with alive/suspect/dead/left and the boot
//     incarnation) and an event stream (join, leave, failed, recovered,
//     update). Suspicion is polled, as memberlist reports it only in Members().
//     A dead or left member keeps its last Meta, including the run state
//     (Meta.Running, Meta.Failures) the agent publishes with UpdateMeta.
//   - Replacements: a new instance may take a dead member's name from a new
//     address once the member has been dead DeadNodeReclaimTime (8 probe
//     intervals, at most 10s); its new address and Meta win whatever its
//     boot incarnation.
//   - Call: request/reply to one member's Config.Handler over memberlist's
//     encrypted reliable stream, bounded by the caller's context; handler
//     errors come back as *RemoteError.
//   - ComputeQuorum: a pure function from a view and QuorumPolicy
//     (expected votes, two_node, wait_for_all) to Quorate, NotQuorate or
//     QuorateTwoNode (a fencing race), with the reason.
//   - Timing profiles fast, lan and wan (see Profiles for detection times).
//   - Cluster-wide key rotation (InstallKey, UseKey, RemoveKey, ListKeys),
//     confirmed by every alive member over gossip user messages.
//   - Prometheus metrics and Stats: members by state, probe failures,
//     suspicions, rejected traffic, gossip bytes.
//
// Sub-package memtest is an in-process, lossy and partitionable
// memberlist transport for tests and benchmarks.
package membership
