// Package ec2sim is an embedded EC2 simulator that speaks the EC2 Query
// protocol, so the real aws-sdk-go-v2 client, the AWS CLI and ec2ha itself
// can run against it without an AWS account.
package ec2sim
