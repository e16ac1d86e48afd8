data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region

  tags = merge({ "shardflow:pipeline" = var.name }, var.tags)

  # --- stream -------------------------------------------------------------
  stream_arn = (
    var.create_kinesis_stream ? one(aws_kinesis_stream.this[*].arn) :
    var.kinesis_stream_arn != null ? var.kinesis_stream_arn :
    one(data.aws_kinesis_stream.existing[*].arn)
  )

  # --- cluster --------------------------------------------------------------
  cluster_arn = var.ecs_cluster_arn != null ? var.ecs_cluster_arn : one(aws_ecs_cluster.this[*].arn)

  # --- checkpoints ----------------------------------------------------------
  lease_table_name = coalesce(var.lease_table_name, "shardflow-${var.name}")
  use_dynamodb     = var.checkpoint_store == "dynamodb"

  # --- secrets ----------------------------------------------------------------
  # Every env var injected from Secrets Manager. ECS accepts ARN suffixes
  # (:json-key:version-stage:version-id); IAM wants the secret ARN itself,
  # the first seven colon-separated fields.
  task_secrets = merge(var.secrets, { REDIS_AUTH_TOKEN = var.redis_auth_token_secret_arn })
  task_secret_arns = distinct([
    for v in values(local.task_secrets) : join(":", slice(split(":", v), 0, 7))
  ])

  # The scale task parses the same pipeline file but needs none of its
  # secrets: its copy has every $${SECRET} / $${SECRET:-default} reference
  # removed, so it runs without the right to read them.
  secret_ref_pattern  = "/\\$\\{(${join("|", sort(keys(local.task_secrets)))})(:-[^}]*)?\\}/"
  scale_pipeline_yaml = var.pipeline_yaml == null ? null : replace(var.pipeline_yaml, local.secret_ref_pattern, "")

  # --- image ------------------------------------------------------------------
  # An ECR image gets pull rights on its own repository only.
  ecr_match          = regexall("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(\\.cn)?/([^:@]+)", var.container_image)
  ecr_repository_arn = length(local.ecr_match) == 0 ? null : "arn:${local.partition}:ecr:${local.ecr_match[0][1]}:${local.ecr_match[0][0]}:repository/${local.ecr_match[0][3]}"

  config_dir  = "/etc/shardflow"
  config_path = "${local.config_dir}/pipeline.yaml"

  redis_addr = "${aws_elasticache_replication_group.this.primary_endpoint_address}:${aws_elasticache_replication_group.this.port}"

  # Non-secret environment both task definitions share.
  base_environment = merge(var.environment, {
    AWS_REGION               = local.region
    SHARDFLOW_PIPELINE       = var.name
    SHARDFLOW_KINESIS_STREAM = var.kinesis_stream_name
    SHARDFLOW_REDIS_ADDR     = local.redis_addr
    SHARDFLOW_LEASE_TABLE    = local.lease_table_name
  })

  # --- firehose ---------------------------------------------------------------
  delivery_stream_arns = concat(
    [for k, s in aws_kinesis_firehose_delivery_stream.s3 : s.arn],
    [for k, s in aws_kinesis_firehose_delivery_stream.redshift : s.arn],
    var.extra_firehose_delivery_stream_arns,
  )
}

# ---------------------------------------------------------------------------
# Kinesis stream
# ---------------------------------------------------------------------------

resource "aws_kinesis_stream" "this" {
  count = var.create_kinesis_stream ? 1 : 0

  name             = var.kinesis_stream_name
  shard_count      = var.kinesis_shard_count
  retention_period = var.kinesis_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = coalesce(var.kinesis_kms_key_arn, "alias/aws/kinesis")

  stream_mode_details {
    stream_mode = "PROVISIONED"
  }

  tags = local.tags

  lifecycle {
    # Resharding (UpdateShardCount, split/merge) happens outside Terraform;
    # `shardflow scale` follows whatever shard count the stream has.
    ignore_changes = [shard_count]
  }
}

data "aws_kinesis_stream" "existing" {
  count = !var.create_kinesis_stream && var.kinesis_stream_arn == null ? 1 : 0
  name  = var.kinesis_stream_name
}

# ---------------------------------------------------------------------------
# ECS cluster and logs
# ---------------------------------------------------------------------------

resource "aws_ecs_cluster" "this" {
  count = var.ecs_cluster_arn == null ? 1 : 0
  name  = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/shardflow/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = local.tags
}

resource "aws_cloudwatch_log_group" "firehose" {
  count             = length(var.s3_delivery_streams) + length(var.redshift_delivery_streams) > 0 ? 1 : 0
  name              = "/aws/kinesisfirehose/shardflow-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = local.tags
}

# ---------------------------------------------------------------------------
# DynamoDB lease table (checkpoint_store = "dynamodb")
# ---------------------------------------------------------------------------

resource "aws_dynamodb_table" "leases" {
  count = local.use_dynamodb ? 1 : 0

  name         = local.lease_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "ShardID" # the KCL's lease key (checkpoint.LeaseKeyKey)

  attribute {
    name = "ShardID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  tags = local.tags
}

# ---------------------------------------------------------------------------
# Pipeline file
# ---------------------------------------------------------------------------

resource "aws_ssm_parameter" "pipeline" {
  count = var.pipeline_config_source == "ssm" ? 1 : 0

  name  = "/shardflow/${var.name}/pipeline.yaml"
  type  = "String" # no secrets inside: they are $${ENV} references
  tier  = var.ssm_parameter_tier
  value = var.pipeline_yaml
  tags  = local.tags

  lifecycle {
    precondition {
      condition     = var.pipeline_yaml != null
      error_message = "pipeline_yaml is required unless pipeline_config_source = \"image\"."
    }
  }
}

resource "aws_ssm_parameter" "scale_pipeline" {
  count = var.pipeline_config_source == "ssm" ? 1 : 0

  name  = "/shardflow/${var.name}/scale-pipeline.yaml"
  type  = "String"
  tier  = var.ssm_parameter_tier
  value = local.scale_pipeline_yaml
  tags  = local.tags
}
