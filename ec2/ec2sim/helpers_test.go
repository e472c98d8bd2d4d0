package ec2sim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
)

var ctx = context.Background()

// noRetry makes a call fail on the first error, so tests see it.
func noRetry(o *awsec2.Options) { o.RetryMaxAttempts = 1 }

// apiErr returns the EC2 error code and HTTP status of err.
func apiErr(t *testing.T, err error) (string, int) {
	t.Helper()
	if err == nil {
		t.Fatal("call succeeded, want an EC2 error")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

func wantErr(t *testing.T, err error, code string, status int) {
	t.Helper()
	gotCode, gotStatus := apiErr(t, err)
	if gotCode != code || gotStatus != status {
		t.Fatalf("got %s (HTTP %d), want %s (HTTP %d): %v", gotCode, gotStatus, code, status, err)
	}
}

// mustOK unwraps a call that must succeed. It panics, failing the test
// with the caller's line in the trace, because Go cannot pass a call's two
// results alongside t.
func mustOK[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

func tag(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

func instanceTags(tags ...types.Tag) []types.TagSpecification {
	return []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}}
}

// launch runs n instances in subnet (default subnet if "") and returns them.
func launch(t *testing.T, c *awsec2.Client, n int32, subnet string, tags ...types.Tag) []types.Instance {
	t.Helper()
	in := &awsec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), MinCount: aws.Int32(n), MaxCount: aws.Int32(n)}
	if subnet != "" {
		in.SubnetId = aws.String(subnet)
	}
	if len(tags) > 0 {
		in.TagSpecifications = instanceTags(tags...)
	}
	return mustOK(c.RunInstances(ctx, in)).Instances
}

func describe(t *testing.T, c *awsec2.Client, id string) types.Instance {
	t.Helper()
	out := mustOK(c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}}))
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("describe %s: %d reservations", id, len(out.Reservations))
	}
	return out.Reservations[0].Instances[0]
}

func ids(ins []types.Instance) []string {
	var out []string
	for _, i := range ins {
		out = append(out, *i.InstanceId)
	}
	return out
}

func start(t *testing.T) *simtest.Env { return simtest.Start(t, ec2sim.Options{}) }

// events collects simulator events on a channel.
func events(env *simtest.Env) <-chan ec2sim.Event {
	ch := make(chan ec2sim.Event, 1024)
	env.Sim.OnEvent(func(e ec2sim.Event) { ch <- e })
	return ch
}

func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
