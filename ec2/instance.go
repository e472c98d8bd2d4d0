package ec2

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// PrimaryENI is the id of an instance's primary network interface (device
// index 0), as DescribeInstances or RunInstances shows it; empty if none.
func PrimaryENI(in types.Instance) string {
	for _, ni := range in.NetworkInterfaces {
		if ni.Attachment != nil && aws.ToInt32(ni.Attachment.DeviceIndex) == 0 {
			return aws.ToString(ni.NetworkInterfaceId)
		}
	}
	return ""
}
