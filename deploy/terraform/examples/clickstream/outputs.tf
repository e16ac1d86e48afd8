output "stream_name" {
  description = "Put click events here."
  value       = module.clickstream.kinesis_stream_name
}

output "service" {
  description = "cluster/service of the pipeline."
  value       = "${module.clickstream.ecs_cluster_arn} ${module.clickstream.ecs_service_name}"
}

output "delivery_streams" {
  description = "Firehose delivery streams (names used in pipeline.yaml)."
  value       = module.clickstream.firehose_delivery_stream_names
}

output "lake_bucket" {
  description = "Bucket with events/ (Parquet), dead-letter/ and redshift-backup/."
  value       = aws_s3_bucket.lake.id
}

output "log_group" {
  description = "CloudWatch log group of the pipeline and the scale task."
  value       = module.clickstream.log_group_name
}
