package fencing

import (
	"sync"
	"time"
)

// Outcome is how a fence attempt ended.
type Outcome string

const (
	Confirmed Outcome = "confirmed"  // EC2 reports the target stopped or terminated
	Failed    Outcome = "failed"     // an API error or a refused safety check
	TimedOut  Outcome = "timed-out"  // no level confirmed within its timeout
	Vanished  Outcome = "vanished"   // target unknown to EC2, counted as fenced by configuration
	Stood     Outcome = "stood-down" // the caller found itself fenced during the race delay
)

// Record is one fence attempt, as the API exports it.
type Record struct {
	Target     string    `json:"target"`
	Method     string    `json:"method,omitempty"` // the level that ended the attempt
	Requester  string    `json:"requester"`
	Reason     string    `json:"reason"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Outcome    Outcome   `json:"outcome"`
	Error      string    `json:"error,omitempty"`
	RequestIDs []string  `json:"requestIds,omitempty"` // EC2 request ids of the mutating calls
}

// History keeps the most recent fence records in a bounded ring.
type History struct {
	mu   sync.Mutex
	recs []Record
	next int
	full bool
}

// NewHistory keeps up to size records (at least 1).
func NewHistory(size int) *History {
	return &History{recs: make([]Record, max(size, 1))}
}

func (h *History) add(r Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs[h.next] = r
	h.next = (h.next + 1) % len(h.recs)
	if h.next == 0 {
		h.full = true
	}
}

// Records returns the kept records, oldest first.
func (h *History) Records() []Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]Record(nil), h.recs[:h.next]...)
	}
	return append(append([]Record(nil), h.recs[h.next:]...), h.recs[:h.next]...)
}
