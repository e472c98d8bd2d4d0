package agent

import (
	"testing"

	"github.com/ec2ha/ec2ha/internal/api"
)

func TestJournalKeepsTheNewestAndNumbersEverything(t *testing.T) {
	j := newJournal(3)
	for i := range 5 {
		if seq := j.add(api.Event{Message: string(rune('a' + i))}); seq != uint64(i+1) {
			t.Fatalf("event %d got seq %d", i, seq)
		}
	}
	got := j.since(0, 10)
	if len(got) != 3 || got[0].Message != "c" || got[2].Seq != 5 {
		t.Fatalf("since(0) = %+v, want the newest three, c..e", got)
	}
	if got := j.since(4, 10); len(got) != 1 || got[0].Message != "e" {
		t.Fatalf("since(4) = %+v", got)
	}
	if got := j.since(2, 1); len(got) != 1 || got[0].Message != "c" {
		t.Fatalf("since(2, limit 1) = %+v", got)
	}
	if got := j.recent(2); len(got) != 2 || got[1].Message != "e" || j.last() != 5 {
		t.Fatalf("recent(2) = %+v, last %d", got, j.last())
	}
}
