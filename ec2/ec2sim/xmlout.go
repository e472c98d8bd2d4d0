package ec2sim

import (
	"time"
)

// The x* types are EC2's XML shapes, element names as in the EC2 API
// reference. Lists are "...Set" elements of <item>s.

type items[T any] struct {
	Items []T `xml:"item"`
}

func itemsOf[T any](v []T) items[T] { return items[T]{Items: v} }

type xTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func xTags(tags []Tag) items[xTag] {
	out := make([]xTag, len(tags))
	for i, t := range tags {
		out[i] = xTag(t)
	}
	return itemsOf(out)
}

type xState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

func stateOf(name string) xState { return xState{stateCodes[name], name} }

type xStateReason struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type xGroup struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type xReservation struct {
	ReservationID string           `xml:"reservationId"`
	OwnerID       string           `xml:"ownerId"`
	GroupSet      items[xGroup]    `xml:"groupSet"`
	InstancesSet  items[xInstance] `xml:"instancesSet"`
}

type xInstance struct {
	InstanceID          string                `xml:"instanceId"`
	ImageID             string                `xml:"imageId"`
	InstanceState       xState                `xml:"instanceState"`
	PrivateDNSName      string                `xml:"privateDnsName"`
	DNSName             string                `xml:"dnsName"`
	Reason              string                `xml:"reason"`
	AmiLaunchIndex      int                   `xml:"amiLaunchIndex"`
	InstanceType        string                `xml:"instanceType"`
	LaunchTime          string                `xml:"launchTime"`
	Placement           xPlacement            `xml:"placement"`
	Monitoring          xMonitoring           `xml:"monitoring"`
	SubnetID            string                `xml:"subnetId,omitempty"`
	VpcID               string                `xml:"vpcId,omitempty"`
	PrivateIPAddress    string                `xml:"privateIpAddress,omitempty"`
	IPAddress           string                `xml:"ipAddress,omitempty"`
	SourceDestCheck     *bool                 `xml:"sourceDestCheck,omitempty"`
	GroupSet            items[xGroup]         `xml:"groupSet"`
	StateReason         *xStateReason         `xml:"stateReason,omitempty"`
	Architecture        string                `xml:"architecture"`
	RootDeviceType      string                `xml:"rootDeviceType"`
	RootDeviceName      string                `xml:"rootDeviceName"`
	VirtualizationType  string                `xml:"virtualizationType"`
	ClientToken         string                `xml:"clientToken"`
	TagSet              *items[xTag]          `xml:"tagSet,omitempty"`
	Hypervisor          string                `xml:"hypervisor"`
	NetworkInterfaceSet items[xInstanceENI]   `xml:"networkInterfaceSet"`
	EbsOptimized        bool                  `xml:"ebsOptimized"`
	EnaSupport          bool                  `xml:"enaSupport"`
	MetadataOptions     xInstanceMetadataOpts `xml:"metadataOptions"`
}

type xMonitoring struct {
	State string `xml:"state"`
}

type xPlacement struct {
	AvailabilityZone string `xml:"availabilityZone"`
	GroupName        string `xml:"groupName"`
	Tenancy          string `xml:"tenancy"`
}

type xInstanceMetadataOpts struct {
	State        string `xml:"state"`
	HTTPTokens   string `xml:"httpTokens"`
	HTTPEndpoint string `xml:"httpEndpoint"`
}

type xAttachment struct {
	AttachmentID        string `xml:"attachmentId"`
	InstanceID          string `xml:"instanceId,omitempty"`
	InstanceOwnerID     string `xml:"instanceOwnerId,omitempty"`
	DeviceIndex         int    `xml:"deviceIndex"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type xAssociation struct {
	PublicIP      string `xml:"publicIp"`
	PublicDNSName string `xml:"publicDnsName"`
	IPOwnerID     string `xml:"ipOwnerId"`
	AllocationID  string `xml:"allocationId,omitempty"`
	AssociationID string `xml:"associationId,omitempty"`
}

type xPrivateIP struct {
	PrivateIPAddress string        `xml:"privateIpAddress"`
	PrivateDNSName   string        `xml:"privateDnsName"`
	Primary          bool          `xml:"primary"`
	Association      *xAssociation `xml:"association,omitempty"`
}

// xInstanceENI is an ENI as DescribeInstances nests it.
type xInstanceENI struct {
	NetworkInterfaceID    string            `xml:"networkInterfaceId"`
	SubnetID              string            `xml:"subnetId"`
	VpcID                 string            `xml:"vpcId"`
	Description           string            `xml:"description"`
	OwnerID               string            `xml:"ownerId"`
	Status                string            `xml:"status"`
	MacAddress            string            `xml:"macAddress"`
	PrivateIPAddress      string            `xml:"privateIpAddress"`
	PrivateDNSName        string            `xml:"privateDnsName"`
	SourceDestCheck       bool              `xml:"sourceDestCheck"`
	GroupSet              items[xGroup]     `xml:"groupSet"`
	Attachment            *xAttachment      `xml:"attachment,omitempty"`
	Association           *xAssociation     `xml:"association,omitempty"`
	PrivateIPAddressesSet items[xPrivateIP] `xml:"privateIpAddressesSet"`
	InterfaceType         string            `xml:"interfaceType"`
}

// xENI is an ENI as DescribeNetworkInterfaces returns it.
type xENI struct {
	NetworkInterfaceID    string            `xml:"networkInterfaceId"`
	SubnetID              string            `xml:"subnetId"`
	VpcID                 string            `xml:"vpcId"`
	AvailabilityZone      string            `xml:"availabilityZone"`
	Description           string            `xml:"description"`
	OwnerID               string            `xml:"ownerId"`
	RequesterManaged      bool              `xml:"requesterManaged"`
	Status                string            `xml:"status"`
	MacAddress            string            `xml:"macAddress"`
	PrivateIPAddress      string            `xml:"privateIpAddress"`
	PrivateDNSName        string            `xml:"privateDnsName"`
	SourceDestCheck       bool              `xml:"sourceDestCheck"`
	GroupSet              items[xGroup]     `xml:"groupSet"`
	Attachment            *xAttachment      `xml:"attachment,omitempty"`
	Association           *xAssociation     `xml:"association,omitempty"`
	TagSet                items[xTag]       `xml:"tagSet"`
	PrivateIPAddressesSet items[xPrivateIP] `xml:"privateIpAddressesSet"`
	InterfaceType         string            `xml:"interfaceType"`
}

type xAddress struct {
	PublicIP                string      `xml:"publicIp"`
	AllocationID            string      `xml:"allocationId"`
	Domain                  string      `xml:"domain"`
	InstanceID              string      `xml:"instanceId,omitempty"`
	AssociationID           string      `xml:"associationId,omitempty"`
	NetworkInterfaceID      string      `xml:"networkInterfaceId,omitempty"`
	NetworkInterfaceOwnerID string      `xml:"networkInterfaceOwnerId,omitempty"`
	PrivateIPAddress        string      `xml:"privateIpAddress,omitempty"`
	PublicIpv4Pool          string      `xml:"publicIpv4Pool"`
	NetworkBorderGroup      string      `xml:"networkBorderGroup"`
	TagSet                  items[xTag] `xml:"tagSet"`
}

type xRouteTable struct {
	RouteTableID   string          `xml:"routeTableId"`
	VpcID          string          `xml:"vpcId"`
	OwnerID        string          `xml:"ownerId"`
	RouteSet       items[xRoute]   `xml:"routeSet"`
	AssociationSet items[xRTAssoc] `xml:"associationSet"`
	PropagatingVgw items[struct{}] `xml:"propagatingVgwSet"`
	TagSet         items[xTag]     `xml:"tagSet"`
}

type xRoute struct {
	DestinationCidrBlock string `xml:"destinationCidrBlock"`
	GatewayID            string `xml:"gatewayId,omitempty"`
	InstanceID           string `xml:"instanceId,omitempty"`
	InstanceOwnerID      string `xml:"instanceOwnerId,omitempty"`
	NetworkInterfaceID   string `xml:"networkInterfaceId,omitempty"`
	State                string `xml:"state"`
	Origin               string `xml:"origin"`
}

type xRTAssoc struct {
	RouteTableAssociationID string       `xml:"routeTableAssociationId"`
	RouteTableID            string       `xml:"routeTableId"`
	SubnetID                string       `xml:"subnetId,omitempty"`
	Main                    bool         `xml:"main"`
	AssociationState        xAssocStatus `xml:"associationState"`
}

type xAssocStatus struct {
	State string `xml:"state"`
}

type xSubnet struct {
	SubnetID                string      `xml:"subnetId"`
	SubnetArn               string      `xml:"subnetArn"`
	State                   string      `xml:"state"`
	OwnerID                 string      `xml:"ownerId"`
	VpcID                   string      `xml:"vpcId"`
	CidrBlock               string      `xml:"cidrBlock"`
	AvailableIPAddressCount int         `xml:"availableIpAddressCount"`
	AvailabilityZone        string      `xml:"availabilityZone"`
	AvailabilityZoneID      string      `xml:"availabilityZoneId"`
	DefaultForAz            bool        `xml:"defaultForAz"`
	MapPublicIPOnLaunch     bool        `xml:"mapPublicIpOnLaunch"`
	TagSet                  items[xTag] `xml:"tagSet"`
}

type xVpc struct {
	VpcID           string      `xml:"vpcId"`
	OwnerID         string      `xml:"ownerId"`
	State           string      `xml:"state"`
	CidrBlock       string      `xml:"cidrBlock"`
	DhcpOptionsID   string      `xml:"dhcpOptionsId"`
	InstanceTenancy string      `xml:"instanceTenancy"`
	IsDefault       bool        `xml:"isDefault"`
	TagSet          items[xTag] `xml:"tagSet"`
}

type xLaunchTemplate struct {
	LaunchTemplateID     string      `xml:"launchTemplateId"`
	LaunchTemplateName   string      `xml:"launchTemplateName"`
	CreateTime           string      `xml:"createTime"`
	CreatedBy            string      `xml:"createdBy"`
	DefaultVersionNumber int         `xml:"defaultVersionNumber"`
	LatestVersionNumber  int         `xml:"latestVersionNumber"`
	TagSet               items[xTag] `xml:"tagSet"`
}

type xLTVersion struct {
	LaunchTemplateID   string  `xml:"launchTemplateId"`
	LaunchTemplateName string  `xml:"launchTemplateName"`
	VersionNumber      int     `xml:"versionNumber"`
	VersionDescription string  `xml:"versionDescription,omitempty"`
	CreateTime         string  `xml:"createTime"`
	CreatedBy          string  `xml:"createdBy"`
	DefaultVersion     bool    `xml:"defaultVersion"`
	LaunchTemplateData xLTData `xml:"launchTemplateData"`
}

type xLTData struct {
	ImageID             string           `xml:"imageId,omitempty"`
	InstanceType        string           `xml:"instanceType,omitempty"`
	UserData            string           `xml:"userData,omitempty"`
	Placement           *xLTPlacement    `xml:"placement,omitempty"`
	NetworkInterfaceSet *items[xLTENI]   `xml:"networkInterfaceSet,omitempty"`
	TagSpecificationSet *items[xTagSpec] `xml:"tagSpecificationSet,omitempty"`
}

type xLTPlacement struct {
	AvailabilityZone string `xml:"availabilityZone"`
}

type xLTENI struct {
	DeviceIndex int    `xml:"deviceIndex"`
	SubnetID    string `xml:"subnetId"`
}

type xTagSpec struct {
	ResourceType string      `xml:"resourceType"`
	TagSet       items[xTag] `xml:"tagSet"`
}

type xResourceTag struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}

type xInstanceStatus struct {
	InstanceID       string           `xml:"instanceId"`
	AvailabilityZone string           `xml:"availabilityZone"`
	InstanceState    xState           `xml:"instanceState"`
	SystemStatus     xStatusSummary   `xml:"systemStatus"`
	InstanceStatus   xStatusSummary   `xml:"instanceStatus"`
	EventsSet        *items[struct{}] `xml:"eventsSet,omitempty"`
}

type xStatusSummary struct {
	Status  string               `xml:"status"`
	Details items[xStatusDetail] `xml:"details"`
}

type xStatusDetail struct {
	Name   string `xml:"name"`
	Status string `xml:"status"`
}

// awsTime is the timestamp format EC2 uses.
func awsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
