package ec2

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
)

// nullAPI answers every call with an empty output, or fails StopInstances.
type nullAPI struct{ API }

func (nullAPI) DescribeInstances(context.Context, *awsec2.DescribeInstancesInput, ...func(*awsec2.Options)) (*awsec2.DescribeInstancesOutput, error) {
	return &awsec2.DescribeInstancesOutput{}, nil
}

func (nullAPI) StopInstances(context.Context, *awsec2.StopInstancesInput, ...func(*awsec2.Options)) (*awsec2.StopInstancesOutput, error) {
	return nil, errors.New("throttled")
}

// Every API method must report under its own action name, or the metrics
// would blame the wrong call.
func TestObservedReportsEveryMethodUnderItsName(t *testing.T) {
	var got []string
	// A real client whose endpoint answers nothing useful: every call
	// fails fast, which is all the observer needs to see.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadRequest) }))
	defer srv.Close()
	client := awsec2.New(awsec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.AnonymousCredentials{},
		Retryer:      aws.NopRetryer{},
	})
	api := Observed(client, func(action string, _ time.Duration, _ error) { got = append(got, action) })
	v := reflect.ValueOf(api)
	ty := reflect.TypeFor[API]()
	for i := range ty.NumMethod() {
		m := ty.Method(i)
		in := reflect.New(m.Type.In(1).Elem())
		v.MethodByName(m.Name).Call([]reflect.Value{reflect.ValueOf(context.Background()), in})
		if len(got) != i+1 || got[i] != m.Name {
			t.Fatalf("calling %s reported %v", m.Name, got)
		}
	}
}

func TestObservedPassesResultsAndErrors(t *testing.T) {
	var errs []error
	api := Observed(nullAPI{}, func(_ string, _ time.Duration, err error) { errs = append(errs, err) })
	if out, err := api.DescribeInstances(context.Background(), &awsec2.DescribeInstancesInput{}); err != nil || out == nil {
		t.Fatalf("DescribeInstances: %v %v", out, err)
	}
	if _, err := api.StopInstances(context.Background(), &awsec2.StopInstancesInput{}); err == nil {
		t.Fatal("StopInstances error was swallowed")
	}
	if len(errs) != 2 || errs[0] != nil || errs[1] == nil {
		t.Fatalf("observer saw %v", errs)
	}
}
