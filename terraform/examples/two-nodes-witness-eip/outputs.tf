output "instance_ids" {
  description = "Instance ids of the nodes, by node name."
  value       = module.ec2ha.instance_ids
}

output "elastic_ip" {
  description = "The Elastic IP in front of the service, if any."
  value       = module.ec2ha.elastic_ip
}

output "cluster_name" {
  description = "Name of the cluster."
  value       = module.ec2ha.cluster_name
}
