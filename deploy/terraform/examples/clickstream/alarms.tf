# Alarms on what the pipeline reports as CloudWatch EMF (ops.emf in
# pipeline.yaml: namespace Shardflow/clickstream, dimension pipeline), on the
# stream's own Kinesis metrics, and on Redis memory. What each means and
# what to do: docs/runbook.md.

locals {
  metrics_namespace = "Shardflow/${local.name}"
  alarm_dimensions  = { pipeline = local.name }
}

# Consumer lag as Kinesis sees it: the age of the last record read. It
# grows when tasks fall behind or stop reading (an output that gave up, a
# wedged task); no data at all means nobody reads.
resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  alarm_name          = "shardflow-${local.name}-iterator-age"
  alarm_description   = "Records wait more than 5 minutes to be read (docs/runbook.md: behind latest)."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = module.clickstream.kinesis_stream_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 300000
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_topic_arns
  ok_actions          = var.alarm_topic_arns
}

# Every open shard leased: the tasks' LeasesHeld add up to the stream's open
# shards (4 here; update the threshold when resharding).
resource "aws_cloudwatch_metric_alarm" "unowned_shards" {
  alarm_name          = "shardflow-${local.name}-unowned-shards"
  alarm_description   = "Fewer leases held than open shards for 5 minutes (docs/runbook.md: unowned shards)."
  namespace           = local.metrics_namespace
  metric_name         = "LeasesHeld"
  dimensions          = local.alarm_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 4
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_topic_arns
  ok_actions          = var.alarm_topic_arns
}

# An output gave up after retry_timeout: its shards hold their checkpoints
# and the container health check replaces the task.
resource "aws_cloudwatch_metric_alarm" "output_gave_up" {
  alarm_name          = "shardflow-${local.name}-output-gave-up"
  alarm_description   = "An output gave up on a batch (docs/runbook.md: output gave up)."
  namespace           = local.metrics_namespace
  metric_name         = "BatchesFailed"
  dimensions          = local.alarm_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arns
  ok_actions          = var.alarm_topic_arns
}

# Bad input: more than 1 % of the records read went to dead-letter.
resource "aws_cloudwatch_metric_alarm" "dead_letter_rate" {
  alarm_name          = "shardflow-${local.name}-dead-letter-rate"
  alarm_description   = "Over 1 % of records dead-lettered for 15 minutes (docs/runbook.md: dead letters)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0.01
  evaluation_periods  = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arns
  ok_actions          = var.alarm_topic_arns

  metric_query {
    id          = "rate"
    expression  = "dead / MAX([read, 1])"
    label       = "dead-letter rows per record read"
    return_data = true
  }
  metric_query {
    id = "dead"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "DeadLetterRows"
      dimensions  = local.alarm_dimensions
      stat        = "Sum"
      period      = 300
    }
  }
  metric_query {
    id = "read"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "RecordsRead"
      dimensions  = local.alarm_dimensions
      stat        = "Sum"
      period      = 300
    }
  }
}

# Redis holds the leases, checkpoints, lookup table and window state, with
# maxmemory-policy noeviction: when full, writes fail and checkpoints stop.
# Act well before that.
resource "aws_cloudwatch_metric_alarm" "redis_memory" {
  for_each            = toset(module.clickstream.redis_member_clusters)
  alarm_name          = "shardflow-${local.name}-redis-memory-${each.key}"
  alarm_description   = "Redis above 75 % of its memory (docs/runbook.md: Redis memory)."
  namespace           = "AWS/ElastiCache"
  metric_name         = "DatabaseMemoryUsagePercentage"
  dimensions          = { CacheClusterId = each.key }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 75
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_topic_arns
  ok_actions          = var.alarm_topic_arns
}
