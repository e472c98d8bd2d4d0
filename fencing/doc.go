// Package fencing implements STONITH through the EC2 API: a fenced peer is
// stopped (or terminated) and counts as fenced only once EC2 reports it
// stopped or terminated. Every fence is checked first: the target carries
// this cluster's tag, is not the caller, and the caller is quorate.
package fencing
