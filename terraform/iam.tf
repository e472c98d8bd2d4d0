# The instance role. Its "agent" policy is exactly what `ec2ha iam-policy`
# prints for the configuration this module writes (the module's Go tests
# compare the two); the "bootstrap" policy is what user data needs once at
# boot: the binary from S3 and the gossip key.

locals {
  has_elastic_ip   = var.elastic_ip
  has_secondary_ip = var.secondary_private_ip != null
  has_overlay_ip   = var.overlay_ip != null
  # The agent terminates when fencing says so, and retires a fenced
  # instance once its replacement runs when fenced_instance is terminate.
  terminates = var.fencing_action == "terminate" || (var.replacement.enabled && var.replacement.fenced_instance == "terminate")

  describe_actions = sort(concat(
    ["ec2:DescribeInstances"],
    local.has_elastic_ip ? ["ec2:DescribeAddresses"] : [],
    local.has_secondary_ip || local.has_overlay_ip ? ["ec2:DescribeNetworkInterfaces"] : [],
    local.has_overlay_ip ? ["ec2:DescribeRouteTables"] : [],
  ))

  member_actions = sort(concat(
    ["ec2:CreateTags", "ec2:StartInstances"],
    var.fencing_action == "stop" ? ["ec2:StopInstances"] : [],
    local.terminates ? ["ec2:TerminateInstances"] : [],
  ))

  network_actions = sort(concat(
    local.has_elastic_ip ? ["ec2:AssociateAddress", "ec2:DisassociateAddress"] : [],
    local.has_secondary_ip ? ["ec2:AssignPrivateIpAddresses"] : [],
    local.has_overlay_ip ? ["ec2:CreateRoute", "ec2:ReplaceRoute"] : [],
  ))

  agent_statements = concat(
    [
      {
        # EC2's Describe* actions support no resource-level permissions.
        Sid      = "DescribeClusterState"
        Effect   = "Allow"
        Action   = local.describe_actions
        Resource = "*"
      },
      {
        Sid       = "FenceAndTagClusterMembers"
        Effect    = "Allow"
        Action    = local.member_actions
        Resource  = "arn:aws:ec2:*:*:instance/*"
        Condition = { StringEquals = { "aws:ResourceTag/ec2ha:cluster" = var.cluster_name } }
      },
    ],
    # Addresses, ENIs and route tables are shared VPC plumbing that ec2ha
    # does not tag, so they cannot be narrowed by a tag condition.
    [
      for s in [
        {
          Sid      = "MoveClusterAddresses"
          Effect   = "Allow"
          Action   = local.network_actions
          Resource = "*"
        },
      ] : s if length(local.network_actions) > 0
    ],
    # Each list of statements below is filtered with a for expression,
    # since a conditional's two results would need one type.
    [for s in [
      {
        # ec2ha's configuration names the template (it cannot hold the id
        # of the template that carries it); here the id is known, so the
        # policy is pinned to exactly this template. No
        # ec2:IsLaunchTemplateResource condition: replacements name their
        # subnet, which this template (shared by all AZs) does not hold.
        Sid      = "LaunchReplacementsFromTemplate"
        Effect   = "Allow"
        Action   = ["ec2:RunInstances"]
        Resource = "*"
        Condition = {
          ArnLike = { "ec2:LaunchTemplate" = "arn:aws:ec2:*:*:launch-template/${aws_launch_template.this.id}" }
        }
      },
      {
        Sid       = "TagReplacementsAtLaunch"
        Effect    = "Allow"
        Action    = ["ec2:CreateTags"]
        Resource  = "arn:aws:ec2:*:*:*/*"
        Condition = { StringEquals = { "ec2:CreateAction" = "RunInstances" } }
      },
      {
        Sid      = "PassReplacementInstanceRole"
        Effect   = "Allow"
        Action   = ["iam:PassRole"]
        Resource = aws_iam_role.this.arn
      },
    ] : s if var.replacement.enabled],
  )

  binary_s3_object = startswith(var.binary_url, "s3://") ? trimprefix(var.binary_url, "s3://") : ""

  bootstrap_statements = concat(
    [
      var.gossip_key.source == "ssm" ? {
        Sid      = "ReadGossipKey"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter"]
        Resource = "arn:aws:ssm:*:*:parameter/${trimprefix(var.gossip_key.name, "/")}"
        } : {
        Sid      = "ReadGossipKey"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = var.gossip_key.name
      },
    ],
    [
      for s in [
        {
          Sid      = "DecryptGossipKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = coalesce(var.gossip_key_kms_key_arn, "none")
        },
      ] : s if var.gossip_key_kms_key_arn != null
    ],
    [
      for s in [
        {
          Sid      = "ReadBinary"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = "arn:aws:s3:::${local.binary_s3_object}"
        },
      ] : s if local.binary_s3_object != ""
    ],
  )
}

resource "aws_iam_role" "this" {
  name_prefix = "ec2ha-${substr(var.cluster_name, 0, 26)}-"
  description = "ec2ha agent on the members of cluster ${var.cluster_name}"
  tags        = local.cluster_tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Action    = "sts:AssumeRole"
        Principal = { Service = "ec2.amazonaws.com" }
      },
    ]
  })
}

resource "aws_iam_role_policy" "agent" {
  name   = "ec2ha-agent"
  role   = aws_iam_role.this.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.agent_statements })
}

resource "aws_iam_role_policy" "bootstrap" {
  name   = "ec2ha-bootstrap"
  role   = aws_iam_role.this.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.bootstrap_statements })
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = "ec2ha-${substr(var.cluster_name, 0, 26)}-"
  role        = aws_iam_role.this.name
  tags        = local.cluster_tags
}
