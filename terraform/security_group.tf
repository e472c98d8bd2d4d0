resource "aws_security_group" "this" {
  name_prefix = "ec2ha-${var.cluster_name}-"
  description = "ec2ha cluster ${var.cluster_name}: gossip between members, service ports to the configured CIDRs"
  vpc_id      = var.vpc_id
  tags        = merge(local.cluster_tags, { Name = "ec2ha-${var.cluster_name}" })

  lifecycle {
    create_before_destroy = true
  }
}

# memberlist gossips over UDP and falls back to TCP for push/pull and
# probes, so both must be open, and only between members of this group.
resource "aws_vpc_security_group_ingress_rule" "gossip" {
  for_each = toset(["tcp", "udp"])

  security_group_id            = aws_security_group.this.id
  referenced_security_group_id = aws_security_group.this.id
  ip_protocol                  = each.key
  from_port                    = var.gossip_port
  to_port                      = var.gossip_port
  description                  = "ec2ha gossip (${each.key}) between members"
  tags                         = local.cluster_tags
}

resource "aws_vpc_security_group_ingress_rule" "service" {
  for_each = {
    for rule in flatten([
      for p in var.service_ports : [
        for cidr in p.cidr_blocks : { key = "${p.protocol}-${p.port}-${cidr}", port = p.port, protocol = p.protocol, cidr = cidr }
      ]
    ]) : rule.key => rule
  }

  security_group_id = aws_security_group.this.id
  cidr_ipv4         = each.value.cidr
  ip_protocol       = each.value.protocol
  from_port         = each.value.port
  to_port           = each.value.port
  description       = "service port ${each.value.port}/${each.value.protocol}"
  tags              = local.cluster_tags
}

# Nodes call the EC2 API, SSM or Secrets Manager and the binary's URL.
resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.this.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
  description       = "EC2 API, key store and binary download"
  tags              = local.cluster_tags
}
