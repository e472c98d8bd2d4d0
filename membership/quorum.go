package membership

import "fmt"

// QuorumState is the three-way quorum answer.
type QuorumState int

const (
	// NotQuorate: this partition must not fence or take resources.
	NotQuorate QuorumState = iota
	// Quorate: this partition sees a strict majority of the expected votes.
	Quorate
	// QuorateTwoNode: a two_node cluster with one voter visible. Both halves
	// of a split believe this, so the decision is a fencing race that the
	// fencing delay must settle.
	QuorateTwoNode
)

func (s QuorumState) String() string {
	switch s {
	case Quorate:
		return "quorate"
	case QuorateTwoNode:
		return "quorate-two-node"
	default:
		return "not-quorate"
	}
}

// QuorumPolicy is the configured quorum rule.
type QuorumPolicy struct {
	// ExpectedVotes is the number of voters the cluster is built for. When
	// more voters are visible than expected, the visible count is used, as
	// Corosync's votequorum does.
	ExpectedVotes int
	// TwoNode makes one vote out of two quorate (as a fencing race).
	TwoNode bool
	// WaitForAll withholds quorum after a cold start until every expected
	// voter has been seen alive at least once.
	WaitForAll bool
}

// QuorumResult is the quorum answer with the numbers behind it.
type QuorumResult struct {
	State    QuorumState
	Votes    int // alive voters in the view, the local node included
	Expected int // expected votes after raising it to the visible count
	Needed   int // votes needed for a strict majority
	Reason   string
}

// Has reports whether the partition may act (Quorate or QuorateTwoNode).
func (r QuorumResult) Has() bool { return r.State != NotQuorate }

// ComputeQuorum answers whether the partition seen in view is quorate.
// allSeen says whether every expected voter has been seen alive since the
// cold start (it only matters with WaitForAll). Only alive members vote
// (see State.Votes): a suspect one may be on the other side of a
// partition, and a probe hiccup that takes quorum away for a moment costs
// nothing, since settle time and the no-quorum delay outlast it.
func ComputeQuorum(view View, p QuorumPolicy, allSeen bool) QuorumResult {
	votes := 0
	for _, m := range view.Members {
		if m.State.Votes() {
			votes++
		}
	}
	expected := max(p.ExpectedVotes, votes, 1)
	r := QuorumResult{Votes: votes, Expected: expected, Needed: expected/2 + 1}
	switch {
	case p.WaitForAll && !allSeen:
		r.Reason = fmt.Sprintf("wait_for_all: not every one of the %d expected voters has been seen since start", expected)
	case p.TwoNode && expected == 2 && votes == 1:
		r.State = QuorateTwoNode
		r.Needed = 1
		r.Reason = "two_node: 1 of 2 votes; the peer may believe the same, fencing delay decides"
	case votes >= r.Needed:
		r.State = Quorate
		r.Reason = fmt.Sprintf("%d of %d votes, %d needed", votes, expected, r.Needed)
	default:
		r.Reason = fmt.Sprintf("%d of %d votes, %d needed for a majority", votes, expected, r.Needed)
	}
	return r
}
