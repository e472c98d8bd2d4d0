output "cluster_name" {
  description = "Name of the cluster (the ec2ha:cluster tag value)."
  value       = var.cluster_name
}

output "instance_ids" {
  description = "Instance ids of the nodes, by node name. After ec2ha replaced a node, its new instance carries the same ec2ha:node tag."
  value       = { for i, n in var.nodes : n.name => aws_instance.node[i].id }
}

output "private_ips" {
  description = "Primary private IPs of the nodes, by node name."
  value       = { for i, n in var.nodes : n.name => aws_instance.node[i].private_ip }
}

output "elastic_ip" {
  description = "The Elastic IP in front of the group, or null without one."
  value       = var.elastic_ip ? aws_eip.this[0].public_ip : null
}

output "elastic_ip_allocation_id" {
  description = "Allocation id of the Elastic IP, or null without one."
  value       = var.elastic_ip ? aws_eip.this[0].allocation_id : null
}

output "security_group_id" {
  description = "Security group of the members; allow it as a source to reach the group's service from other resources."
  value       = aws_security_group.this.id
}

output "iam_role_arn" {
  description = "ARN of the nodes' instance role."
  value       = aws_iam_role.this.arn
}

output "launch_template_id" {
  description = "Launch template the nodes and ec2ha's replacements are launched from."
  value       = aws_launch_template.this.id
}
