#!/usr/bin/env bash
# Drives the EC2 simulator with the AWS CLI through the scenarios of issue
# 3. Run by TestAWSCLIScript; by hand:
#   ec2ha sim --listen 127.0.0.1:4566 --pending 0s --stopping 3s --shutting-down 0s &
#   ENDPOINT=http://127.0.0.1:4566 ec2/ec2sim/testdata/cli.sh
# The stopping period must outlast one CLI call (about half a second).
set -euo pipefail
: "${ENDPOINT:?set ENDPOINT to the simulator URL, e.g. http://127.0.0.1:4566}"
export AWS_ACCESS_KEY_ID=sim AWS_SECRET_ACCESS_KEY=sim AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_MAX_ATTEMPTS=1 AWS_PAGER=""
# AWS_CLI picks the CLI binary: pip's v1 and Debian's v2 both work.
ec2() { "${AWS_CLI:-aws}" --endpoint-url "$ENDPOINT" --output text ec2 "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # expect WANT GOT WHAT
	[ "$2" = "$1" ] || fail "$3: got '$2', want '$1'"
	echo "ok: $3"
}
expect_error() { # expect_error CODE command...
	local code=$1 out
	shift
	if out=$("$@" 2>&1); then fail "$* succeeded, want $code"; fi
	case $out in
	*"($code)"*) echo "ok: $code from $2" ;;
	*) fail "$*: want $code, got: $out" ;;
	esac
}
state() { ec2 describe-instances --instance-ids "$1" --query 'Reservations[0].Instances[0].State.Name'; }
wait_state() { # wait_state ID STATE
	local s=""
	for _ in $(seq 1 120); do
		s=$(state "$1")
		[ "$s" = "$2" ] && return 0
		sleep 0.25
	done
	fail "$1 never became $2 (last: $s)"
}

echo "== run-instances from a launch template"
ec2 create-launch-template --launch-template-name cli-node --query LaunchTemplate.LaunchTemplateId \
	--launch-template-data '{"ImageId":"ami-0123456789abcdef0","InstanceType":"t3.micro","TagSpecifications":[{"ResourceType":"instance","Tags":[{"Key":"cluster","Value":"cli"}]}]}' >/dev/null
read -r a b < <(ec2 run-instances --launch-template 'LaunchTemplateName=cli-node,Version=$Latest' --count 2 --query 'Instances[].InstanceId')
wait_state "$a" running
wait_state "$b" running
expect t3.micro "$(ec2 describe-instances --instance-ids "$a" --query 'Reservations[0].Instances[0].InstanceType')" "instance type from the template"

echo "== tag filters"
expect 2 "$(ec2 describe-instances --filters Name=tag:cluster,Values=cli --query 'length(Reservations[].Instances[])')" "tag:cluster=cli"
expect 2 "$(ec2 describe-instances --filters Name=tag-key,Values=cluster Name=instance-state-name,Values=running --query 'length(Reservations[].Instances[])')" "tag-key and state"
expect 0 "$(ec2 describe-instances --filters Name=tag:cluster,Values=other --query 'length(Reservations[].Instances[])')" "tag:cluster=other"

echo "== Elastic IP: associate, refuse, re-associate"
alloc=$(ec2 allocate-address --domain vpc --query AllocationId)
assoc1=$(ec2 associate-address --allocation-id "$alloc" --instance-id "$a" --query AssociationId)
expect_error Resource.AlreadyAssociated ec2 associate-address --allocation-id "$alloc" --instance-id "$b" --no-allow-reassociation
expect "$a" "$(ec2 describe-addresses --allocation-ids "$alloc" --query 'Addresses[0].InstanceId')" "address stays on a without --allow-reassociation"
ec2 associate-address --allocation-id "$alloc" --instance-id "$b" --allow-reassociation --query AssociationId >/dev/null
expect "$b" "$(ec2 describe-addresses --allocation-ids "$alloc" --query 'Addresses[0].InstanceId')" "address moved to b with --allow-reassociation"
expect_error InvalidAssociationID.NotFound ec2 disassociate-address --association-id "$assoc1"

echo "== stop-instances --force: stopping, then stopped"
expect stopping "$(ec2 stop-instances --force --instance-ids "$a" --query 'StoppingInstances[0].CurrentState.Name')" "stop-instances answers stopping"
expect stopping "$(state "$a")" "describe right after shows stopping"
wait_state "$a" stopped
echo "ok: then stopped"

echo "== assign-private-ip-addresses --allow-reassignment"
eni() { ec2 describe-instances --instance-ids "$1" --query 'Reservations[0].Instances[0].NetworkInterfaces[0].NetworkInterfaceId'; }
eniA=$(eni "$a")
eniB=$(eni "$b")
vip=172.31.12.34
ec2 assign-private-ip-addresses --network-interface-id "$eniA" --private-ip-addresses "$vip" >/dev/null
expect_error InvalidIPAddress.InUse ec2 assign-private-ip-addresses --network-interface-id "$eniB" --private-ip-addresses "$vip"
ec2 assign-private-ip-addresses --network-interface-id "$eniB" --private-ip-addresses "$vip" --allow-reassignment >/dev/null
expect "$eniB" "$(ec2 describe-network-interfaces --filters Name=addresses.private-ip-address,Values=$vip --query 'NetworkInterfaces[].NetworkInterfaceId')" "$vip on exactly one interface"

echo "== replace-route"
rtb=$(ec2 describe-route-tables --filters Name=association.main,Values=true --query 'RouteTables[0].RouteTableId')
ec2 create-route --route-table-id "$rtb" --destination-cidr-block 10.99.0.1/32 --instance-id "$a" >/dev/null
expect_error RouteAlreadyExists ec2 create-route --route-table-id "$rtb" --destination-cidr-block 10.99.0.1/32 --instance-id "$b"
ec2 replace-route --route-table-id "$rtb" --destination-cidr-block 10.99.0.1/32 --network-interface-id "$eniB"
expect "$eniB" "$(ec2 describe-route-tables --route-table-ids "$rtb" --query "RouteTables[0].Routes[?DestinationCidrBlock=='10.99.0.1/32'].NetworkInterfaceId")" "route points at b"
expect_error InvalidRoute.NotFound ec2 replace-route --route-table-id "$rtb" --destination-cidr-block 10.98.0.0/16 --network-interface-id "$eniB"

echo "== error codes"
expect_error InvalidInstanceID.NotFound ec2 describe-instances --instance-ids i-0123456789abcdef0
expect_error InvalidInstanceID.Malformed ec2 stop-instances --instance-ids i-nope
expect_error InvalidAllocationID.NotFound ec2 describe-addresses --allocation-ids eipalloc-0123456789abcdef0
expect_error MissingParameter ec2 associate-address --allocation-id "$alloc"
expect_error InvalidParameterValue ec2 describe-instances --filters Name=no-such-filter,Values=x
expect_error InvalidLaunchTemplateName.NotFoundException ec2 run-instances --launch-template LaunchTemplateName=missing --count 1
ec2 terminate-instances --instance-ids "$b" >/dev/null
expect_error IncorrectInstanceState ec2 start-instances --instance-ids "$b"
expect None "$(ec2 describe-addresses --allocation-ids "$alloc" --query 'Addresses[0].AssociationId')" "terminate disassociates the Elastic IP"
curl -fsS -X PUT -d '{"deny":["StopInstances"]}' "$ENDPOINT/admin/faults" >/dev/null
expect_error UnauthorizedOperation ec2 stop-instances --instance-ids "$a"
curl -fsS -X PUT -d '{"throttleRate":1}' "$ENDPOINT/admin/faults" >/dev/null
expect_error RequestLimitExceeded ec2 describe-vpcs
curl -fsS -X PUT -d '{}' "$ENDPOINT/admin/faults" >/dev/null
echo "PASS"
