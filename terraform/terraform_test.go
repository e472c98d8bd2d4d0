package terraform

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ec2ha/ec2ha/internal/config"
	"github.com/ec2ha/ec2ha/internal/iampolicy"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Stand-ins for the attributes of resources that the module's locals read;
// AWS would assign them at apply time.
const (
	stubAllocationID     = "eipalloc-0123456789abcdef0"
	stubLaunchTemplateID = "lt-0123456789abcdef0"
	stubRoleARN          = "arn:aws:iam::123456789012:role/ec2ha-cluster-20261124000000000000000001"
)

func resourceStubs() map[string]cty.Value {
	return map[string]cty.Value{
		"aws_eip": cty.ObjectVal(map[string]cty.Value{"this": cty.TupleVal([]cty.Value{
			cty.ObjectVal(map[string]cty.Value{"allocation_id": cty.StringVal(stubAllocationID)}),
		})}),
		"aws_launch_template": cty.ObjectVal(map[string]cty.Value{"this": cty.ObjectVal(map[string]cty.Value{
			"id": cty.StringVal(stubLaunchTemplateID),
		})}),
		"aws_iam_role": cty.ObjectVal(map[string]cty.Value{"this": cty.ObjectVal(map[string]cty.Value{
			"arn": cty.StringVal(stubRoleARN),
		})}),
	}
}

var examples = []string{"two-nodes-witness-eip", "three-nodes-secondary-ip"}

// exampleInputs evaluates the example's call of the module with the values
// of its terraform.tfvars.example, returning what the module receives.
func exampleInputs(t *testing.T, name string) map[string]cty.Value {
	t.Helper()
	dir := filepath.Join("examples", name)
	ex := parseDir(t, dir)
	tfvars := map[string]cty.Value{}
	src, err := os.ReadFile(filepath.Join(dir, "terraform.tfvars.example"))
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclsyntax.ParseConfig(src, "terraform.tfvars.example", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", dir, diags.Error())
	}
	for name, a := range f.Body.(*hclsyntax.Body).Attributes {
		tfvars[name] = evalExpr(t, a.Expr, nil)
	}
	call, ok := ex.modules["ec2ha"]
	if !ok {
		t.Fatalf("%s does not call module ec2ha", dir)
	}
	ctx := ex.evalContext(ex.inputs(t, tfvars), cty.NilVal, nil)
	inputs := map[string]cty.Value{}
	for name, a := range call.Body.Attributes {
		if name == "source" {
			if got := evalExpr(t, a.Expr, nil).AsString(); got != "../.." {
				t.Fatalf("%s uses module source %q, not this module", dir, got)
			}
			continue
		}
		inputs[name] = evalExpr(t, a.Expr, ctx)
	}
	return inputs
}

// with returns a copy of inputs with some values replaced.
func with(inputs map[string]cty.Value, changes map[string]cty.Value) map[string]cty.Value {
	out := map[string]cty.Value{}
	for k, v := range inputs {
		out[k] = v
	}
	for k, v := range changes {
		out[k] = v
	}
	return out
}

// rendered is the module evaluated for one set of inputs.
type rendered struct {
	vars, locals cty.Value
	userData     string
	cfg          *config.Config
}

func render(t *testing.T, m *moduleDir, inputs map[string]cty.Value) rendered {
	t.Helper()
	r := rendered{vars: m.inputs(t, inputs)}
	if failed := m.validationFailures(t, r.vars); len(failed) > 0 {
		t.Fatalf("the module's variable validations reject the inputs: %q", failed)
	}
	r.locals = m.localValues(t, r.vars, resourceStubs())
	r.userData = r.locals.GetAttr("user_data").AsString()
	_, rest, ok := strings.Cut(r.userData, "<<'EC2HA_YAML'\n")
	yaml, _, ok2 := strings.Cut(rest, "\nEC2HA_YAML\n")
	if !ok || !ok2 {
		t.Fatalf("user data writes no ec2ha.yaml heredoc:\n%s", r.userData)
	}
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config.Parse of the rendered ec2ha.yaml: %v\n%s", err, yaml)
	}
	r.cfg = cfg
	return r
}

func TestExamplesRenderAConfigurationEc2haAccepts(t *testing.T) {
	m := parseDir(t, ".")
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			inputs := exampleInputs(t, name)
			r := render(t, m, inputs)
			cfg := r.cfg

			// The file names /etc/ec2ha/gossip.key, which user data fills
			// from the key store; Validate reads it, so stand in a real key.
			if cfg.Gossip.KeyFile != "/etc/ec2ha/gossip.key" {
				t.Errorf("gossip.key_file = %q, want the file user data writes", cfg.Gossip.KeyFile)
			}
			if !strings.Contains(r.userData, "mv '/etc/ec2ha/gossip.key.new' '/etc/ec2ha/gossip.key'") {
				t.Errorf("user data does not install the gossip key at gossip.key_file")
			}
			cfg.Gossip.KeyFile = filepath.Join(t.TempDir(), "gossip.key")
			if err := config.WriteKeyFile(cfg.Gossip.KeyFile); err != nil {
				t.Fatal(err)
			}
			// Each instance learns node.name from its ec2ha:node tag; the
			// configuration must hold for every one of them.
			for _, n := range inputs["nodes"].AsValueSlice() {
				cfg.Node.Name = n.GetAttr("name").AsString()
				if err := cfg.Validate(); err != nil {
					t.Errorf("ec2ha config validate rejects the rendered configuration on node %s:\n%v", cfg.Node.Name, err)
				}
			}

			if got, want := cfg.Cluster.Name, inputs["cluster_name"].AsString(); got != want {
				t.Errorf("cluster.name = %q, want %q", got, want)
			}
			if len(cfg.Groups) != 1 {
				t.Fatalf("groups = %d, want the one group", len(cfg.Groups))
			}
			res := cfg.Groups[0].Resources
			if inputs["elastic_ip"].True() != (len(res.ElasticIPs) == 1 && res.ElasticIPs[0].AllocationID == stubAllocationID) {
				t.Errorf("elastic_ip = %v but the group's elastic_ips are %+v", inputs["elastic_ip"].True(), res.ElasticIPs)
			}
			if ip, ok := inputs["secondary_private_ip"]; ok && (len(res.SecondaryIPs) != 1 || res.SecondaryIPs[0].Address != ip.AsString()) {
				t.Errorf("secondary_private_ip = %s but the group's secondary_ips are %+v", ip.AsString(), res.SecondaryIPs)
			}
			// ec2ha launches into replacement.subnets[0] when it is set,
			// which would gather every replacement in one AZ; unset, a
			// replacement takes its fenced member's subnet.
			if cfg.Replacement.Enabled && len(cfg.Replacement.Subnets) > 0 {
				t.Errorf("replacement.subnets = %v sends every replacement to %s instead of its fenced member's subnet", cfg.Replacement.Subnets, cfg.Replacement.Subnets[0])
			}

			for _, step := range []string{
				"echo '" + inputs["binary_sha256"].AsString() + "  '\"$download\" | sha256sum --check --quiet -\ninstall -m 0755 \"$download\" /usr/local/bin/ec2ha",
				"EC2HA_NODE_NAME=$node_name",
				"ExecStart=/usr/local/bin/ec2ha agent",
				"systemctl enable --now ec2ha.service",
			} {
				if !strings.Contains(r.userData, step) {
					t.Errorf("user data lacks the step %q", step)
				}
			}

			bash := exec.Command("bash", "-n")
			bash.Stdin = strings.NewReader(r.userData)
			if out, err := bash.CombinedOutput(); err != nil {
				t.Errorf("user data is not valid bash: %v\n%s", err, out)
			}
		})
	}
}

func TestWitnessHostsNoGroupAndTwoNodesSetTwoNode(t *testing.T) {
	m := parseDir(t, ".")
	base := exampleInputs(t, "two-nodes-witness-eip")

	r := render(t, m, base)
	if r.cfg.Cluster.TwoNode {
		t.Errorf("two nodes and a witness have three votes, but two_node is on")
	}
	if !slices.Equal(r.cfg.Groups[0].Nodes, []string{"lb-a", "lb-b"}) {
		t.Errorf("group nodes = %v, want the two non-witness nodes in order", r.cfg.Groups[0].Nodes)
	}
	if w := r.cfg.Nodes[2]; w.Name != "witness" || !w.Witness {
		t.Errorf("nodes[2] = %+v, want the witness", w)
	}

	twoNodes := cty.TupleVal([]cty.Value{
		cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("lb-a")}),
		cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("lb-b")}),
	})
	r = render(t, m, with(base, map[string]cty.Value{"nodes": twoNodes}))
	if !r.cfg.Cluster.TwoNode {
		t.Errorf("a cluster of exactly two nodes needs two_node, or losing either loses quorum")
	}
}

// policyVariants are configurations beyond the examples that switch each
// conditional part of the IAM policy on or off.
var policyVariants = []struct {
	name    string
	example string
	changes map[string]cty.Value
}{
	{"haproxy example", "two-nodes-witness-eip", nil},
	{"postgres example", "three-nodes-secondary-ip", nil},
	{"fencing by terminate", "two-nodes-witness-eip", map[string]cty.Value{"fencing_action": cty.StringVal("terminate")}},
	{"no addresses to move", "two-nodes-witness-eip", map[string]cty.Value{"elastic_ip": cty.False}},
	{"overlay ip", "two-nodes-witness-eip", map[string]cty.Value{
		"elastic_ip": cty.False,
		"overlay_ip": cty.ObjectVal(map[string]cty.Value{
			"address":         cty.StringVal("192.168.100.10"),
			"route_table_ids": cty.TupleVal([]cty.Value{cty.StringVal("rtb-0123456789abcdef0"), cty.StringVal("rtb-0fedcba9876543210")}),
		}),
	}},
	{"replacement keeps the fenced instance", "three-nodes-secondary-ip", map[string]cty.Value{
		"replacement": cty.ObjectVal(map[string]cty.Value{"enabled": cty.True, "fenced_instance": cty.StringVal("keep")}),
	}},
	{"replacement off", "three-nodes-secondary-ip", map[string]cty.Value{
		"replacement": cty.ObjectVal(map[string]cty.Value{"enabled": cty.False}),
	}},
}

func TestIAMPolicyIsWhatEc2haIAMPolicyPrints(t *testing.T) {
	m := parseDir(t, ".")
	policy := m.resource(t, "aws_iam_role_policy.agent").Body.Attributes["policy"]
	for _, tc := range policyVariants {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, m, with(exampleInputs(t, tc.example), tc.changes))
			tfJSON := evalExpr(t, policy.Expr, m.evalContext(r.vars, r.locals, resourceStubs())).AsString()

			want := iampolicy.ForConfig(r.cfg)
			// The configuration can only name its launch template (the
			// template carries the configuration), so ec2ha allows any
			// template; Terraform knows the id and pins it. Nothing else
			// may differ.
			for _, s := range want.Statement {
				if s.Sid != iampolicy.SidLaunch {
					continue
				}
				arnLike := s.Condition["ArnLike"]
				if arnLike["ec2:LaunchTemplate"] != "arn:aws:ec2:*:*:launch-template/*" {
					t.Fatalf("ec2ha's launch condition is %v; update the pinning in this test and in iam.tf", arnLike)
				}
				arnLike["ec2:LaunchTemplate"] = "arn:aws:ec2:*:*:launch-template/" + stubLaunchTemplateID
			}
			wantJSON, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			var got, expected any
			if err := json.Unmarshal([]byte(tfJSON), &got); err != nil {
				t.Fatalf("Terraform's policy is not JSON: %v", err)
			}
			if err := json.Unmarshal(wantJSON, &expected); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, expected) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(expected, "", "  ")
				t.Errorf("Terraform's agent policy differs from `ec2ha iam-policy` for the same configuration\nterraform:\n%s\nec2ha:\n%s", g, w)
			}
		})
	}
}

func TestSecurityGroupOpensGossipTCPAndUDPBetweenMembersOnly(t *testing.T) {
	m := parseDir(t, ".")
	base := exampleInputs(t, "two-nodes-witness-eip")
	for _, port := range []int64{7946, 8301} {
		inputs := with(base, map[string]cty.Value{"gossip_port": cty.NumberIntVal(port)})
		r := render(t, m, inputs)
		if r.cfg.Gossip.BindPort != int(port) {
			t.Errorf("gossip_port %d: gossip.bind_port = %d", port, r.cfg.Gossip.BindPort)
		}

		opened := map[string]bool{}
		for address, b := range m.resources {
			if !strings.HasPrefix(address, "aws_vpc_security_group_ingress_rule.") {
				continue
			}
			attrs := b.Body.Attributes
			ref, ok := attrs["referenced_security_group_id"]
			if !ok {
				continue
			}
			for _, a := range []*hclsyntax.Attribute{ref, attrs["security_group_id"]} {
				if got := traversal(t, a.Expr); got != "aws_security_group.this.id" {
					t.Errorf("%s.%s = %s, want the members' own group", address, a.Name, got)
				}
			}
			if _, ok := attrs["cidr_ipv4"]; ok {
				t.Errorf("%s opens gossip to a CIDR as well as to members", address)
			}
			ctx := m.evalContext(r.vars, r.locals, resourceStubs())
			for _, proto := range evalExpr(t, attrs["for_each"].Expr, ctx).AsValueSlice() {
				ctx.Variables["each"] = cty.ObjectVal(map[string]cty.Value{"key": proto, "value": proto})
				from := evalExpr(t, attrs["from_port"].Expr, ctx)
				to := evalExpr(t, attrs["to_port"].Expr, ctx)
				if !from.Equals(cty.NumberIntVal(port)).True() || !to.Equals(cty.NumberIntVal(port)).True() {
					t.Errorf("%s[%s] opens ports %s-%s, want %d", address, proto.AsString(), from.GoString(), to.GoString(), port)
				}
				opened[evalExpr(t, attrs["ip_protocol"].Expr, ctx).AsString()] = true
			}
		}
		if !opened["tcp"] || !opened["udp"] || len(opened) != 2 {
			t.Errorf("gossip is opened between members for %v, want exactly tcp and udp", opened)
		}
	}
}

func traversal(t *testing.T, expr hcl.Expression) string {
	t.Helper()
	tr, diags := hcl.AbsTraversalForExpr(expr)
	if diags.HasErrors() {
		t.Fatalf("%s is not a reference", expr.Range())
	}
	var parts []string
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			parts = append(parts, s.Name)
		case hcl.TraverseAttr:
			parts = append(parts, s.Name)
		}
	}
	return strings.Join(parts, ".")
}

func TestInstancesRequireIMDSv2AndLeaveReplacementsToEc2ha(t *testing.T) {
	m := parseDir(t, ".")
	var metadata *hclsyntax.Block
	for _, b := range m.resource(t, "aws_launch_template.this").Body.Blocks {
		if b.Type == "metadata_options" {
			metadata = b
		}
	}
	if metadata == nil {
		t.Fatal("the launch template sets no metadata_options, so IMDSv1 stays on")
	}
	for attr, want := range map[string]cty.Value{
		"http_tokens":                 cty.StringVal("required"),
		"http_put_response_hop_limit": cty.NumberIntVal(1),
		"instance_metadata_tags":      cty.StringVal("enabled"), // user data reads ec2ha:node
	} {
		a, ok := metadata.Body.Attributes[attr]
		if !ok {
			t.Errorf("metadata_options.%s is not set", attr)
			continue
		}
		if got := evalExpr(t, a.Expr, nil); !got.Equals(want).True() {
			t.Errorf("metadata_options.%s = %s, want %s", attr, got.GoString(), want.GoString())
		}
	}

	var ignored []string
	for _, b := range m.resource(t, "aws_instance.node").Body.Blocks {
		if b.Type != "lifecycle" {
			continue
		}
		for _, e := range b.Body.Attributes["ignore_changes"].Expr.(*hclsyntax.TupleConsExpr).Exprs {
			ignored = append(ignored, traversal(t, e))
		}
	}
	// What ec2ha changes on a running member, or what a new template
	// version changes, must not make Terraform replace members.
	for _, attr := range []string{"launch_template", "user_data", "ami", "tags", "secondary_private_ips"} {
		if !slices.Contains(ignored, attr) {
			t.Errorf("aws_instance.node does not ignore changes to %s (ignores %v)", attr, ignored)
		}
	}
}

func TestVariablesAreTypedDescribedAndValidated(t *testing.T) {
	m := parseDir(t, ".")
	for name, b := range m.variables {
		for _, attr := range []string{"type", "description"} {
			if _, ok := b.Body.Attributes[attr]; !ok {
				t.Errorf("variable %s has no %s", name, attr)
			}
		}
	}
	base := exampleInputs(t, "two-nodes-witness-eip")
	str := cty.StringVal
	list := func(vs ...string) cty.Value {
		var out []cty.Value
		for _, v := range vs {
			out = append(out, str(v))
		}
		return cty.ListVal(out)
	}
	node := func(name string) cty.Value { return cty.ObjectVal(map[string]cty.Value{"name": str(name)}) }
	for _, tc := range []struct {
		variable string
		value    cty.Value
		message  string
	}{
		{"cluster_name", str("Web_Prod"), "cluster_name"},
		{"vpc_id", str("vpc-12"), "vpc_id"},
		{"subnet_ids", list("subnet-0a0a0a0a0a0a0a0a0", "10.0.1.0/24"), "subnet_ids"},
		{"subnet_ids", cty.ListValEmpty(cty.String), "subnet_ids"},
		{"ami_id", str("ubuntu"), "ami_id"},
		{"nodes", cty.TupleVal([]cty.Value{node("a"), node("b"), node("c"), node("d"), node("e"), node("f"), node("g"), node("h"), node("i"), node("j")}), "2 to 9"},
		{"nodes", cty.TupleVal([]cty.Value{node("a"), cty.ObjectVal(map[string]cty.Value{"name": str("w"), "witness": cty.True})}), "two nodes must not be witnesses"},
		{"nodes", cty.TupleVal([]cty.Value{node("a"), node("a")}), "distinct"},
		{"binary_url", str("http://example.com/ec2ha"), "binary_url"},
		{"binary_sha256", str("abc"), "binary_sha256"},
		{"gossip_key", cty.ObjectVal(map[string]cty.Value{"source": str("vault"), "name": str("/k")}), "gossip_key.source"},
		{"gossip_key", cty.ObjectVal(map[string]cty.Value{"source": str("secretsmanager"), "name": str("/k")}), "gossip_key.name"},
		{"gossip_port", cty.NumberIntVal(80), "gossip_port"},
		{"secondary_private_ip", str("10.0.1.300"), "secondary_private_ip"},
		{"service_ports", cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{
			"port": cty.NumberIntVal(443), "cidr_blocks": list("10.0.0.0/33"),
		})}), "cidr_blocks"},
		{"fencing_action", str("reboot"), "fencing_action"},
		{"tags", cty.MapVal(map[string]cty.Value{"ec2ha:cluster": str("other")}), "ec2ha: prefix"},
		{"tags", cty.MapVal(map[string]cty.Value{"Cost Center": str("42")}), "instance metadata"},
		{"tags", cty.MapVal(map[string]cty.Value{"team/owner": str("db")}), "instance metadata"},
	} {
		t.Run(tc.variable+"="+tc.value.GoString(), func(t *testing.T) {
			failed := m.validationFailures(t, m.inputs(t, with(base, map[string]cty.Value{tc.variable: tc.value})))
			if len(failed) != 1 || !strings.Contains(failed[0], tc.message) {
				t.Errorf("validation errors %q, want exactly one mentioning %q", failed, tc.message)
			}
		})
	}
}

func TestBootstrapReadsExactlyTheKeyAndTheBinary(t *testing.T) {
	m := parseDir(t, ".")
	policy := m.resource(t, "aws_iam_role_policy.bootstrap").Body.Attributes["policy"]
	const secretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ec2ha/pg/gossip-key-AbCdEf"
	const kmsARN = "arn:aws:kms:eu-west-1:123456789012:key/0f0e0d0c-0b0a-0908-0706-050403020100"
	for _, tc := range []struct {
		name       string
		example    string
		changes    map[string]cty.Value
		statements map[string]string // action -> resource
		fetches    []string          // commands user data must run
	}{
		{"https binary, ssm key", "two-nodes-witness-eip", nil,
			map[string]string{"ssm:GetParameter": "arn:aws:ssm:*:*:parameter/ec2ha/haproxy/gossip-key"},
			[]string{"curl -fsSL --retry 5 -o \"$download\" 'https://downloads.example.com/ec2ha/v0.1.0/ec2ha-linux-amd64'", "aws ssm get-parameter"}},
		{"s3 binary, ssm key", "three-nodes-secondary-ip", nil,
			map[string]string{
				"ssm:GetParameter": "arn:aws:ssm:*:*:parameter/ec2ha/pg/gossip-key",
				"s3:GetObject":     "arn:aws:s3:::ec2ha-artifacts-123456789012/v0.1.0/ec2ha-linux-amd64",
			},
			[]string{"aws s3 cp --only-show-errors --region \"$region\" 's3://ec2ha-artifacts-123456789012/v0.1.0/ec2ha-linux-amd64'", "aws ssm get-parameter"}},
		{"secrets manager key with its own KMS key", "two-nodes-witness-eip", map[string]cty.Value{
			"gossip_key":             cty.ObjectVal(map[string]cty.Value{"source": cty.StringVal("secretsmanager"), "name": cty.StringVal(secretARN)}),
			"gossip_key_kms_key_arn": cty.StringVal(kmsARN),
		}, map[string]string{"secretsmanager:GetSecretValue": secretARN, "kms:Decrypt": kmsARN},
			[]string{"aws secretsmanager get-secret-value --region \"$region\" --secret-id '" + secretARN + "'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, m, with(exampleInputs(t, tc.example), tc.changes))
			var doc iampolicy.Document
			tfJSON := evalExpr(t, policy.Expr, m.evalContext(r.vars, r.locals, resourceStubs())).AsString()
			if err := json.Unmarshal([]byte(tfJSON), &doc); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, s := range doc.Statement {
				for _, a := range s.Action {
					got[a], _ = s.Resource.(string)
				}
			}
			if !reflect.DeepEqual(got, tc.statements) {
				t.Errorf("bootstrap policy allows %v, want %v", got, tc.statements)
			}
			for _, cmd := range tc.fetches {
				if !strings.Contains(r.userData, cmd) {
					t.Errorf("user data does not run %s", cmd)
				}
			}
		})
	}
}
