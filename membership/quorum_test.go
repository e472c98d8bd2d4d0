package membership

import (
	"testing"
	"time"
)

func view(states ...State) View {
	v := View{Local: "n0"}
	for i, s := range states {
		v.Members = append(v.Members, Member{Name: string(rune('a' + i)), State: s})
	}
	return v
}

func TestComputeQuorum(t *testing.T) {
	A, S, D, L := StateAlive, StateSuspect, StateDead, StateLeft
	tests := []struct {
		name    string
		view    View
		policy  QuorumPolicy
		allSeen bool
		want    QuorumState
		votes   int
	}{
		{"3 of 5 is a majority", view(A, A, A, D, D), QuorumPolicy{ExpectedVotes: 5}, true, Quorate, 3},
		{"2 of 5 is not", view(A, A), QuorumPolicy{ExpectedVotes: 5}, true, NotQuorate, 2},
		{"2 of 4 is not (even split)", view(A, A, D, D), QuorumPolicy{ExpectedVotes: 4}, true, NotQuorate, 2},
		{"suspect members do not vote: an isolated node sees its peers suspect", view(A, S, D), QuorumPolicy{ExpectedVotes: 3}, true, NotQuorate, 1},
		{"a majority with one suspect peer", view(A, A, S), QuorumPolicy{ExpectedVotes: 3}, true, Quorate, 2},
		{"left members do not vote", view(A, L, L), QuorumPolicy{ExpectedVotes: 3}, true, NotQuorate, 1},
		{"more voters than expected raise expected", view(A, A, A, A), QuorumPolicy{ExpectedVotes: 3}, true, Quorate, 4},
		{"two_node alone is a fencing race", view(A, D), QuorumPolicy{ExpectedVotes: 2, TwoNode: true}, true, QuorateTwoNode, 1},
		{"two_node with both is plainly quorate", view(A, A), QuorumPolicy{ExpectedVotes: 2, TwoNode: true}, true, Quorate, 2},
		{"two nodes without two_node: alone is not quorate", view(A, D), QuorumPolicy{ExpectedVotes: 2}, true, NotQuorate, 1},
		{"wait_for_all holds quorum before all seen", view(A, A, A), QuorumPolicy{ExpectedVotes: 3, WaitForAll: true}, false, NotQuorate, 3},
		{"wait_for_all releases once all seen", view(A, A, D), QuorumPolicy{ExpectedVotes: 3, WaitForAll: true}, true, Quorate, 2},
		{"wait_for_all blocks the two_node race at cold start", view(A), QuorumPolicy{ExpectedVotes: 2, TwoNode: true, WaitForAll: true}, false, NotQuorate, 1},
		{"single node cluster", view(A), QuorumPolicy{ExpectedVotes: 1}, true, Quorate, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ComputeQuorum(tt.view, tt.policy, tt.allSeen)
			if got.State != tt.want || got.Votes != tt.votes {
				t.Fatalf("got %v with %d votes (%s), want %v with %d", got.State, got.Votes, got.Reason, tt.want, tt.votes)
			}
			if got.Reason == "" {
				t.Fatal("no reason given")
			}
			if got.Has() != (tt.want != NotQuorate) {
				t.Fatalf("Has() = %v for %v", got.Has(), got.State)
			}
		})
	}
}

// The Profiles doc table is computed from these; keep them in step.
func TestDetectionTable(t *testing.T) {
	for _, tt := range []struct {
		profile         string
		n               int
		expected, bound time.Duration
	}{
		{"fast", 3, 1475 * time.Millisecond, 2200 * time.Millisecond},
		{"fast", 10, 1475 * time.Millisecond, 5200 * time.Millisecond},
		{"fast", 100, 2475 * time.Millisecond, 9200 * time.Millisecond},
		{"lan", 3, 5700 * time.Millisecond, 8400 * time.Millisecond},
		{"lan", 10, 5700 * time.Millisecond, 28400 * time.Millisecond},
		{"lan", 100, 9700 * time.Millisecond, 52400 * time.Millisecond},
		{"wan", 3, 38 * time.Second, 51 * time.Second},
		{"wan", 10, 38 * time.Second, 201 * time.Second},
		{"wan", 100, 68 * time.Second, 381 * time.Second},
	} {
		tm, err := ResolveTiming(tt.profile, Timing{})
		if err != nil {
			t.Fatal(err)
		}
		if got := tm.ExpectedDetection(tt.n).Round(time.Millisecond); got != tt.expected {
			t.Errorf("%s n=%d expected %v, table says %v", tt.profile, tt.n, got, tt.expected)
		}
		if got := tm.DetectionBound(tt.n).Round(time.Millisecond); got != tt.bound {
			t.Errorf("%s n=%d bound %v, table says %v", tt.profile, tt.n, got, tt.bound)
		}
	}
}
