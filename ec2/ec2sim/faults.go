package ec2sim

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ec2ha/ec2ha/internal/clock"
)

// Faults are the failures the simulator injects. Rates are probabilities
// per request between 0 and 1. The zero value injects nothing.
type Faults struct {
	// Latency is added before an action runs, by action name; the key "*"
	// applies to every action without its own entry.
	Latency map[string]time.Duration
	// ThrottleRate answers that fraction of requests RequestLimitExceeded.
	ThrottleRate float64
	// Bucket, if set, throttles requests beyond a token bucket, as EC2's
	// request rate limiting does.
	Bucket *TokenBucket
	// InternalErrorRate and UnavailableRate answer with 500 InternalError
	// and 503 Unavailable.
	InternalErrorRate float64
	UnavailableRate   float64
	// DropRate closes the connection without any response.
	DropRate float64
	// StaleReads makes Describe* calls see the world as it was this long
	// ago, as EC2's eventual consistency does after a write.
	StaleReads time.Duration
	// Deny answers these actions UnauthorizedOperation, as a missing IAM
	// permission would.
	Deny []string
	// Actions, if not empty, limits the rate faults (throttling, 5xx,
	// drops) to these actions.
	Actions []string
}

// TokenBucket allows Burst requests at once and Rate per second after that.
type TokenBucket struct {
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
}

// faultsJSON is Faults as the admin API and --faults flag spell it:
// durations as Go duration strings ("250ms").
type faultsJSON struct {
	Latency           map[string]string `json:"latency,omitempty"`
	ThrottleRate      float64           `json:"throttleRate,omitempty"`
	Bucket            *TokenBucket      `json:"tokenBucket,omitempty"`
	InternalErrorRate float64           `json:"internalErrorRate,omitempty"`
	UnavailableRate   float64           `json:"unavailableRate,omitempty"`
	DropRate          float64           `json:"dropRate,omitempty"`
	StaleReads        string            `json:"staleReads,omitempty"`
	Deny              []string          `json:"deny,omitempty"`
	Actions           []string          `json:"actions,omitempty"`
}

// MarshalJSON writes durations as strings such as "250ms".
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{ThrottleRate: f.ThrottleRate, Bucket: f.Bucket, InternalErrorRate: f.InternalErrorRate,
		UnavailableRate: f.UnavailableRate, DropRate: f.DropRate, Deny: f.Deny, Actions: f.Actions}
	if f.StaleReads > 0 {
		j.StaleReads = f.StaleReads.String()
	}
	if len(f.Latency) > 0 {
		j.Latency = map[string]string{}
		for k, v := range f.Latency {
			j.Latency[k] = v.String()
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Faults{ThrottleRate: j.ThrottleRate, Bucket: j.Bucket, InternalErrorRate: j.InternalErrorRate,
		UnavailableRate: j.UnavailableRate, DropRate: j.DropRate, Deny: j.Deny, Actions: j.Actions}
	if j.StaleReads != "" {
		d, err := time.ParseDuration(j.StaleReads)
		if err != nil {
			return fmt.Errorf("staleReads: %v (want a duration such as \"2s\")", err)
		}
		out.StaleReads = d
	}
	for k, v := range j.Latency {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("latency[%q]: %v (want a duration such as \"250ms\")", k, err)
		}
		if out.Latency == nil {
			out.Latency = map[string]time.Duration{}
		}
		out.Latency[k] = d
	}
	*f = out
	return out.Validate()
}

// Validate names the first field that is out of range.
func (f Faults) Validate() error {
	for name, r := range map[string]float64{"throttleRate": f.ThrottleRate, "internalErrorRate": f.InternalErrorRate,
		"unavailableRate": f.UnavailableRate, "dropRate": f.DropRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("%s is %v: a rate must be between 0 and 1", name, r)
		}
	}
	if f.Bucket != nil && (f.Bucket.Rate <= 0 || f.Bucket.Burst < 1) {
		return fmt.Errorf("tokenBucket needs rate > 0 and burst >= 1, got rate %v burst %d", f.Bucket.Rate, f.Bucket.Burst)
	}
	for k, v := range f.Latency {
		if v < 0 {
			return fmt.Errorf("latency[%q] is negative", k)
		}
	}
	if f.StaleReads < 0 {
		return fmt.Errorf("staleReads is negative")
	}
	return nil
}

type faultState struct {
	mu       sync.Mutex
	f        Faults
	rng      *rand.Rand
	tokens   float64
	refilled time.Time
}

// SetFaults replaces the faults in force. Invalid settings are rejected
// and the old ones kept.
func (s *Sim) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.faults.mu.Lock()
	s.faults.f = f
	if f.Bucket != nil {
		s.faults.tokens = float64(f.Bucket.Burst)
		s.faults.refilled = s.clk.Now()
	}
	s.faults.mu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = nil
	if f.StaleReads > 0 {
		s.history = []snapshot{{at: s.clk.Now(), w: s.w.clone()}}
	}
	return nil
}

// Faults returns the faults in force.
func (s *Sim) Faults() Faults {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.f
}

// injectFaults runs before every action. A dropped connection panics with
// http.ErrAbortHandler, which net/http turns into a closed connection.
func (s *Sim) injectFaults(ctx context.Context, action string) error {
	fs := &s.faults
	fs.mu.Lock()
	f := fs.f
	d, ok := f.Latency[action]
	if !ok {
		d = f.Latency["*"]
	}
	var verdict error
	drop := false
	switch {
	case slices.Contains(f.Deny, action):
		verdict = unauthorized(action)
	case len(f.Actions) > 0 && !slices.Contains(f.Actions, action):
	case fs.roll(f.DropRate):
		drop = true
	case fs.roll(f.ThrottleRate), !fs.take(f.Bucket, s.clk.Now()):
		verdict = errThrottled
	case fs.roll(f.InternalErrorRate):
		verdict = errInternal
	case fs.roll(f.UnavailableRate):
		verdict = errUnavailable
	}
	fs.mu.Unlock()
	if err := clock.Sleep(ctx, s.clk, d); err != nil {
		return err
	}
	if drop {
		panic(http.ErrAbortHandler)
	}
	return verdict
}

func (fs *faultState) roll(rate float64) bool {
	return rate > 0 && fs.rng.Float64() < rate
}

// take spends a token, refilling the bucket for the time since the last
// request. It reports false when the bucket is empty.
func (fs *faultState) take(b *TokenBucket, now time.Time) bool {
	if b == nil {
		return true
	}
	fs.tokens = min(float64(b.Burst), fs.tokens+now.Sub(fs.refilled).Seconds()*b.Rate)
	fs.refilled = now
	if fs.tokens < 1 {
		return false
	}
	fs.tokens--
	return true
}

// SetMachineGone marks an instance whose machine has vanished while the
// API still reports it running: its IMDS stops answering, its status
// checks fail, and a machine-gone event tells the test bed to kill the
// process standing in for it.
func (s *Sim) SetMachineGone(instanceID string, gone bool) error {
	_, err := s.mutate(nil, func(o *op) (any, error) {
		in, ok := o.w.Instances[instanceID]
		if !ok {
			return nil, notFound("InvalidInstanceID.NotFound", "instance ID", instanceID)
		}
		if in.MachineGone != gone {
			in.MachineGone = gone
			o.emit(Event{Type: EventMachineGone, InstanceID: in.ID, State: in.State, Gone: gone})
		}
		return nil, nil
	})
	return err
}

// snapshot is the world as it was at a moment, for stale reads.
type snapshot struct {
	at time.Time
	w  *world
}

// staleWorld returns the world readers see at now: the newest snapshot at
// least StaleReads old, or the live world when stale reads are off.
func (s *Sim) staleWorld(now time.Time) *world {
	if len(s.history) == 0 {
		return s.w
	}
	lag := s.Faults().StaleReads
	cut := now.Add(-lag)
	pick := 0
	for i, sn := range s.history {
		if !sn.at.After(cut) {
			pick = i
		}
	}
	// Older snapshots than the one picked can never be read again.
	s.history = s.history[pick:]
	return s.history[0].w
}

// afterWrite records the new world for stale readers and the state file.
func (s *Sim) afterWrite(now time.Time) {
	if len(s.history) > 0 {
		s.history = append(s.history, snapshot{at: now, w: s.w.clone()})
	}
	if s.opts.StatePath != "" {
		if err := saveWorld(s.opts.StatePath, s.w); err != nil {
			s.saveErr = err
			s.log.Error("ec2sim: saving state", "path", s.opts.StatePath, "err", err)
		}
	}
}
