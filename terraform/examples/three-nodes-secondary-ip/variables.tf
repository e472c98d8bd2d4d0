variable "region" {
  description = "AWS region to deploy into."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the nodes, one per availability zone."
  type        = list(string)
}

variable "ami_id" {
  description = "AMI of the nodes: a systemd Linux with curl and the AWS CLI."
  type        = string
}

variable "binary_url" {
  description = "https:// URL or s3:// object of the ec2ha binary for the AMI's architecture."
  type        = string
}

variable "binary_sha256" {
  description = "SHA-256 of that binary."
  type        = string
}

variable "gossip_key_parameter" {
  description = "SSM SecureString parameter holding the gossip key, created with `ec2ha keygen --out gossip.key` and `aws ssm put-parameter --type SecureString --name NAME --value file://gossip.key`."
  type        = string
}

variable "client_cidrs" {
  description = "CIDRs allowed to reach the service."
  type        = list(string)
}
