package ec2

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
)

// ClientConfig configures the one EC2 client of the program.
type ClientConfig struct {
	// Region; empty asks IMDSv2.
	Region string
	// Endpoint overrides EC2's URL, e.g. the simulator's.
	Endpoint string
	// MaxAttempts per call, retries included; 0 means 5. The adaptive
	// retryer also slows all calls down when EC2 throttles, so a failover
	// does not make throttling worse.
	MaxAttempts int
	// MaxBackoff between attempts; 0 means 1s: a failover waits on these
	// calls, and the adaptive rate limiter already slows the client when
	// EC2 throttles, so long sleeps between attempts only add downtime.
	MaxBackoff time.Duration
	// CallTimeout bounds one HTTP attempt; 0 means 10s.
	CallTimeout time.Duration
	// IMDS answers the region when Region is empty; nil means the real one.
	IMDS *imds.Client
}

// NewClient builds the EC2 client: default credential chain, region from
// configuration or IMDSv2, adaptive retries with a bounded number of
// attempts, and a timeout on every attempt.
func NewClient(ctx context.Context, cc ClientConfig) (*awsec2.Client, error) {
	if cc.MaxAttempts < 0 || cc.MaxBackoff < 0 || cc.CallTimeout < 0 {
		return nil, errors.New("ec2 client: max_attempts, max_backoff and call_timeout must not be negative")
	}
	attempts := orDefault(cc.MaxAttempts, 5)
	backoff := orDefault(cc.MaxBackoff, time.Second)
	timeout := orDefault(cc.CallTimeout, 10*time.Second)
	region := cc.Region
	if region == "" {
		c := cc.IMDS
		if c == nil {
			c = NewIMDS("")
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		out, err := c.GetRegion(rctx, &imds.GetRegionInput{})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("ec2 client: no region configured and IMDSv2 could not tell it (%v); set aws.region or %s", err, errIMDSHelp)
		}
		region = out.Region
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(region),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(timeout)),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
				o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
					so.MaxAttempts = attempts
					so.MaxBackoff = backoff
				})
			})
		}))
	if err != nil {
		return nil, fmt.Errorf("ec2 client: loading AWS configuration: %w", err)
	}
	return awsec2.NewFromConfig(cfg, func(o *awsec2.Options) {
		if cc.Endpoint != "" {
			o.BaseEndpoint = aws.String(cc.Endpoint)
		}
	}), nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
