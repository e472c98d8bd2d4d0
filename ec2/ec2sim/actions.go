package ec2sim

import "sort"

// actions is every EC2 action the simulator answers. Anything else is
// InvalidAction, as EC2 answers an action it does not know.
var actions = map[string]handler{
	"DescribeInstances":              {opDescribeInstances, true},
	"RunInstances":                   {opRunInstances, false},
	"StopInstances":                  {opStopInstances, false},
	"StartInstances":                 {opStartInstances, false},
	"TerminateInstances":             {opTerminateInstances, false},
	"DescribeInstanceStatus":         {opDescribeInstanceStatus, true},
	"ModifyInstanceAttribute":        {opModifyInstanceAttribute, false},
	"CreateTags":                     {opCreateTags, false},
	"DeleteTags":                     {opDeleteTags, false},
	"DescribeTags":                   {opDescribeTags, true},
	"AllocateAddress":                {opAllocateAddress, false},
	"ReleaseAddress":                 {opReleaseAddress, false},
	"DescribeAddresses":              {opDescribeAddresses, true},
	"AssociateAddress":               {opAssociateAddress, false},
	"DisassociateAddress":            {opDisassociateAddress, false},
	"DescribeNetworkInterfaces":      {opDescribeNetworkInterfaces, true},
	"AssignPrivateIpAddresses":       {opAssignPrivateIpAddresses, false},
	"UnassignPrivateIpAddresses":     {opUnassignPrivateIpAddresses, false},
	"CreateLaunchTemplate":           {opCreateLaunchTemplate, false},
	"CreateLaunchTemplateVersion":    {opCreateLaunchTemplateVersion, false},
	"ModifyLaunchTemplate":           {opModifyLaunchTemplate, false},
	"DescribeLaunchTemplates":        {opDescribeLaunchTemplates, true},
	"DescribeLaunchTemplateVersions": {opDescribeLaunchTemplateVersions, true},
	"DescribeRouteTables":            {opDescribeRouteTables, true},
	"CreateRoute":                    {opCreateRoute, false},
	"ReplaceRoute":                   {opReplaceRoute, false},
	"DescribeSubnets":                {opDescribeSubnets, true},
	"DescribeVpcs":                   {opDescribeVpcs, true},
}

// Actions lists the EC2 actions the simulator implements, sorted.
func Actions() []string {
	out := make([]string, 0, len(actions))
	for a := range actions {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}
