package ec2

import (
	"reflect"
	"testing"
)

// The IAM policy is generated from Actions; the code calls API. They must
// name the same calls, in the same order, or the policy is wrong.
func TestActionsMatchAPI(t *testing.T) {
	api := reflect.TypeFor[API]()
	var methods []string
	for i := range api.NumMethod() {
		methods = append(methods, api.Method(i).Name)
	}
	var actions []string
	seen := map[string]bool{}
	for _, a := range Actions {
		if seen[a.Name] {
			t.Errorf("action %s listed twice", a.Name)
		}
		seen[a.Name] = true
		actions = append(actions, a.Name)
		if a.Why == "" {
			t.Errorf("action %s has no reason", a.Name)
		}
	}
	// reflect lists interface methods sorted by name.
	want := map[string]bool{}
	for _, m := range methods {
		want[m] = true
	}
	for _, a := range actions {
		if !want[a] {
			t.Errorf("Actions lists %s, which API does not have", a)
		}
	}
	for _, m := range methods {
		if !seen[m] {
			t.Errorf("API has %s, which Actions does not list: the IAM policy would miss it", m)
		}
	}
}
