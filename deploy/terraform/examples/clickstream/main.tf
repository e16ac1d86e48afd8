# Example: the "clickstream" pipeline. Click events arrive on a 4-shard
# Kinesis stream; shardflow enriches them from Redis and writes
#   - Parquet to S3 (Firehose record format conversion, Glue table below),
#   - rows to Redshift (Firehose COPY, every source record backed up to S3),
#   - dead letters, GZIP NDJSON, to S3.
# The pipeline file is ./pipeline.yaml; the delivery stream names in it are
# "<name>-<key>" of the maps below.

locals {
  name = "clickstream"
}

# ---------------------------------------------------------------------------
# Data lake bucket, encrypted with its own key
# ---------------------------------------------------------------------------

resource "aws_kms_key" "data" {
  description         = "shardflow ${local.name}: data lake and delivery streams"
  enable_key_rotation = true
}

resource "aws_s3_bucket" "lake" {
  bucket_prefix = "${local.name}-lake-"
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

# ---------------------------------------------------------------------------
# Glue table: the Parquet schema Firehose converts to (the pipeline's
# schema plus its enriched/derived columns)
# ---------------------------------------------------------------------------

resource "aws_glue_catalog_database" "analytics" {
  name = "${local.name}_analytics"
}

# The events table (columns in glue/events.json) is created by the module
# from that file: the file is also what firehose-local reads locally.

# ---------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------

module "clickstream" {
  source = "../../modules/shardflow-pipeline"

  name       = local.name
  vpc_id     = var.vpc_id
  subnet_ids = var.private_subnet_ids

  kinesis_stream_name     = "${local.name}-events"
  kinesis_shard_count     = 4
  kinesis_retention_hours = 48

  container_image = var.container_image
  task_cpu        = 1024
  task_memory     = 2048

  pipeline_yaml          = file("${path.module}/pipeline.yaml")
  pipeline_config_source = "ssm"

  # Plain, non-secret settings the pipeline file reads as ${VAR}.
  environment = {
    SHARDFLOW_ENRICH_PREFIX = "enrich:"
  }

  redis_auth_token_secret_arn = var.redis_auth_token_secret_arn
  # Leases, checkpoints and the user table; no windows in this pipeline.
  # Windows need more (README: Redis sizing).
  redis_node_type          = "cache.t4g.small"
  redis_num_cache_clusters = 2

  checkpoint_store = "redis"

  s3_delivery_streams = {
    events = {
      bucket_arn         = aws_s3_bucket.lake.arn
      prefix             = "events/dt=!{timestamp:yyyy-MM-dd}/hr=!{timestamp:HH}/"
      kms_key_arn        = aws_kms_key.data.arn
      format             = "parquet"
      buffering_size_mb  = 128
      glue_database_name = aws_glue_catalog_database.analytics.name
      glue_table_name    = "events"
      glue_table_file    = "${path.module}/glue/events.json"
    }
    dead-letter = {
      bucket_arn                 = aws_s3_bucket.lake.arn
      prefix                     = "dead-letter/dt=!{timestamp:yyyy-MM-dd}/"
      kms_key_arn                = aws_kms_key.data.arn
      format                     = "gzip"
      buffering_size_mb          = 5
      buffering_interval_seconds = 60
    }
  }

  redshift_delivery_streams = {
    redshift = {
      cluster_jdbc_url        = var.redshift_jdbc_url
      credentials_secret_arn  = var.redshift_credentials_secret_arn
      table                   = "public.click_events"
      columns                 = "event_id,user_id,page,country,ts,price,user_agent,plan,price_cents"
      copy_options            = "JSON 'auto' GZIP TIMEFORMAT 'auto' TRUNCATECOLUMNS"
      intermediate_bucket_arn = aws_s3_bucket.lake.arn
      intermediate_prefix     = "redshift-staging/"
      kms_key_arn             = aws_kms_key.data.arn
      backup_bucket_arn       = aws_s3_bucket.lake.arn
      backup_prefix           = "redshift-backup/dt=!{timestamp:yyyy-MM-dd}/"
    }
  }

  firehose_kms_key_arn    = aws_kms_key.data.arn
  ops_ingress_cidr_blocks = var.prometheus_cidr_blocks

  # One task per 4 shards, re-evaluated every 5 minutes.
  initial_desired_count  = 1
  max_shards_per_task    = 4
  min_tasks              = 1
  max_tasks              = 16
  scale_interval_minutes = 5

  tags = {
    team = "analytics"
  }
}
