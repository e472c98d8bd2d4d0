// Package terraform holds the ec2ha Terraform module (the .tf files beside
// this one) and the Go tests that check it without the AWS provider, which
// cannot be downloaded in CI: they parse the module with hashicorp/hcl,
// evaluate its variables, locals and templates for each example, and compare
// the results with what ec2ha itself derives from the same configuration,
// the IAM policy that `ec2ha iam-policy` prints and `ec2ha config validate`.
// The package has no Go API.
package terraform
