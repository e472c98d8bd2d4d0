// Package version holds the build's version, stamped by the Makefile from git.
package version

// Version is set at link time with -ldflags "-X ...Version=...".
var Version = "dev"
