package ec2_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ec2ha/ec2ha/ec2"
)

// The primary interface is the one at device index 0, wherever it is
// listed; an instance without one has none.
func TestPrimaryENIIsDeviceIndexZero(t *testing.T) {
	nic := func(id string, index int32) types.InstanceNetworkInterface {
		return types.InstanceNetworkInterface{NetworkInterfaceId: aws.String(id),
			Attachment: &types.InstanceNetworkInterfaceAttachment{DeviceIndex: aws.Int32(index)}}
	}
	in := types.Instance{NetworkInterfaces: []types.InstanceNetworkInterface{nic("eni-second", 1), nic("eni-primary", 0)}}
	if got := ec2.PrimaryENI(in); got != "eni-primary" {
		t.Fatalf("PrimaryENI = %q, want eni-primary", got)
	}
	if got := ec2.PrimaryENI(types.Instance{NetworkInterfaces: []types.InstanceNetworkInterface{nic("eni-second", 1)}}); got != "" {
		t.Fatalf("PrimaryENI without a primary = %q, want empty", got)
	}
}
