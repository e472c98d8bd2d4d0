package failover

import "testing"

func BenchmarkDecideFailover(b *testing.B) {
	cfg, obs := testConfig(), healthyObs()
	obs.Local = "b"
	member(&obs, "a").State = Dead
	setInstance(&obs, "i-a", Stopped)
	for b.Loop() {
		Decide(cfg, obs)
	}
}
