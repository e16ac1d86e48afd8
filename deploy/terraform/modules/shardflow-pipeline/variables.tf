# ---------------------------------------------------------------------------
# Pipeline and network
# ---------------------------------------------------------------------------

variable "name" {
  description = "Pipeline name (the pipeline file's `name`). Prefixes every resource this module creates."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,39}$", var.name))
    error_message = "name: 1-40 of [a-zA-Z0-9_.-], starting with a letter or digit (resource names derived from it must stay within AWS limits)."
  }
}

variable "tags" {
  description = "Tags added to every resource that supports them."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "VPC of the tasks, the Redis replication group and the security groups."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (at least two AZs) for the ECS tasks and the ElastiCache subnet group. The tasks need a route to the AWS APIs (NAT gateway or VPC endpoints)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids: at least two subnets (ElastiCache Multi-AZ needs two AZs)."
  }
}

variable "ecs_cluster_arn" {
  description = "Existing ECS cluster to run in; null creates one named <name>."
  type        = string
  default     = null
}

variable "ops_ingress_cidr_blocks" {
  description = "CIDR blocks allowed to reach the ops port (/metrics, /healthz, /readyz), e.g. the Prometheus scraper's subnet. Empty: no ingress."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------
# Kinesis stream
# ---------------------------------------------------------------------------

variable "kinesis_stream_name" {
  description = "Name of the Kinesis stream (the pipeline file's `source.stream`): created when create_kinesis_stream, else an existing stream."
  type        = string
}

variable "create_kinesis_stream" {
  description = "Create the stream. false: use an existing one, found by kinesis_stream_arn when set, else by kinesis_stream_name."
  type        = bool
  default     = true
}

variable "kinesis_stream_arn" {
  description = "ARN of an existing stream (only with create_kinesis_stream = false); saves a lookup and allows a stream in another account."
  type        = string
  default     = null
}

variable "kinesis_shard_count" {
  description = "Shards of a created stream (PROVISIONED mode). Resharding later is done outside Terraform (UpdateShardCount); the shard count is ignored after creation."
  type        = number
  default     = 4
}

variable "kinesis_retention_hours" {
  description = "Retention of a created stream, 24-8760 hours. Replays after an outage longer than this lose data."
  type        = number
  default     = 24
}

variable "kinesis_kms_key_arn" {
  description = "Customer managed KMS key of the stream (created or existing). null: a created stream uses the AWS managed key alias/aws/kinesis, which needs no grant."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# Container and task
# ---------------------------------------------------------------------------

variable "container_image" {
  description = "shardflow image (deploy/Dockerfile), ideally pinned by digest. An ECR image gets ECR pull rights on its repository only."
  type        = string
}

variable "task_cpu" {
  description = "Fargate task CPU units (256, 512, 1024, 2048, 4096, ...)."
  type        = number
  default     = 1024
}

variable "task_memory" {
  description = "Fargate task memory in MiB; must be valid for task_cpu."
  type        = number
  default     = 2048
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64; must match the image."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture: X86_64 or ARM64."
  }
}

variable "pipeline_yaml" {
  description = "The pipeline file (YAML). Keep secrets out of it: reference them as $${ENV_NAME}, injected from `secrets`. null only with pipeline_config_source = \"image\"."
  type        = string
  default     = null
}

variable "pipeline_config_source" {
  description = "How the pipeline file reaches /etc/shardflow/pipeline.yaml: \"ssm\" (an SSM parameter, injected into an init container that writes the file), \"env\" (the same, from a plain environment variable of the init container) or \"image\" (baked into the image)."
  type        = string
  default     = "ssm"

  validation {
    condition     = contains(["ssm", "env", "image"], var.pipeline_config_source)
    error_message = "pipeline_config_source: ssm, env or image."
  }
}

variable "ssm_parameter_tier" {
  description = "Tier of the pipeline file's SSM parameter: Standard (up to 4 KB) or Advanced (up to 8 KB, charged)."
  type        = string
  default     = "Standard"
}

variable "config_init_image" {
  description = "Image with a POSIX sh that writes the pipeline file into the task's shared volume (the shardflow image has no shell). Pin by digest in production."
  type        = string
  default     = "public.ecr.aws/docker/library/busybox:1.37"
}

variable "environment" {
  description = "Plain environment variables of the shardflow container. Never secrets: names that look like secrets are rejected; use `secrets`."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : !can(regex("(?i)(password|passwd|secret|token|api_?key|private_?key|credential)", k))])
    error_message = "environment: a variable named like a secret (password, secret, token, api key, credential) must come from `secrets` (Secrets Manager), not plain env."
  }
}

variable "secrets" {
  description = "Environment variables injected from Secrets Manager: name => secret ARN (optionally with the ECS `:json-key:version-stage:version-id` suffix). The execution role may read exactly these secrets."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.secrets) : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:", v))])
    error_message = "secrets: every value must be a Secrets Manager secret ARN."
  }
}

variable "secrets_kms_key_arns" {
  description = "Customer managed KMS keys that encrypt the secrets in `secrets` / redis_auth_token_secret_arn (the execution role gets kms:Decrypt through Secrets Manager only). Empty for the AWS managed key."
  type        = list(string)
  default     = []
}

variable "ops_port" {
  description = "Port of `ops.listen` (/metrics, /healthz, /readyz)."
  type        = number
  default     = 9090
}

variable "stop_timeout_seconds" {
  description = "Seconds ECS waits after SIGTERM before SIGKILL (Fargate max 120). Keep above the pipeline's shutdown_timeout (25s default)."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups."
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "KMS key for the log groups; null for CloudWatch's default encryption. Its key policy must allow logs.<region>.amazonaws.com."
  type        = string
  default     = null
}

variable "cloudwatch_metrics_namespace" {
  description = "When set, the task role may call cloudwatch:PutMetricData in this namespace only (e.g. for a CloudWatch agent sidecar scraping /metrics). shardflow itself exports Prometheus metrics; null grants nothing."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------

variable "checkpoint_store" {
  description = "The pipeline file's source.checkpoints.type: \"redis\" (fenced leases in the replication group below) or \"dynamodb\" (the KCL lease table, created here)."
  type        = string
  default     = "redis"

  validation {
    condition     = contains(["redis", "dynamodb"], var.checkpoint_store)
    error_message = "checkpoint_store: redis or dynamodb."
  }
}

variable "lease_table_name" {
  description = "DynamoDB lease table (checkpoint_store = dynamodb); null: shardflow-<name>, shardflow's default for source.checkpoints.table."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# Redis (ElastiCache replication group, TLS + AUTH)
# ---------------------------------------------------------------------------

variable "redis_auth_token_secret_arn" {
  description = "Secrets Manager secret whose SecretString is the Redis AUTH token (16-128 printable characters, no @ \" / and, since it goes into a URL, best alphanumeric). Injected into the task as REDIS_AUTH_TOKEN; also read by Terraform to configure the replication group, so it is in the Terraform state: keep the state encrypted."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:", var.redis_auth_token_secret_arn))
    error_message = "redis_auth_token_secret_arn: a Secrets Manager secret ARN."
  }
}

variable "redis_node_type" {
  description = "ElastiCache node type. Size it for the window state (README: Redis sizing): cache.t4g.small (1.37 GiB, ~1 GiB usable) holds leases, a lookup table and the windows of ~12 busy shards of the reference window at the default emitted_retention (10m), ~90 at 30s; 64 such shards at the defaults need ~5 GB: cache.r7g.large."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_engine_version" {
  description = "Redis OSS engine version."
  type        = string
  default     = "7.1"
}

variable "redis_parameter_group_name" {
  description = "Existing parameter group; it must set maxmemory-policy noeviction. null: the module creates one (family from redis_engine_version) with noeviction."
  type        = string
  default     = null
}

variable "redis_num_cache_clusters" {
  description = "Primary plus replicas (2+ enables automatic failover and Multi-AZ)."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_num_cache_clusters >= 1 && var.redis_num_cache_clusters <= 6
    error_message = "redis_num_cache_clusters: 1-6."
  }
}

variable "redis_kms_key_arn" {
  description = "KMS key for encryption at rest; null for the ElastiCache default key."
  type        = string
  default     = null
}

variable "redis_snapshot_retention_days" {
  description = "Daily snapshots kept (0 disables). Leases and checkpoints are small; a restore replays from the restored checkpoints."
  type        = number
  default     = 7
}

# ---------------------------------------------------------------------------
# Outputs of the pipeline: Firehose delivery streams
# ---------------------------------------------------------------------------

variable "s3_delivery_streams" {
  description = <<-EOT
    Firehose delivery streams to S3, keyed by a short id (the stream is named <name>-<id>). format "gzip"
    stores the NDJSON/CSV rows GZIP-compressed; "parquet" converts NDJSON rows to Parquet with the schema of
    a Glue table (buffering_size_mb must then be >= 64): the module creates it from glue_table_file, a Glue
    TableInput JSON file (StorageDescriptor.Columns, PartitionKeys) that firehose-local reads too, or uses
    an existing table when glue_table_file is null.
  EOT
  type = map(object({
    bucket_arn                 = string
    prefix                     = optional(string)
    error_output_prefix        = optional(string)
    kms_key_arn                = optional(string)
    format                     = optional(string, "gzip")
    buffering_size_mb          = optional(number, 64)
    buffering_interval_seconds = optional(number, 300)
    glue_database_name         = optional(string)
    glue_table_name            = optional(string)
    glue_table_file            = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for k, s in var.s3_delivery_streams : contains(["gzip", "parquet"], s.format)])
    error_message = "s3_delivery_streams[*].format: gzip or parquet."
  }

  validation {
    condition     = alltrue([for k, s in var.s3_delivery_streams : s.format != "parquet" || (s.glue_database_name != null && s.glue_table_name != null && s.buffering_size_mb >= 64)])
    error_message = "s3_delivery_streams[*]: parquet needs glue_database_name, glue_table_name and buffering_size_mb >= 64."
  }

  validation {
    condition     = alltrue([for k, s in var.s3_delivery_streams : can(regex("^[a-zA-Z0-9_.-]+$", k))])
    error_message = "s3_delivery_streams: keys are [a-zA-Z0-9_.-]."
  }
}

variable "redshift_delivery_streams" {
  description = <<-EOT
    Firehose delivery streams to Redshift, keyed by a short id. Firehose stages GZIP files under
    intermediate_prefix in intermediate_bucket_arn and runs COPY <table> (<columns>) ... <copy_options>;
    the credentials come from the Secrets Manager secret credentials_secret_arn (JSON {"username","password"}),
    never from Terraform. backup_bucket_arn set: every source record is also kept in S3.
  EOT
  type = map(object({
    cluster_jdbc_url         = string
    credentials_secret_arn   = string
    table                    = string
    columns                  = optional(string)
    copy_options             = optional(string, "JSON 'auto' GZIP TIMEFORMAT 'auto'")
    intermediate_bucket_arn  = string
    intermediate_prefix      = optional(string)
    kms_key_arn              = optional(string)
    backup_bucket_arn        = optional(string)
    backup_prefix            = optional(string)
    retry_duration_seconds   = optional(number, 3600)
    buffering_size_mb        = optional(number, 5)
    buffering_interval_sec   = optional(number, 300)
    credentials_kms_key_arns = optional(list(string), [])
  }))
  default = {}

  validation {
    condition     = alltrue([for k, s in var.redshift_delivery_streams : can(regex("^arn:aws[a-z-]*:secretsmanager:", s.credentials_secret_arn))])
    error_message = "redshift_delivery_streams[*].credentials_secret_arn: a Secrets Manager secret ARN."
  }

  validation {
    condition     = alltrue([for k, s in var.redshift_delivery_streams : can(regex("^[a-zA-Z0-9_.-]+$", k))])
    error_message = "redshift_delivery_streams: keys are [a-zA-Z0-9_.-]."
  }
}

variable "firehose_kms_key_arn" {
  description = "Customer managed KMS key for server-side encryption of the delivery streams' buffered data; null: an AWS owned key."
  type        = string
  default     = null
}

variable "extra_firehose_delivery_stream_arns" {
  description = "Delivery streams created elsewhere that the pipeline also writes to (e.g. a shared dead-letter stream)."
  type        = list(string)
  default     = []
}

variable "direct_s3_output" {
  description = "The pipeline's direct Parquet output (outputs[].s3): the task role may put objects under bucket_arn/prefix only."
  type = object({
    bucket_arn  = string
    prefix      = string
    kms_key_arn = optional(string)
  })
  default = null
}

# ---------------------------------------------------------------------------
# Scaling by shard count
# ---------------------------------------------------------------------------

variable "initial_desired_count" {
  description = "Desired count at creation. Afterwards the scheduled `shardflow scale` task owns it (Terraform ignores later drift)."
  type        = number
  default     = 1
}

variable "max_shards_per_task" {
  description = "`shardflow scale --max-shards-per-task`: desired count = ceil(open shards / this)."
  type        = number
  default     = 4

  validation {
    condition     = var.max_shards_per_task >= 1
    error_message = "max_shards_per_task: >= 1."
  }
}

variable "min_tasks" {
  description = "`shardflow scale --min`."
  type        = number
  default     = 1
}

variable "max_tasks" {
  description = "`shardflow scale --max`."
  type        = number
  default     = 20
}

variable "scale_interval_minutes" {
  description = "How often EventBridge runs the `shardflow scale` task."
  type        = number
  default     = 5

  validation {
    condition     = var.scale_interval_minutes >= 1 && floor(var.scale_interval_minutes) == var.scale_interval_minutes
    error_message = "scale_interval_minutes: a whole number >= 1."
  }
}

variable "scale_enabled" {
  description = "Whether the EventBridge rule is enabled (false keeps the task and roles but stops scheduling)."
  type        = bool
  default     = true
}
