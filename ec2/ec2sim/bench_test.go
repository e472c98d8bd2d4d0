package ec2sim_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/ec2/ec2sim/simtest"
)

// world1000 is a simulator with 1,000 instances, 10 of them tagged
// cluster=bench, spread over the three AZs.
func world1000(b *testing.B) *simtest.Env {
	env := simtest.Start(b, ec2sim.Options{})
	subnets := env.Sim.DefaultSubnets()
	for i := range 10 {
		n := int32(99)
		tags := instanceTags(tag("cluster", "other"))
		if i == 0 {
			n = 109
		}
		_, err := env.Client.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"),
			MinCount: aws.Int32(n), MaxCount: aws.Int32(n), SubnetId: aws.String(subnets[i%3]), TagSpecifications: tags})
		if err != nil {
			b.Fatal(err)
		}
	}
	_, err := env.Client.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"),
		MinCount: aws.Int32(10), MaxCount: aws.Int32(10), TagSpecifications: instanceTags(tag("cluster", "bench"))})
	if err != nil {
		b.Fatal(err)
	}
	return env
}

// BenchmarkDescribeInstancesTagFilter is ec2ha's membership discovery
// call: the cluster's 10 instances out of 1,000, over HTTP through the SDK.
func BenchmarkDescribeInstancesTagFilter(b *testing.B) {
	env := world1000(b)
	in := &awsec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag:cluster"), Values: []string{"bench"}}}}
	b.ResetTimer()
	for b.Loop() {
		out, err := env.Client.DescribeInstances(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(out.Reservations[0].Instances); n != 10 {
			b.Fatalf("%d instances", n)
		}
	}
}

// BenchmarkRequestThroughput is the rate of small calls (DescribeAddresses
// on a small world) one simulator answers from parallel SDK clients.
func BenchmarkRequestThroughput(b *testing.B) {
	env := simtest.Start(b, ec2sim.Options{})
	launch1 := &awsec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(3), MaxCount: aws.Int32(3)}
	if _, err := env.Client.RunInstances(ctx, launch1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := env.Client.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkDescribeInstancesServerSide is the simulator's own share of
// BenchmarkDescribeInstancesTagFilter: the handler without HTTP or the SDK.
func BenchmarkDescribeInstancesServerSide(b *testing.B) {
	env := world1000(b)
	form := url.Values{"Action": {"DescribeInstances"}, "Version": {ec2sim.APIVersion},
		"Filter.1.Name": {"tag:cluster"}, "Filter.1.Value.1": {"bench"}}.Encode()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		env.Sim.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
	}
}
