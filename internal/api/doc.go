// Package api is the agent's local control API: versioned JSON over HTTP
// on a Unix socket (and optionally TCP with a bearer token). The agent
// serves it from a Backend; the operator commands (status, members,
// history, failover, standby, maintenance, fence, keyring) use Client and
// print with the Render functions.
package api
