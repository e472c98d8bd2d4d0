package ec2_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
)

func TestIdentityAndClientFromIMDS(t *testing.T) {
	ctx := context.Background()
	env := simtest.Start(t, ec2sim.Options{Region: "eu-west-1", IMDSHost: "127.0.0.1"})
	in := must(env.Client.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).Instances[0]
	endpoint := must(env.Sim.IMDSEndpoint(*in.InstanceId))

	id := must(ec2.ReadIdentity(ctx, ec2.NewIMDS(endpoint), 30*time.Second))
	want := ec2.Identity{InstanceID: *in.InstanceId, Region: "eu-west-1", AZ: *in.Placement.AvailabilityZone, PrivateIP: *in.PrivateIpAddress,
		MAC: *in.NetworkInterfaces[0].MacAddress, ENI: *in.NetworkInterfaces[0].NetworkInterfaceId, SubnetID: *in.SubnetId}
	if id != want {
		t.Fatalf("identity %+v, want %+v", id, want)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	c := must(ec2.NewClient(ctx, ec2.ClientConfig{Endpoint: env.URL, IMDS: ec2.NewIMDS(endpoint)}))
	if c.Options().Region != "eu-west-1" {
		t.Fatalf("region %q from IMDS, want eu-west-1", c.Options().Region)
	}
	out := must(c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id.InstanceID}}))
	if len(out.Reservations) != 1 {
		t.Fatal("the client did not reach the simulator")
	}
}

func TestUnreachableIMDSSaysWhy(t *testing.T) {
	// A listener that is closed at once: nothing answers there.
	l := must(net.Listen("tcp", "127.0.0.1:0"))
	addr := l.Addr().String()
	l.Close()
	c := ec2.NewIMDS("http://" + addr)
	_, err := ec2.ReadIdentity(context.Background(), c, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "hop limit") {
		t.Fatalf("error %v should explain the hop limit", err)
	}
	_, err = ec2.NewClient(context.Background(), ec2.ClientConfig{IMDS: c, CallTimeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "aws.region") {
		t.Fatalf("error %v should say to configure the region", err)
	}
}

// An agent started before the instance's network is up must wait for
// IMDS rather than exit: here the first requests fail.
func TestIdentityWaitsForIMDS(t *testing.T) {
	ctx := context.Background()
	env := simtest.Start(t, ec2sim.Options{})
	in := must(env.Client.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).Instances[0]
	var refused atomic.Int32
	imds := env.Sim.IMDSHandler(*in.InstanceId)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refused.Add(1) <= 6 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		imds.ServeHTTP(w, r)
	}))
	defer srv.Close()
	id, err := ec2.ReadIdentity(ctx, ec2.NewIMDS(srv.URL), 30*time.Second)
	if err != nil {
		t.Fatalf("identity after IMDS came up: %v", err)
	}
	if id.InstanceID != *in.InstanceId {
		t.Fatalf("instance %s, want %s", id.InstanceID, *in.InstanceId)
	}
	if n := refused.Load(); n <= 6 {
		t.Fatalf("IMDS was asked %d times: the refusals were not retried", n)
	}
}

// The program's client retries a throttled call, and stops after
// MaxAttempts: a failover never hammers a throttling EC2 without bound.
func TestClientRetriesThrottlingWithinItsAttempts(t *testing.T) {
	env := simtest.Start(t, ec2sim.Options{Region: "eu-west-1"})
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		env.Sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	c := must(ec2.NewClient(context.Background(), ec2.ClientConfig{Region: "eu-west-1", Endpoint: srv.URL, MaxAttempts: 3, MaxBackoff: 10 * time.Millisecond}))
	if err := env.Sim.SetFaults(ec2sim.Faults{ThrottleRate: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := c.DescribeInstances(context.Background(), &awsec2.DescribeInstancesInput{})
	if err == nil || !strings.Contains(err.Error(), "RequestLimitExceeded") {
		t.Fatalf("every answer throttled: %v", err)
	}
	if got := requests.Load(); got != 3 {
		t.Fatalf("%d requests for one call with max_attempts 3", got)
	}
}

// must is for set-up in the test goroutine; the panic fails the test.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
