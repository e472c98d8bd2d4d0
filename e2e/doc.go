// Package e2e is the end-to-end test `make e2e` runs: real ec2ha agents,
// each in its own network namespace on a bridge (package netbed), against
// the embedded EC2 simulator, with real crashes, partitions and packet
// loss, checked from a client namespace.
//
// The simulator's events connect EC2 to the bed: an instance that stops
// loses its processes and its link, one that terminates loses its
// namespace, one that is launched gets a namespace at its private address
// with an agent and the demo application, and the Elastic IP answers on
// the namespace of the instance it is associated with. The agents move
// the group's secondary IP onto their own interface themselves.
//
// An observer outside the agents checks every scenario: a client polls
// the service address, the Elastic IP and each node every 50 ms, the bed
// is sampled for which hosts hold the service address, and the
// simulator's events say when instances were fenced and addresses moved.
// Never two nodes serving, never a move away from a faulted instance
// before EC2 shows it stopped, and every run ends whole and serving.
//
// Its tests are behind the e2e build tag, so `go test ./...` does not run
// them; they need root and fail (rather than skip) without it:
//
//	sudo make e2e                 # every scenario and a 50-seed campaign
//	sudo make e2e E2E_SEEDS=500   # a longer campaign
//	make build && go test -tags e2e -count=1 -v -run TestTwoNodePartition ./e2e/
//
// EC2HA_BIN names the binary under test (bin/ec2ha by default),
// E2E_REPORT a file for the report, E2E_SEED the campaign's first seed
// (to replay a failure), and E2E_KEEP a directory that receives every
// scenario's agent logs.
package e2e
