// Package membership gives every agent an authenticated view of who is alive
// through hashicorp/memberlist gossip over unicast UDP and TCP, and the
// quorum answer that gates every cluster action.
package membership
