//go:build e2e

package e2e

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ec2ha/ec2ha/internal/config"
)

// The campaign plays one randomly chosen fault per seed on a single
// long-lived cluster, waits until the cluster is whole and serving again,
// and checks the invariants over everything observed so far. A failure
// names the seed; E2E_SEEDS sets how many (50 by default), E2E_SEED the
// first one, so `E2E_SEED=17 E2E_SEEDS=1` replays seed 17's fault (on a
// fresh cluster).

var campaignFaults = []struct {
	name string
	play func(c *cluster, rng *rand.Rand) *fault
}{
	{"crash of the active", lose((*cluster).owned, (*fault).crash)},
	{"crash of a standby", lose((*cluster).standby, (*fault).crash)},
	{"partition isolating the active", lose((*cluster).owned, (*fault).isolate)},
	{"flapping link", func(c *cluster, rng *rand.Rand) *fault {
		m := c.owned()
		f := c.begin(nil)
		for range 3 + rng.IntN(5) {
			if err := m.host.Isolate(c.others(m)...); err != nil {
				c.t.Fatal(err)
			}
			time.Sleep(time.Duration(100+rng.IntN(200)) * time.Millisecond)
			_ = m.host.Heal()
			time.Sleep(time.Duration(500+rng.IntN(500)) * time.Millisecond)
		}
		if n := c.fences(f.at); n != 0 {
			c.t.Errorf("%d fences from a link flapping for at most 300 ms at a time", n)
		}
		c.waitStable(recoverWithin)
		return f
	}},
	{"packet loss", func(c *cluster, rng *rand.Rand) *fault {
		f := c.begin(nil)
		percent := 1 + rng.IntN(5)
		c.mu.Lock()
		var hosts []*machine
		for _, m := range c.machines {
			hosts = append(hosts, m)
		}
		c.mu.Unlock()
		for _, m := range hosts {
			_ = m.host.Lose(percent)
		}
		time.Sleep(3 * time.Second)
		for _, m := range hosts {
			_ = m.host.Heal()
		}
		c.waitStable(recoverWithin)
		return f
	}},
	{"restart of an agent", func(c *cluster, rng *rand.Rand) *fault {
		f := c.begin(nil)
		c.restartAgent(c.w.Nodes[rng.IntN(len(c.w.Nodes))].Name)
		c.waitStable(recoverWithin)
		if n := c.fences(f.at); n != 0 {
			c.t.Errorf("%d fences after an agent restarted cleanly", n)
		}
		return f
	}},
}

// lose hits the machine pick chooses with hit, and waits until EC2 has
// fenced it and the cluster is whole and serving again.
func lose(pick func(*cluster) *machine, hit func(*fault, *machine)) func(*cluster, *rand.Rand) *fault {
	return func(c *cluster, _ *rand.Rand) *fault {
		m := pick(c)
		f := c.begin(m)
		hit(f, m)
		c.recovers(recoverWithin, m)
		return f
	}
}

func TestRandomisedCampaign(t *testing.T) {
	seeds, first := envInt(t, "E2E_SEEDS", 50), envInt(t, "E2E_SEED", 1)
	c := newCluster(t, spec{nodes: 3, tweak: func(cfg *config.Config) {
		cfg.Replacement.MaxPerHour = 10 * seeds
	}})
	counts := map[string]int{}
	began := time.Now()
	for seed := first; seed < first+seeds; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		pick := campaignFaults[rng.IntN(len(campaignFaults))]
		counts[pick.name]++
		t.Logf("seed %d: %s", seed, pick.name)
		f := pick.play(c, rng)
		r := f.check("campaign: " + pick.name)
		if !r.ok || t.Failed() {
			t.Fatalf("seed %d (%s) broke the cluster; replay with E2E_SEED=%d E2E_SEEDS=1", seed, pick.name, seed)
		}
	}
	t.Logf("%d seeds in %s: %v", seeds, time.Since(began).Round(time.Second), counts)
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}
