package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	if err == nil {
		return
	}
	var exit exitError
	if !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "ec2ha:", err)
	}
	os.Exit(1)
}

// exitError ends the command with status 1 after it has already told the
// user what went wrong (config validate printing its problems, say).
type exitError struct{ reason string }

func (e exitError) Error() string { return e.reason }
