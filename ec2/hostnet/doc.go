// Package hostnet puts a moved address on this host's network interface,
// or takes it off, through netlink (no shelling out to ip), so the new
// owner actually receives the traffic EC2 now sends it. After adding an
// address it sends a gratuitous ARP, because the kernel announces an
// address only when the interface comes up, not when one is added to a
// running interface. The VPC fabric itself routes by EC2's records and
// ignores ARP, but bridges, containers and appliances that cached the old
// MAC learn the new owner at once.
//
// Both operations are idempotent, like every ec2ha step.
package hostnet
