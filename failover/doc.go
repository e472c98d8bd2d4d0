// Package failover is ec2ha's decision engine. It takes observations — the
// membership view and quorum, EC2's state of instances and resources, hook
// health, configuration, operator intents and the time — and returns the
// actions the coordinator should take and why. It does no I/O: the caller
// observes, asks the engine, and carries the actions out in order.
//
// Decide is a pure function of Config and Observation. Its rules, in order:
//
//   - Without quorum a node takes no cluster action; after NoQuorumStopAfter
//     it stops the groups whose start hook it runs (Action.Local), so a
//     partitioned active node stops serving before the quorate side fences it.
//   - The coordinator is the alive non-witness member with the lowest name;
//     every other node only observes. Because views can briefly disagree,
//     safety never rests on this choice alone: every action needs quorum and
//     every recovery is gated on EC2's state.
//   - Maintenance mode observes and reports what it would do, never acts.
//   - After a membership change nothing is done for SettleTime, so a flap does
//     not cause a failover, nor until a majority of votes has been heard
//     from since the change: the failure detector declares members dead one
//     at a time, so a node cut off from everyone would otherwise count the
//     votes of peers it cannot reach yet and act from the minority side.
//   - Each group goes to the most preferred healthy eligible node (alive,
//     instance running, not standby, below its migration threshold); it
//     stays where it is while that node is healthy (no failback unless
//     GroupConfig.Failback); an operator Move overrides both.
//   - Before resources move or a start hook runs elsewhere, every other node
//     that may serve the group is released: by its stop hook if it is alive
//     (and not a monitor failure configured to fence), otherwise by fencing
//     its instance and waiting until EC2 shows it stopped. Instances without
//     the cluster tag and the deciding node's own instance are never fenced.
//   - A member that failed (rather than left) while EC2 shows its instance
//     running is fenced even when it holds no group, as Pacemaker fences a
//     lost node: it cannot come back with stale state, and it can be
//     replaced. Since nothing waits on it, it is fenced only once it has
//     stayed dead four settle times, so a failure detection made up by a
//     flapping link can be refuted first.
//   - A fenced member's instance gets a replacement (at most MaxPerHour), and
//     is terminated once the replacement runs.
//
// Actions come in the order the executor must carry them out: fences, stops,
// moves, starts, launches, terminations. Executor runs observe → decide →
// act → observe on membership events and a periodic resync, re-observing
// and re-deciding before each action, so it keeps nothing a successor needs:
// a coordinator that crashes mid-way is finished by the next from EC2.
package failover
