# An ec2ha cluster: nodes from one launch template, spread over the given
# subnets, each of which installs ec2ha at boot and joins the others over
# encrypted gossip. ec2ha, not Terraform, decides where the group runs: the
# Elastic IP, secondary IP and overlay route are moved by the agent, so the
# resources below only create them and ignore who holds them afterwards.

locals {
  # The tag that fencing and the IAM policy are conditioned on.
  cluster_tags = merge(var.tags, { "ec2ha:cluster" = var.cluster_name })

  group_nodes = [for n in var.nodes : n.name if !n.witness]

  # A launch template cannot name itself in its own user data, so the
  # configuration refers to it by name; the IAM policy still pins the id.
  launch_template_name = "ec2ha-${var.cluster_name}"

  elastic_ip_allocation_id = var.elastic_ip ? aws_eip.this[0].allocation_id : ""

  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", {
    cluster_name             = var.cluster_name
    two_node                 = length(var.nodes) == 2
    nodes                    = var.nodes
    group                    = var.group
    group_nodes              = local.group_nodes
    gossip_port              = var.gossip_port
    gossip_profile           = var.gossip_profile
    gossip_key_source        = var.gossip_key.source
    gossip_key_name          = var.gossip_key.name
    key_file                 = "/etc/ec2ha/gossip.key"
    binary_url               = var.binary_url
    binary_from_s3           = startswith(var.binary_url, "s3://")
    binary_sha256            = var.binary_sha256
    fencing_action           = var.fencing_action
    elastic_ip_allocation_id = local.elastic_ip_allocation_id
    secondary_private_ip     = var.secondary_private_ip == null ? "" : var.secondary_private_ip
    overlay_ip               = var.overlay_ip
    replacement              = var.replacement
    launch_template_name     = local.launch_template_name
    pass_role_arn            = aws_iam_role.this.arn
    log_level                = var.log_level
    # The unit shipped with ec2ha; the module is used from the repository,
    # so it installs the same file the packages do.
    systemd_unit = chomp(file("${path.module}/../packaging/ec2ha.service"))
  })
}

resource "aws_launch_template" "this" {
  name                   = local.launch_template_name
  description            = "ec2ha cluster ${var.cluster_name}; ec2ha launches replacements from it"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  user_data              = base64encode(local.user_data)
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.this.id]

  iam_instance_profile {
    arn = aws_iam_instance_profile.this.arn
  }

  # IMDSv2 only, and one hop: a container on the node cannot reach the
  # node's credentials. Tags in metadata let user data read ec2ha:node.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.root_volume_size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = local.cluster_tags
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.cluster_tags
  }

  tags = local.cluster_tags
}

resource "aws_instance" "node" {
  count = length(var.nodes)

  subnet_id     = var.subnet_ids[count.index % length(var.subnet_ids)]
  instance_type = coalesce(var.nodes[count.index].instance_type, var.instance_type)

  # Overlay IPs reach the node through route tables, which needs the
  # source/destination check off.
  source_dest_check = var.overlay_ip == null

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  tags = merge(local.cluster_tags, {
    Name         = "${var.cluster_name}-${var.nodes[count.index].name}"
    "ec2ha:node" = var.nodes[count.index].name
  })

  lifecycle {
    # ec2ha owns the running cluster: it fences (stops or terminates)
    # members, writes fence history tags, moves secondary IPs and launches
    # replacements. A new launch template version (AMI, user data) must not
    # replace running members behind ec2ha's back; roll them one at a time
    # with `terraform apply -replace`, as the README describes.
    ignore_changes = [
      launch_template,
      user_data,
      user_data_base64,
      ami,
      tags,
      tags_all,
      secondary_private_ips,
    ]
  }
}

resource "aws_eip" "this" {
  count  = var.elastic_ip ? 1 : 0
  domain = "vpc"
  tags   = merge(local.cluster_tags, { Name = "${var.cluster_name}-${var.group.name}" })
}

# The overlay route starts at the group's first node; ec2ha replaces it
# whenever the group moves, and Terraform leaves it there.
resource "aws_route" "overlay" {
  for_each = var.overlay_ip == null ? toset([]) : toset(var.overlay_ip.route_table_ids)

  route_table_id         = each.key
  destination_cidr_block = "${var.overlay_ip.address}/32"
  network_interface_id   = aws_instance.node[index(var.nodes[*].name, local.group_nodes[0])].primary_network_interface_id

  lifecycle {
    ignore_changes = [network_interface_id]
  }
}
