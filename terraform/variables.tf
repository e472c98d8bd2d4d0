variable "cluster_name" {
  description = "Name of the cluster: the value of the ec2ha:cluster tag on every member and cluster.name in ec2ha.yaml. 1-63 lower-case letters, digits or dashes."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.cluster_name))
    error_message = "The cluster_name must be 1-63 lower-case letters, digits or dashes, starting and ending with a letter or digit, e.g. \"web-prod\"."
  }
}

variable "vpc_id" {
  description = "VPC the cluster runs in (vpc-...)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "The vpc_id must be a VPC id like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Subnets to spread the nodes over, one per availability zone: node i is placed in subnet_ids[i % length(subnet_ids)]. Replacements launched by ec2ha use the same subnets."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && length([for s in var.subnet_ids : s if !can(regex("^subnet-[0-9a-f]{8,17}$", s))]) == 0
    error_message = "The subnet_ids must list at least one subnet id like subnet-0123456789abcdef0."
  }
}

variable "ami_id" {
  description = "AMI of the nodes (a systemd-based Linux with curl; the AWS CLI too when the binary or the gossip key comes from S3, SSM or Secrets Manager)."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "The ami_id must be an AMI id like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "Instance type of the nodes that host groups; a node may override it in nodes[].instance_type (a witness can be small)."
  type        = string
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "The instance_type must be an EC2 instance type like t3.small."
  }
}

variable "nodes" {
  description = "The cluster's members, in priority order for the group. A witness votes but hosts no group. Each node's name is its ec2ha:node tag, from which the instance learns its node.name at boot."
  type = list(object({
    name          = string
    witness       = optional(bool, false)
    instance_type = optional(string)
  }))

  validation {
    condition     = length(var.nodes) >= 2 && length(var.nodes) <= 9
    error_message = "The nodes list must have 2 to 9 members (two nodes, two nodes and a witness, or an odd number of nodes)."
  }

  validation {
    condition     = length(distinct([for n in var.nodes : n.name])) == length(var.nodes) && length([for n in var.nodes : n.name if !can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", n.name))]) == 0
    error_message = "Every node needs a distinct name of lower-case letters, digits or dashes, e.g. \"lb-a\"."
  }

  validation {
    condition     = length([for n in var.nodes : n.name if !n.witness]) >= 2
    error_message = "At least two nodes must not be witnesses, or there is nowhere to fail over to."
  }

  validation {
    condition     = length([for n in var.nodes : n.name if n.instance_type != null && !can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", coalesce(n.instance_type, "x")))]) == 0
    error_message = "A node's instance_type must be an EC2 instance type like t3.micro."
  }
}

variable "binary_url" {
  description = "Where user data downloads the ec2ha binary from: an https:// URL (fetched with curl) or an s3:// object (fetched with the AWS CLI; the instance role is allowed to read exactly that object)."
  type        = string

  validation {
    condition     = can(regex("^(https://[^[:space:]]+|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^[:space:]]+)$", var.binary_url))
    error_message = "The binary_url must be an https:// URL or an s3://bucket/key object."
  }
}

variable "binary_sha256" {
  description = "SHA-256 of the ec2ha binary; user data refuses to install a binary with another checksum."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.binary_sha256))
    error_message = "The binary_sha256 must be 64 lower-case hex digits (sha256sum's output)."
  }
}

variable "gossip_key" {
  description = "Where the gossip encryption key (base64, as `ec2ha keygen` writes it) is stored: source = \"ssm\" with the name of a SecureString parameter, or source = \"secretsmanager\" with a secret ARN. User data writes it to /etc/ec2ha/gossip.key with mode 0600."
  type = object({
    source = string
    name   = string
  })

  validation {
    condition     = contains(["ssm", "secretsmanager"], var.gossip_key.source)
    error_message = "The gossip_key.source must be \"ssm\" or \"secretsmanager\"."
  }

  validation {
    condition = (
      var.gossip_key.source != "secretsmanager" ? can(regex("^[a-zA-Z0-9_./-]{1,1000}$", var.gossip_key.name)) :
      can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[a-zA-Z0-9/_+=.@-]+$", var.gossip_key.name))
    )
    error_message = "The gossip_key.name must be an SSM parameter name like /ec2ha/web/gossip-key, or for secretsmanager a secret ARN."
  }
}

variable "gossip_key_kms_key_arn" {
  description = "Customer managed KMS key that encrypts the gossip key, if any; the instance role is then allowed kms:Decrypt on it. Leave null for the AWS managed key."
  type        = string
  default     = null

  validation {
    condition     = var.gossip_key_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.gossip_key_kms_key_arn))
    error_message = "The gossip_key_kms_key_arn must be a KMS key ARN like arn:aws:kms:eu-west-1:123456789012:key/..., or null."
  }
}

variable "gossip_port" {
  description = "Port of the memberlist gossip, opened for TCP and UDP between members only."
  type        = number
  default     = 7946

  validation {
    condition     = var.gossip_port >= 1024 && var.gossip_port <= 65535 && floor(var.gossip_port) == var.gossip_port
    error_message = "The gossip_port must be a whole number from 1024 to 65535."
  }
}

variable "gossip_profile" {
  description = "memberlist timing preset: lan, fast or wan."
  type        = string
  default     = "fast"

  validation {
    condition     = contains(["lan", "fast", "wan"], var.gossip_profile)
    error_message = "The gossip_profile must be lan, fast or wan."
  }
}

variable "group" {
  description = "The resource group the cluster keeps running on one node: its name and the commands that start, stop and monitor the service (run through /bin/sh -c), with Go durations for the timeouts."
  type = object({
    name             = string
    start_command    = string
    stop_command     = string
    monitor_command  = optional(string)
    hook_timeout     = optional(string, "30s")
    monitor_interval = optional(string, "5s")
    monitor_timeout  = optional(string, "5s")
    failback         = optional(bool, false)
  })

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.group.name))
    error_message = "The group.name must be lower-case letters, digits or dashes, e.g. \"haproxy\"."
  }

  validation {
    condition     = trimspace(var.group.start_command) != "" && trimspace(var.group.stop_command) != ""
    error_message = "The group needs a start_command and a stop_command."
  }

  validation {
    condition     = length([for d in [var.group.hook_timeout, var.group.monitor_interval, var.group.monitor_timeout] : d if !can(regex("^[0-9]+(ms|s|m|h)$", d))]) == 0
    error_message = "The group's hook_timeout, monitor_interval and monitor_timeout must be durations like 30s or 500ms."
  }
}

variable "elastic_ip" {
  description = "Allocate an Elastic IP that ec2ha associates with the node running the group."
  type        = bool
  default     = true
}

variable "secondary_private_ip" {
  description = "A private IP (in the subnet of the group's nodes, so all of them must share one subnet or the address must be free in each) that ec2ha assigns to the node running the group. With elastic_ip, the Elastic IP is associated with this address. Null for none."
  type        = string
  default     = null

  validation {
    condition     = var.secondary_private_ip == null || can(cidrhost("${coalesce(var.secondary_private_ip, "0.0.0.0")}/32", 0))
    error_message = "The secondary_private_ip must be an IPv4 address like 10.0.1.100, or null."
  }
}

variable "overlay_ip" {
  description = "An address outside the VPC CIDR that route tables send to the node running the group (route-table overlay IP). Null for none."
  type = object({
    address         = string
    route_table_ids = list(string)
  })
  default = null

  validation {
    condition     = var.overlay_ip == null || can(cidrhost("${try(var.overlay_ip.address, "0.0.0.0")}/32", 0))
    error_message = "The overlay_ip.address must be an IPv4 address like 192.168.100.10."
  }

  validation {
    condition     = var.overlay_ip == null || (length(try(var.overlay_ip.route_table_ids, [])) > 0 && length([for r in try(var.overlay_ip.route_table_ids, []) : r if !can(regex("^rtb-[0-9a-f]{8,17}$", r))]) == 0)
    error_message = "The overlay_ip.route_table_ids must list route table ids like rtb-0123456789abcdef0."
  }
}

variable "service_ports" {
  description = "Ports of the service the group runs, opened to the given IPv4 CIDRs."
  type = list(object({
    port        = number
    protocol    = optional(string, "tcp")
    cidr_blocks = list(string)
  }))
  default = []

  validation {
    condition     = length([for p in var.service_ports : p if p.port < 1 || p.port > 65535 || !contains(["tcp", "udp"], p.protocol)]) == 0
    error_message = "Every service port must be from 1 to 65535 with protocol tcp or udp."
  }

  validation {
    condition     = length([for c in flatten([for p in var.service_ports : p.cidr_blocks]) : c if !can(cidrhost(c, 0))]) == 0
    error_message = "Every service_ports[].cidr_blocks entry must be an IPv4 CIDR like 10.0.0.0/16 or 0.0.0.0/0."
  }
}

variable "fencing_action" {
  description = "How ec2ha fences a lost member: stop (StopInstances with Force) or terminate."
  type        = string
  default     = "stop"

  validation {
    condition     = contains(["stop", "terminate"], var.fencing_action)
    error_message = "The fencing_action must be stop or terminate."
  }
}

variable "replacement" {
  description = "Self-healing: ec2ha replaces a fenced member with a new instance from this module's launch template, at most max_per_hour times an hour; fenced_instance says what then happens to the old one (terminate, keep or start)."
  type = object({
    enabled         = bool
    max_per_hour    = optional(number, 2)
    fenced_instance = optional(string, "terminate")
  })
  default = { enabled = false }

  validation {
    condition     = var.replacement.max_per_hour >= 1 && floor(var.replacement.max_per_hour) == var.replacement.max_per_hour
    error_message = "The replacement.max_per_hour must be a whole number of at least 1."
  }

  validation {
    condition     = contains(["terminate", "keep", "start"], var.replacement.fenced_instance)
    error_message = "The replacement.fenced_instance must be terminate, keep or start."
  }
}

variable "log_level" {
  description = "Agent log level: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "The log_level must be debug, info, warn or error."
  }
}

variable "root_volume_size" {
  description = "Size of each node's root volume in GiB (encrypted gp3)."
  type        = number
  default     = 16

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 16384
    error_message = "The root_volume_size must be from 8 to 16384 GiB."
  }
}

variable "tags" {
  description = "Tags added to every resource. The ec2ha:cluster tag is set by the module and cannot be overridden."
  type        = map(string)
  default     = {}

  validation {
    condition     = length([for k in keys(var.tags) : k if startswith(k, "ec2ha:")]) == 0
    error_message = "The tags must not use the ec2ha: prefix; the module sets ec2ha:cluster and ec2ha:node itself."
  }

  # The launch template puts instance tags in instance metadata (user data
  # reads ec2ha:node there), and EC2 then refuses to launch an instance
  # whose tag keys have other characters.
  validation {
    condition     = length([for k in keys(var.tags) : k if !can(regex("^[a-zA-Z0-9+=.,_:@-]{1,128}$", k)) || contains([".", "..", "_index"], k)]) == 0
    error_message = "Tag keys may use only letters, digits and + - = . , _ : @ (no spaces or /), since instance tags are in instance metadata; e.g. \"CostCenter\" instead of \"Cost Center\"."
  }
}
