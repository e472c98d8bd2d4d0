package agent

import (
	"sync"

	"github.com/ec2ha/ec2ha/internal/api"
)

// journal is the agent's bounded history of events: what `ec2ha history`
// and `status` show, and what `failover --wait` follows. Events are
// numbered so a reader can ask for everything after the last it saw.
type journal struct {
	mu     sync.Mutex
	seq    uint64
	events []api.Event // oldest first, at most max
	max    int
}

func newJournal(max int) *journal { return &journal{max: max} }

// add numbers e, stores it and returns its sequence number.
func (j *journal) add(e api.Event) uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq++
	e.Seq = j.seq
	j.events = append(j.events, e)
	if len(j.events) > j.max {
		j.events = append(j.events[:0:0], j.events[len(j.events)-j.max:]...)
	}
	return e.Seq
}

// since returns up to limit events with Seq > after, oldest first.
func (j *journal) since(after uint64, limit int) []api.Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []api.Event
	for _, e := range j.events {
		if e.Seq > after {
			out = append(out, e)
			if len(out) == limit {
				break
			}
		}
	}
	return out
}

// recent returns the last n events, oldest first.
func (j *journal) recent(n int) []api.Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	start := max(0, len(j.events)-n)
	return append([]api.Event(nil), j.events[start:]...)
}

// last returns the newest sequence number.
func (j *journal) last() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seq
}

// count returns how many stored events match.
func (j *journal) count(match func(api.Event) bool) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for _, e := range j.events {
		if match(e) {
			n++
		}
	}
	return n
}
