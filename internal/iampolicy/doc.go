// Package iampolicy builds the least-privilege IAM policy a configuration
// needs: exactly the EC2 actions the agent will call for it (from
// ec2.Actions), with instance actions limited by the cluster tag and
// launches limited to the configured launch template. `ec2ha iam-policy`
// prints it and the Terraform module's tests compare against it.
package iampolicy
