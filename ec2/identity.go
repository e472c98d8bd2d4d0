package ec2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// Identity is who this instance is, as its IMDSv2 says.
type Identity struct {
	InstanceID string
	Region     string
	AZ         string
	PrivateIP  string // primary private IPv4 of the primary ENI
	MAC        string
	ENI        string // primary network interface id
	SubnetID   string
}

// NewIMDS returns an IMDSv2 client; endpoint overrides the link-local
// address (the simulator gives each instance its own), empty means the
// real one.
func NewIMDS(endpoint string) *imds.Client {
	return imds.New(imds.Options{Endpoint: endpoint, ClientEnableState: imds.ClientEnabled})
}

// errIMDSHelp explains the two usual reasons IMDSv2 cannot be reached.
const errIMDSHelp = "is this an EC2 instance with the metadata service enabled? " +
	"In a container, raise the instance's metadata hop limit to 2 " +
	"(aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2), " +
	"because IMDSv2 token responses do not cross more hops than that"

// ReadIdentity asks IMDSv2 for the instance's identity, asking again
// until timeout: an agent started early in boot can run before the
// instance's network answers, and the SDK's client gives up after three
// quick attempts.
func ReadIdentity(ctx context.Context, c *imds.Client, timeout time.Duration) (Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		id, err := readIdentity(ctx, c)
		if err == nil {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return Identity{}, err
		case <-time.After(wait):
		}
	}
}

func readIdentity(ctx context.Context, c *imds.Client) (Identity, error) {
	doc, err := c.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	if err != nil {
		return Identity{}, fmt.Errorf("reading the instance identity from IMDSv2: %w; %s", err, errIMDSHelp)
	}
	id := Identity{InstanceID: doc.InstanceID, Region: doc.Region, AZ: doc.AvailabilityZone, PrivateIP: doc.PrivateIP}
	get := func(path string) (string, error) {
		out, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
		if err != nil {
			return "", fmt.Errorf("reading %s from IMDSv2: %w; %s", path, err, errIMDSHelp)
		}
		defer out.Content.Close()
		b, err := io.ReadAll(out.Content)
		return strings.TrimSpace(string(b)), err
	}
	if id.MAC, err = get("mac"); err != nil {
		return Identity{}, err
	}
	if id.ENI, err = get("network/interfaces/macs/" + id.MAC + "/interface-id"); err != nil {
		return Identity{}, err
	}
	if id.SubnetID, err = get("network/interfaces/macs/" + id.MAC + "/subnet-id"); err != nil {
		return Identity{}, err
	}
	if id.InstanceID == "" || id.Region == "" || id.ENI == "" {
		return Identity{}, errors.New("IMDSv2 answered without an instance id, region or ENI id")
	}
	return id, nil
}
