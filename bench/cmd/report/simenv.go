package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/ec2/ec2sim"
	"github.com/ec2ha/ec2ha/fencing"
)

// profile is how slow the simulated EC2 is.
type profile struct {
	Name     string
	Stopping time.Duration // stopping -> stopped
	Call     time.Duration // added before every API action
}

func (p profile) String() string {
	return fmt.Sprintf("stop latency %v, %v per API call", p.Stopping, p.Call)
}

// call is one EC2 API request the simulator received.
type call struct {
	Action string
	At     time.Time
}

// simEnv is a simulator served over HTTP on loopback, with per-instance
// IMDS listeners, and a log of the API requests it answered, so the same
// count and timing applies to ec2ha (in process) and to the Python tools
// (other processes).
type simEnv struct {
	prof   profile
	sim    *ec2sim.Sim
	srv    *http.Server
	URL    string
	Client *awsec2.Client // ec2ha's own client set-up (ec2.NewClient)

	mu    sync.Mutex
	calls []call
}

const region = "us-east-1"

func startSim(ctx context.Context, p profile) (*simEnv, error) {
	opts := ec2sim.Options{Region: region, IMDSHost: "127.0.0.1", Durations: ec2sim.Durations{Stopping: p.Stopping}}
	if p.Call > 0 {
		opts.Faults.Latency = map[string]time.Duration{"*": p.Call}
	}
	sim, err := ec2sim.Load(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &simEnv{prof: p, sim: sim, URL: "http://" + ln.Addr().String()}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	// ec2ha's client as the agent builds it; the SDK's default credential
	// chain finds the dummy keys set in main.
	e.Client, err = ec2.NewClient(ctx, ec2.ClientConfig{Region: region, Endpoint: e.URL})
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// serve logs the action, then hands the request to the simulator (which
// parses the form again; ParseForm is idempotent).
func (e *simEnv) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.ParseForm() == nil {
		if a := r.Form.Get("Action"); a != "" {
			e.mu.Lock()
			e.calls = append(e.calls, call{a, time.Now()})
			e.mu.Unlock()
		}
	}
	e.sim.ServeHTTP(w, r)
}

func (e *simEnv) mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}

func (e *simEnv) since(mark int) []call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]call(nil), e.calls[mark:]...)
}

func (e *simEnv) close() {
	_ = e.srv.Close()
	_ = e.sim.Close()
}

// launch starts n running cluster members.
func (e *simEnv) launch(ctx context.Context, n int) ([]instance, error) {
	out, err := e.Client.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"),
		MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance,
			Tags: []types.Tag{{Key: aws.String(fencing.ClusterTag), Value: aws.String(benchCluster)}}}}})
	if err != nil {
		return nil, err
	}
	var ins []instance
	for _, in := range out.Instances {
		id := aws.ToString(in.InstanceId)
		imds, err := e.sim.IMDSEndpoint(id)
		if err != nil {
			return nil, err
		}
		ins = append(ins, instance{ID: id, ENI: aws.ToString(in.NetworkInterfaces[0].NetworkInterfaceId),
			PrivateIP: aws.ToString(in.PrivateIpAddress), IMDS: imds})
	}
	for _, in := range ins {
		if err := e.waitState(ctx, in.ID, types.InstanceStateNameRunning); err != nil {
			return nil, err
		}
	}
	return ins, nil
}

func (e *simEnv) state(ctx context.Context, id string) (types.InstanceStateName, error) {
	out, err := e.Client.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return "", err
	}
	return out.Reservations[0].Instances[0].State.Name, nil
}

func (e *simEnv) waitState(ctx context.Context, id string, want types.InstanceStateName) error {
	var got types.InstanceStateName
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		s, err := e.state(ctx, id)
		if err != nil {
			return err
		}
		if got = s; s == want {
			return nil
		}
	}
	return fmt.Errorf("%s stayed %s, never became %s", id, got, want)
}

type instance struct {
	ID, ENI, PrivateIP, IMDS string
}

const benchCluster = "bench"

// floor is the part of a run's wall time the simulator imposes: the
// configured latency of every call made before the StopInstances call,
// of StopInstances itself and of every call made after the target
// stopped, plus the stop latency. Calls made while the instance was
// stopping (polls) overlap the stop latency and add nothing to the floor.
// For a run without StopInstances every call counts.
func (p profile) floor(calls []call) time.Duration {
	stopAt := -1
	for i, c := range calls {
		if c.Action == "StopInstances" {
			stopAt = i
			break
		}
	}
	if stopAt < 0 {
		return time.Duration(len(calls)) * p.Call
	}
	stopped := calls[stopAt].At.Add(p.Call + p.Stopping)
	n := stopAt + 1
	for _, c := range calls[stopAt+1:] {
		if c.At.After(stopped) {
			n++
		}
	}
	return time.Duration(n)*p.Call + p.Stopping
}
