// Package clock lets code that waits or measures time take the clock as a
// dependency, so tests advance a fake clock instead of sleeping.
package clock
