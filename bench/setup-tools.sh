#!/bin/sh
# Installs what the side-by-side in bench/report.md runs: ClusterLabs'
# fence_aws (Debian fence-agents) and the awseip/awsvip resource agents
# (Debian resource-agents). Needs root and apt. The report also needs a
# Python whose botocore is 1.31 or newer (it honours AWS_ENDPOINT_URL) with
# boto3, requests and pexpect, and an `aws` CLI as new: Debian bookworm's
# python3-botocore (1.29) and awscli (2.9) are older, so they cannot be
# pointed at the simulator; set BENCH_PYTHON and BENCH_AWSCLI to ones that
# can if `python3` and `aws` on PATH are not.
set -eu
if [ "$(id -u)" -ne 0 ]; then
	echo "setup-tools.sh: run as root (apt-get install)" >&2
	exit 1
fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends fence-agents resource-agents curl
