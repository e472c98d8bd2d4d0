// Package metrics holds the agent's Prometheus metrics: cluster state,
// failovers and fences with their durations, EC2 API calls and hook runs.
// Membership registers its own gossip metrics on the same registry.
package metrics
