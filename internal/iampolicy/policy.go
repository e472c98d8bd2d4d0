package iampolicy

import (
	"fmt"
	"sort"

	"github.com/ec2ha/ec2ha/ec2"
	"github.com/ec2ha/ec2ha/internal/config"
)

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document.
type Statement struct {
	Sid       string                    `json:"Sid"`
	Effect    string                    `json:"Effect"`
	Action    []string                  `json:"Action"`
	Resource  any                       `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// Actions returns every action the document allows, sorted.
func (d Document) Actions() []string {
	var out []string
	for _, s := range d.Statement {
		out = append(out, s.Action...)
	}
	sort.Strings(out)
	return out
}

// needs says, for each EC2 action, whether a configuration makes the agent
// call it. TestEveryActionHasARule keeps it in step with ec2.Actions.
var needs = map[string]func(*config.Config) bool{
	"DescribeInstances":         always,
	"StopInstances":             func(c *config.Config) bool { return fencesWith(c, "stop") },
	"StartInstances":            always, // unfence, and replacement.fenced_instance: start
	"TerminateInstances":        func(c *config.Config) bool { return fencesWith(c, "terminate") || retires(c) },
	"RunInstances":              replaces,
	"CreateTags":                always, // fence history tags on the fenced member
	"DescribeAddresses":         hasEIPs,
	"AssociateAddress":          hasEIPs,
	"DisassociateAddress":       hasEIPs,
	"DescribeNetworkInterfaces": func(c *config.Config) bool { return hasSecondaryIPs(c) || hasOverlayIPs(c) },
	"AssignPrivateIpAddresses":  hasSecondaryIPs,
	"DescribeRouteTables":       hasOverlayIPs,
	"CreateRoute":               hasOverlayIPs,
	"ReplaceRoute":              hasOverlayIPs,
}

func always(*config.Config) bool { return true }

func replaces(c *config.Config) bool { return c.Replacement.Enabled }

func retires(c *config.Config) bool {
	return c.Replacement.Enabled && c.Replacement.FencedInstance == "terminate"
}

func fencesWith(c *config.Config, method string) bool {
	if len(c.Fencing.Levels) == 0 {
		return c.Fencing.Action == method
	}
	for _, l := range c.Fencing.Levels {
		if l.Method == method {
			return true
		}
	}
	return false
}

func anyGroup(c *config.Config, has func(config.Resources) bool) bool {
	for _, g := range c.Groups {
		if has(g.Resources) {
			return true
		}
	}
	return false
}

func hasEIPs(c *config.Config) bool {
	return anyGroup(c, func(r config.Resources) bool { return len(r.ElasticIPs) > 0 })
}

func hasSecondaryIPs(c *config.Config) bool {
	return anyGroup(c, func(r config.Resources) bool { return len(r.SecondaryIPs) > 0 })
}

func hasOverlayIPs(c *config.Config) bool {
	return anyGroup(c, func(r config.Resources) bool { return len(r.OverlayIPs) > 0 })
}

// Sids of the statements, so tests and the Terraform module can find them.
const (
	SidDescribe      = "DescribeClusterState"
	SidMembers       = "FenceAndTagClusterMembers"
	SidNetwork       = "MoveClusterAddresses"
	SidLaunch        = "LaunchReplacementsFromTemplate"
	SidTagAtLaunch   = "TagReplacementsAtLaunch"
	SidPassRole      = "PassReplacementInstanceRole"
	launchTemplateID = "launch-template/"
)

// ForConfig returns the policy the agent needs to run cfg.
func ForConfig(cfg *config.Config) Document {
	byScope := map[ec2.Scope][]string{}
	for _, a := range ec2.Actions {
		if needs[a.Name](cfg) {
			byScope[a.Scope] = append(byScope[a.Scope], "ec2:"+a.Name)
		}
	}
	for _, actions := range byScope {
		sort.Strings(actions)
	}
	doc := Document{Version: "2012-10-17"}
	add := func(s Statement) {
		if len(s.Action) > 0 {
			s.Effect = "Allow"
			doc.Statement = append(doc.Statement, s)
		}
	}
	// EC2's Describe* actions do not support resource-level permissions.
	add(Statement{Sid: SidDescribe, Action: byScope[ec2.ReadOnly], Resource: "*"})
	add(Statement{
		Sid:       SidMembers,
		Action:    byScope[ec2.ClusterInstance],
		Resource:  "arn:aws:ec2:*:*:instance/*",
		Condition: map[string]map[string]any{"StringEquals": {"aws:ResourceTag/" + config.ClusterTagKey: cfg.Cluster.Name}},
	})
	// Addresses, ENIs and route tables are shared VPC plumbing that ec2ha
	// does not tag, so these cannot be narrowed by a tag condition.
	add(Statement{Sid: SidNetwork, Action: byScope[ec2.Network], Resource: "*"})
	if cfg.Replacement.Enabled {
		template := "*"
		if id := cfg.Replacement.LaunchTemplate.ID; id != "" {
			template = id
		}
		// Every resource of the launch (instance, volumes, ENI, subnet,
		// security groups, image) is allowed only when the request uses
		// this launch template. There is deliberately no
		// ec2:IsLaunchTemplateResource = true: ec2/replace always names the
		// subnet (the fenced member's, or replacement.subnets[0]), which a
		// template meant for several AZs does not hold, and that condition
		// would deny every resource that does not come from the template
		// (EC2 user guide, "Example policies: launch templates").
		add(Statement{
			Sid:      SidLaunch,
			Action:   byScope[ec2.Launch],
			Resource: "*",
			Condition: map[string]map[string]any{
				"ArnLike": {"ec2:LaunchTemplate": fmt.Sprintf("arn:aws:ec2:*:*:%s%s", launchTemplateID, template)},
			},
		})
		// Tags on a replacement are written by RunInstances itself; this
		// allows exactly that and no other tagging.
		add(Statement{
			Sid:       SidTagAtLaunch,
			Action:    []string{"ec2:CreateTags"},
			Resource:  "arn:aws:ec2:*:*:*/*",
			Condition: map[string]map[string]any{"StringEquals": {"ec2:CreateAction": "RunInstances"}},
		})
		if arn := cfg.Replacement.PassRoleARN; arn != "" {
			add(Statement{Sid: SidPassRole, Action: []string{"iam:PassRole"}, Resource: arn})
		}
	}
	return doc
}

// Warnings explains where the policy is broader than it could be.
func Warnings(cfg *config.Config) []string {
	var out []string
	if cfg.Replacement.Enabled && cfg.Replacement.LaunchTemplate.ID == "" {
		out = append(out, "replacement.launch_template names the template by name, so RunInstances is allowed with any launch template; set replacement.launch_template.id to pin it")
	}
	return out
}
