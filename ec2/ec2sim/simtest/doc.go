// Package simtest starts an EC2 simulator for a test: an httptest server
// and a real aws-sdk-go-v2 EC2 client pointed at it, both closed when the
// test ends.
//
//	env := simtest.Start(t, ec2sim.Options{})
//	env.Client.RunInstances(ctx, ...)
//	env.Sim.OnEvent(func(e ec2sim.Event) { ... })
//
// Set Options.IMDSHost ("127.0.0.1") to give each instance an IMDS
// endpoint (env.Sim.IMDSEndpoint), and Options.Clock to a *clock.Fake to
// step instance transitions.
package simtest
