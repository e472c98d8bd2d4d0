# Two HAProxy nodes in two availability zones and a small witness in a
# third: three votes, so a partition never ends in a fencing race. The
# Elastic IP follows whichever node runs HAProxy.

provider "aws" {
  region = var.region
}

module "ec2ha" {
  source = "../.."

  cluster_name  = "haproxy"
  vpc_id        = var.vpc_id
  subnet_ids    = var.subnet_ids
  ami_id        = var.ami_id
  instance_type = "t3.small"

  nodes = [
    { name = "lb-a" },
    { name = "lb-b" },
    { name = "witness", witness = true, instance_type = "t3.micro" },
  ]

  binary_url    = var.binary_url
  binary_sha256 = var.binary_sha256
  gossip_key    = { source = "ssm", name = var.gossip_key_parameter }

  group = {
    name            = "haproxy"
    start_command   = "systemctl start haproxy"
    stop_command    = "systemctl stop haproxy"
    monitor_command = "curl -fsS -o /dev/null http://127.0.0.1:8404/health"
  }

  elastic_ip = true
  service_ports = [
    { port = 80, cidr_blocks = var.client_cidrs },
    { port = 443, cidr_blocks = var.client_cidrs },
  ]

  fencing_action = "stop"

  tags = { Service = "haproxy" }
}
