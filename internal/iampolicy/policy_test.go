package iampolicy

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/internal/config"
)

func TestEveryActionHasARule(t *testing.T) {
	for _, a := range ec2.Actions {
		if needs[a.Name] == nil {
			t.Errorf("no rule says when %s is needed: the policy would panic or miss it", a.Name)
		}
	}
	if len(needs) != len(ec2.Actions) {
		t.Errorf("%d rules for %d actions: a rule names an action the code does not call", len(needs), len(ec2.Actions))
	}
}

func full() *config.Config {
	cfg := config.Default()
	cfg.Cluster.Name = "web"
	cfg.Fencing.Levels = []config.FenceLevel{{Method: "stop"}, {Method: "terminate"}}
	cfg.Groups = []config.Group{{Name: "web", Resources: config.Resources{
		ElasticIPs:   []config.ElasticIP{{AllocationID: "eipalloc-0123456789abcdef0"}},
		SecondaryIPs: []config.SecondaryIP{{Address: "10.0.1.5"}},
		OverlayIPs:   []config.OverlayIP{{Address: "192.168.0.1", RouteTables: []string{"rtb-01234567"}}},
	}}}
	cfg.Replacement.Enabled = true
	cfg.Replacement.LaunchTemplate.ID = "lt-0123456789abcdef0"
	cfg.Replacement.PassRoleARN = "arn:aws:iam::123456789012:role/ec2ha"
	return &cfg
}

func TestFullConfigurationGrantsExactlyTheCodesActions(t *testing.T) {
	doc := ForConfig(full())
	var want []string
	for _, a := range ec2.Actions {
		want = append(want, "ec2:"+a.Name)
	}
	want = append(want, "ec2:CreateTags", "iam:PassRole") // tag-on-launch, pass role
	slices.Sort(want)
	if got := doc.Actions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("actions\n got %v\nwant %v", got, want)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(data, &back); err != nil || back["Version"] != "2012-10-17" {
		t.Fatalf("policy JSON does not round-trip: %v %s", err, data)
	}
}

func TestInstanceActionsCarryTheClusterTagCondition(t *testing.T) {
	for _, s := range ForConfig(full()).Statement {
		for _, a := range s.Action {
			switch a {
			case "ec2:StopInstances", "ec2:StartInstances", "ec2:TerminateInstances":
				if s.Condition["StringEquals"]["aws:ResourceTag/ec2ha:cluster"] != "web" {
					t.Errorf("%s in %s is not limited to instances tagged ec2ha:cluster=web: %v", a, s.Sid, s.Condition)
				}
			case "ec2:RunInstances":
				if s.Condition["ArnLike"]["ec2:LaunchTemplate"] != "arn:aws:ec2:*:*:launch-template/lt-0123456789abcdef0" {
					t.Errorf("RunInstances is not limited to the launch template: %v", s.Condition)
				}
				// A replacement names its subnet, which is not a
				// resource of the template; requiring
				// ec2:IsLaunchTemplateResource would deny the launch.
				if _, ok := s.Condition["Bool"]["ec2:IsLaunchTemplateResource"]; ok {
					t.Errorf("RunInstances requires ec2:IsLaunchTemplateResource, which denies the subnet every replacement names: %v", s.Condition)
				}
			}
		}
	}
}

func TestMinimalConfigurationGrantsLess(t *testing.T) {
	cfg := config.Default()
	cfg.Cluster.Name = "web"
	cfg.Groups = []config.Group{{Name: "web", Resources: config.Resources{
		ElasticIPs: []config.ElasticIP{{AllocationID: "eipalloc-0123456789abcdef0"}},
	}}}
	got := ForConfig(&cfg).Actions()
	for _, absent := range []string{"ec2:RunInstances", "ec2:TerminateInstances", "ec2:ReplaceRoute", "ec2:AssignPrivateIpAddresses", "iam:PassRole"} {
		if slices.Contains(got, absent) {
			t.Errorf("policy for a stop-fencing EIP-only cluster grants %s", absent)
		}
	}
	for _, present := range []string{"ec2:StopInstances", "ec2:AssociateAddress", "ec2:DescribeInstances"} {
		if !slices.Contains(got, present) {
			t.Errorf("policy lacks %s", present)
		}
	}
	if len(Warnings(&cfg)) != 0 {
		t.Errorf("unexpected warnings: %v", Warnings(&cfg))
	}
}

func TestTemplateByNameWarns(t *testing.T) {
	cfg := full()
	cfg.Replacement.LaunchTemplate = config.LaunchTemplate{Name: "ec2ha", Version: "$Default"}
	if len(Warnings(cfg)) != 1 {
		t.Fatalf("warnings = %v, want one about pinning the template id", Warnings(cfg))
	}
}
