//go:build race

package main

// raceBuild makes the process test build its agents with the race
// detector when the test itself runs with it: the packages are then
// already compiled that way, and the agents are checked as well.
const raceBuild = true
