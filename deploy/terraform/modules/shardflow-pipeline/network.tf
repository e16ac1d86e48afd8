# Security groups. The pipeline tasks reach AWS APIs over HTTPS and Redis on
# its port; the scale task only reaches AWS APIs; Redis accepts the pipeline
# tasks only.

resource "aws_security_group" "task" {
  name        = "shardflow-${var.name}-task"
  description = "shardflow ${var.name}: pipeline tasks"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_egress_rule" "task_https" {
  security_group_id = aws_security_group.task.id
  description       = "AWS APIs (Kinesis, Firehose, DynamoDB, S3, ECR, logs) via NAT or VPC endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "task_redis" {
  security_group_id            = aws_security_group.task.id
  description                  = "ElastiCache Redis (TLS)"
  ip_protocol                  = "tcp"
  from_port                    = aws_elasticache_replication_group.this.port
  to_port                      = aws_elasticache_replication_group.this.port
  referenced_security_group_id = aws_security_group.redis.id
}

resource "aws_vpc_security_group_ingress_rule" "task_ops" {
  for_each = toset(var.ops_ingress_cidr_blocks)

  security_group_id = aws_security_group.task.id
  description       = "ops endpoint (/metrics, /healthz, /readyz)"
  ip_protocol       = "tcp"
  from_port         = var.ops_port
  to_port           = var.ops_port
  cidr_ipv4         = each.value
}

resource "aws_security_group" "scale" {
  name        = "shardflow-${var.name}-scale"
  description = "shardflow ${var.name}: scheduled scale task"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_egress_rule" "scale_https" {
  security_group_id = aws_security_group.scale.id
  description       = "AWS APIs (Kinesis ListShards, ECS UpdateService, ECR, logs, SSM)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_security_group" "redis" {
  name        = "shardflow-${var.name}-redis"
  description = "shardflow ${var.name}: ElastiCache Redis"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_task" {
  security_group_id            = aws_security_group.redis.id
  description                  = "pipeline tasks"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.task.id
}

# ---------------------------------------------------------------------------
# ElastiCache Redis: leases, checkpoints, enrichment, window state
# ---------------------------------------------------------------------------

resource "aws_elasticache_subnet_group" "this" {
  name       = "shardflow-${var.name}"
  subnet_ids = var.subnet_ids
  tags       = local.tags
}

# The AUTH token lives in Secrets Manager. Terraform reads it to configure
# the replication group, which stores it in the state (ElastiCache has no
# write-only token argument): the state backend must be encrypted and
# access-controlled. The tasks get it from Secrets Manager, never from here.
data "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id = var.redis_auth_token_secret_arn
}

# Window state and checkpoints must never be evicted: with the default
# parameter groups (maxmemory-policy volatile-lru) a full Redis silently
# drops keys that carry a TTL. noeviction makes a full Redis refuse writes
# instead; shardflow then retries them and holds the checkpoints (nothing
# is lost) until memory is freed or the node is scaled (docs/runbook.md).
resource "aws_elasticache_parameter_group" "this" {
  count       = var.redis_parameter_group_name == null ? 1 : 0
  name        = "shardflow-${trim(substr(lower(replace(var.name, "/[^a-zA-Z0-9-]+/", "-")), 0, 30), "-")}-noeviction"
  family      = "redis${split(".", var.redis_engine_version)[0]}"
  description = "shardflow ${var.name}: maxmemory-policy noeviction"

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }

  tags = local.tags
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = "shardflow-${trim(substr(lower(replace(var.name, "/[^a-zA-Z0-9-]+/", "-")), 0, 30), "-")}"
  description          = "shardflow ${var.name}: leases, checkpoints, enrichment and window state"

  engine               = "redis"
  engine_version       = var.redis_engine_version
  parameter_group_name = var.redis_parameter_group_name != null ? var.redis_parameter_group_name : aws_elasticache_parameter_group.this[0].name
  node_type            = var.redis_node_type
  port                 = 6379

  num_cache_clusters         = var.redis_num_cache_clusters
  automatic_failover_enabled = var.redis_num_cache_clusters > 1
  multi_az_enabled           = var.redis_num_cache_clusters > 1

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = [aws_security_group.redis.id]

  # rediss:// only: the AUTH token never crosses the network in clear.
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = data.aws_secretsmanager_secret_version.redis_auth.secret_string
  auth_token_update_strategy = "ROTATE"

  at_rest_encryption_enabled = true
  kms_key_id                 = var.redis_kms_key_arn

  snapshot_retention_limit = var.redis_snapshot_retention_days
  apply_immediately        = false

  tags = local.tags
}
