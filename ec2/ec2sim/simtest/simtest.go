package simtest

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
)

// Env is a running simulator and a client for it.
type Env struct {
	Sim    *ec2sim.Sim
	URL    string
	Client *awsec2.Client
}

// Start runs a simulator until the test ends. The client signs with dummy
// static credentials and retries like the SDK's standard retryer (3
// attempts) but with millisecond backoff and no client-side retry quota,
// so injected faults are retried quickly and never exhaust a budget. Use
// NewClient for a client that does not retry.
func Start(t testing.TB, opts ec2sim.Options) *Env {
	t.Helper()
	sim, err := ec2sim.Load(opts)
	if err != nil {
		t.Fatalf("ec2sim: %v", err)
	}
	srv := httptest.NewServer(sim)
	env := &Env{Sim: sim, URL: srv.URL}
	env.Client = env.NewClient()
	t.Cleanup(func() {
		srv.Close()
		if err := sim.Close(); err != nil {
			t.Errorf("ec2sim: closing: %v", err)
		}
	})
	return env
}

// NewClient returns another client for the simulator; optFns adjust it,
// e.g. func(o *awsec2.Options) { o.RetryMaxAttempts = 1 } to see every
// injected error.
func (e *Env) NewClient(optFns ...func(*awsec2.Options)) *awsec2.Client {
	opts := awsec2.Options{
		Region:       e.Sim.Region(),
		BaseEndpoint: aws.String(e.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSIMULATOR", "simulator-secret", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.MaxBackoff = 20 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
	}
	return awsec2.New(opts, optFns...)
}

// IMDS returns the SDK's metadata client pointed at one instance's own
// IMDS, as an agent on that instance would use it. The simulator must
// have been started with Options.IMDSHost set.
func (e *Env) IMDS(t testing.TB, instanceID string) *imds.Client {
	t.Helper()
	endpoint, err := e.Sim.IMDSEndpoint(instanceID)
	if err != nil {
		t.Fatalf("simtest: %v", err)
	}
	return imds.New(imds.Options{Endpoint: endpoint})
}
