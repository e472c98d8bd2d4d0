// Package moves moves the addresses an active/passive service is reached
// at — Elastic IPs, secondary private IPs and route-table overlay IPs — to
// a new owner, and observes their current owners with one batched
// Describe call per kind so the failover engine can compare desired and
// actual state.
//
// Every move is level-triggered: it reads EC2, does nothing when the
// resource is already where it should be, and can be repeated after a
// crash or an API failure to reach the same end state.
//
// Elastic IPs move by compare-and-set: the mover disassociates the
// AssociationId it observed (the fenced owner's), then associates with
// AllowReassociation=false. If another coordinator moved the address in
// between, EC2 answers InvalidAssociationID.NotFound or
// Resource.AlreadyAssociated; the mover re-reads and accepts the address
// wherever the winner put it when that is the desired owner, so two
// movers can never leave the address in two places or flip it back and
// forth. Secondary private IPs use AssignPrivateIpAddresses with
// AllowReassignment, which EC2 applies atomically (the address is on
// exactly one ENI afterwards). Overlay routes use ReplaceRoute, falling
// back to CreateRoute when the route is missing; CheckSourceDest says when
// the new owner's ENI still has its source/destination check on, which
// would make EC2 drop the overlay traffic.
package moves
