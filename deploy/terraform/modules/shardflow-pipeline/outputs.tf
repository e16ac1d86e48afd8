output "kinesis_stream_arn" {
  description = "ARN of the pipeline's Kinesis stream (created or existing)."
  value       = local.stream_arn
}

output "kinesis_stream_name" {
  description = "Name of the pipeline's Kinesis stream."
  value       = var.kinesis_stream_name
}

output "ecs_cluster_arn" {
  description = "Cluster the service and the scale task run in."
  value       = local.cluster_arn
}

output "ecs_service_name" {
  description = "The pipeline's ECS service."
  value       = aws_ecs_service.this.name
}

output "ecs_service_arn" {
  description = "ARN of the pipeline's ECS service."
  value       = aws_ecs_service.this.arn
}

output "task_definition_arn" {
  description = "Pipeline task definition (with revision)."
  value       = aws_ecs_task_definition.run.arn
}

output "scale_task_definition_arn" {
  description = "Scale task definition (with revision); run it by hand with `aws ecs run-task` to rescale now."
  value       = aws_ecs_task_definition.scale.arn
}

output "task_role_arn" {
  description = "Role of the pipeline tasks (Kinesis read, Firehose write, ...)."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "ECS execution role of the pipeline tasks (image pull, logs, the named secrets)."
  value       = aws_iam_role.execution.arn
}

output "task_security_group_id" {
  description = "Security group of the pipeline tasks (e.g. to allow them into other services)."
  value       = aws_security_group.task.id
}

output "redis_primary_endpoint" {
  description = "Primary endpoint of the Redis replication group (TLS, AUTH); the tasks get it as SHARDFLOW_REDIS_ADDR."
  value       = local.redis_addr
}

output "redis_reader_endpoint" {
  description = "Reader endpoint of the Redis replication group."
  value       = aws_elasticache_replication_group.this.reader_endpoint_address
}

output "redis_security_group_id" {
  description = "Security group of the Redis replication group."
  value       = aws_security_group.redis.id
}

output "firehose_delivery_stream_names" {
  description = "Delivery stream names by key, as the pipeline file's outputs[].firehose.delivery_stream expects them."
  value = merge(
    { for k, s in aws_kinesis_firehose_delivery_stream.s3 : k => s.name },
    { for k, s in aws_kinesis_firehose_delivery_stream.redshift : k => s.name },
  )
}

output "firehose_delivery_stream_arns" {
  description = "Delivery stream ARNs by key."
  value = merge(
    { for k, s in aws_kinesis_firehose_delivery_stream.s3 : k => s.arn },
    { for k, s in aws_kinesis_firehose_delivery_stream.redshift : k => s.arn },
  )
}

output "lease_table_name" {
  description = "DynamoDB lease table (checkpoint_store = dynamodb), else null."
  value       = one(aws_dynamodb_table.leases[*].name)
}

output "log_group_name" {
  description = "CloudWatch log group of the pipeline and scale tasks."
  value       = aws_cloudwatch_log_group.this.name
}

output "pipeline_parameter_name" {
  description = "SSM parameter holding the pipeline file (pipeline_config_source = ssm), else null."
  value       = one(aws_ssm_parameter.pipeline[*].name)
}

output "redis_member_clusters" {
  description = "Cache cluster ids of the Redis replication group's nodes (the CacheClusterId dimension of the AWS/ElastiCache metrics, for memory alarms)."
  value       = aws_elasticache_replication_group.this.member_clusters
}
