// Package hooks runs a resource group's start, stop and monitor commands:
// each with a timeout that kills the command's whole process group, with
// environment variables describing the group and the transition, and with
// its standard output and error captured line by line into the log.
package hooks
