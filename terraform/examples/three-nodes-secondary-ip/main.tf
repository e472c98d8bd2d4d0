# Three PostgreSQL nodes sharing a secondary private IP that clients in the
# VPC connect to. A secondary IP can only move between interfaces of one
# subnet, so all three nodes sit in one subnet; for a service address that
# moves across availability zones use overlay_ip instead. Three votes keep
# quorum through the loss of any one node, and a fenced node is replaced
# from the launch template.

provider "aws" {
  region = var.region
}

module "ec2ha" {
  source = "../.."

  cluster_name  = "pg"
  vpc_id        = var.vpc_id
  subnet_ids    = var.subnet_ids
  ami_id        = var.ami_id
  instance_type = "m6i.large"

  nodes = [
    { name = "pg-a" },
    { name = "pg-b" },
    { name = "pg-c" },
  ]

  binary_url    = var.binary_url
  binary_sha256 = var.binary_sha256
  gossip_key    = { source = "ssm", name = var.gossip_key_parameter }

  group = {
    name            = "postgres"
    start_command   = "/usr/local/bin/pg-promote"
    stop_command    = "/usr/local/bin/pg-demote"
    monitor_command = "pg_isready -q"
    hook_timeout    = "60s"
  }

  elastic_ip           = false
  secondary_private_ip = "10.0.1.100"
  service_ports = [
    { port = 5432, cidr_blocks = var.client_cidrs },
  ]

  fencing_action = "stop"
  replacement = {
    enabled         = true
    max_per_hour    = 2
    fenced_instance = "terminate"
  }

  tags = { Service = "postgres" }
}
