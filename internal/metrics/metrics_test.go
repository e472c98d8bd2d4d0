package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestEC2CallsAndErrorsByCode(t *testing.T) {
	m := New()
	m.ObserveEC2Call("StopInstances", 10*time.Millisecond, nil)
	m.ObserveEC2Call("StopInstances", 10*time.Millisecond, &smithy.GenericAPIError{Code: "RequestLimitExceeded"})
	m.ObserveEC2Call("DescribeInstances", time.Millisecond, errors.New("connection refused"))
	if got := testutil.ToFloat64(m.EC2Calls.WithLabelValues("StopInstances")); got != 2 {
		t.Errorf("StopInstances calls = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.EC2Errors.WithLabelValues("StopInstances", "RequestLimitExceeded")); got != 1 {
		t.Errorf("throttled StopInstances = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.EC2Errors.WithLabelValues("DescribeInstances", "other")); got != 1 {
		t.Errorf("network errors = %v, want 1 under code other", got)
	}
}

func TestExposition(t *testing.T) {
	m := New()
	SetBool(m.Quorate, true)
	m.GroupOwner.WithLabelValues("web", "node-1").Set(1)
	m.FenceDuration.WithLabelValues("stop").Observe(1.5)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{"ec2ha_quorate 1", `ec2ha_group_owner{group="web",node="node-1"} 1`, `ec2ha_fence_duration_seconds_count{method="stop"} 1`, "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestGroupOwnerHasOneSeriesPerGroup(t *testing.T) {
	m := New()
	m.SetGroupOwner("web", "node-1")
	m.SetGroupOwner("db", "node-3")
	m.SetGroupOwner("web", "node-2")
	if got := testutil.CollectAndCount(m.GroupOwner); got != 2 {
		t.Errorf("%d owner series for 2 groups; a moved group must not keep its old owner", got)
	}
	if testutil.ToFloat64(m.GroupOwner.WithLabelValues("web", "node-2")) != 1 || testutil.ToFloat64(m.GroupOwner.WithLabelValues("db", "node-3")) != 1 {
		t.Error("owners not set")
	}
	m.SetGroupOwner("web", "")
	if got := testutil.CollectAndCount(m.GroupOwner); got != 1 {
		t.Errorf("a stopped group still has an owner series (%d series)", got)
	}
}
