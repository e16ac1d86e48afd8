# Task definitions, the pipeline service and the scheduled scale task.
#
# The image is distroless (no shell) and reads its pipeline file from
# /etc/shardflow/pipeline.yaml. With pipeline_config_source "ssm" or "env" a
# short-lived init container writes that file from an environment variable
# into a task-local volume, and shardflow starts once it exited 0.

locals {
  write_config = var.pipeline_config_source != "image"

  log_options = {
    "awslogs-group"         = aws_cloudwatch_log_group.this.name
    "awslogs-region"        = local.region
    "awslogs-stream-prefix" = "shardflow"
  }

  # init container writing `yaml_env` to the shared volume.
  config_init = {
    run = {
      name                   = "config"
      image                  = var.config_init_image
      essential              = false
      readonlyRootFilesystem = true
      entryPoint             = ["sh", "-c"]
      command                = ["umask 022 && printf '%s\\n' \"$SHARDFLOW_PIPELINE_YAML\" > ${local.config_path}"]
      mountPoints            = [{ sourceVolume = "config", containerPath = local.config_dir, readOnly = false }]
      environment            = var.pipeline_config_source == "env" ? [{ name = "SHARDFLOW_PIPELINE_YAML", value = var.pipeline_yaml }] : []
      secrets                = var.pipeline_config_source == "ssm" ? [{ name = "SHARDFLOW_PIPELINE_YAML", valueFrom = one(aws_ssm_parameter.pipeline[*].arn) }] : []
      logConfiguration       = { logDriver = "awslogs", options = merge(local.log_options, { "awslogs-stream-prefix" = "config" }) }
    }
    scale = {
      name                   = "config"
      image                  = var.config_init_image
      essential              = false
      readonlyRootFilesystem = true
      entryPoint             = ["sh", "-c"]
      command                = ["umask 022 && printf '%s\\n' \"$SHARDFLOW_PIPELINE_YAML\" > ${local.config_path}"]
      mountPoints            = [{ sourceVolume = "config", containerPath = local.config_dir, readOnly = false }]
      environment            = var.pipeline_config_source == "env" ? [{ name = "SHARDFLOW_PIPELINE_YAML", value = local.scale_pipeline_yaml }] : []
      secrets                = var.pipeline_config_source == "ssm" ? [{ name = "SHARDFLOW_PIPELINE_YAML", valueFrom = one(aws_ssm_parameter.scale_pipeline[*].arn) }] : []
      logConfiguration       = { logDriver = "awslogs", options = merge(local.log_options, { "awslogs-stream-prefix" = "scale-config" }) }
    }
  }

  shardflow_container = {
    name                   = "shardflow"
    image                  = var.container_image
    essential              = true
    readonlyRootFilesystem = true
    command                = ["run", "-c", local.config_path, "--log-format", "json"]
    portMappings           = [{ containerPort = var.ops_port, protocol = "tcp", name = "ops" }]
    environment            = [for k in sort(keys(local.base_environment)) : { name = k, value = local.base_environment[k] }]
    # Secrets Manager ARNs only; ECS resolves them at start with the
    # execution role. Their values never appear in the task definition.
    secrets          = [for k in sort(keys(local.task_secrets)) : { name = k, valueFrom = local.task_secrets[k] }]
    mountPoints      = local.write_config ? [{ sourceVolume = "config", containerPath = local.config_dir, readOnly = true }] : []
    dependsOn        = local.write_config ? [{ containerName = "config", condition = "SUCCESS" }] : []
    stopTimeout      = var.stop_timeout_seconds
    logConfiguration = { logDriver = "awslogs", options = local.log_options }
    # /healthz turns 503 when an output gave up (its shards' checkpoints are
    # held until a restart): ECS then replaces the task, which replays from
    # the checkpoints. The image has no shell or curl; the binary probes.
    healthCheck = {
      command     = ["CMD", "/usr/local/bin/shardflow", "healthcheck", "--addr", "127.0.0.1:${var.ops_port}"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }
  }

  scale_command = [
    "scale", "-c", local.config_path,
    "--max-shards-per-task", tostring(var.max_shards_per_task),
    "--min", tostring(var.min_tasks),
    "--max", tostring(var.max_tasks),
    "--cluster", local.cluster_arn,
    "--service", aws_ecs_service.this.name,
  ]

  scale_container = {
    name                   = "scale"
    image                  = var.container_image
    essential              = true
    readonlyRootFilesystem = true
    command                = local.scale_command
    environment            = [for k in sort(keys(local.base_environment)) : { name = k, value = local.base_environment[k] }]
    mountPoints            = local.write_config ? [{ sourceVolume = "config", containerPath = local.config_dir, readOnly = true }] : []
    dependsOn              = local.write_config ? [{ containerName = "config", condition = "SUCCESS" }] : []
    logConfiguration       = { logDriver = "awslogs", options = merge(local.log_options, { "awslogs-stream-prefix" = "scale" }) }
  }
}

resource "aws_ecs_task_definition" "run" {
  family                   = "shardflow-${var.name}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = aws_iam_role.execution.arn

  container_definitions = jsonencode(concat(
    local.write_config ? [local.config_init.run] : [],
    [local.shardflow_container],
  ))

  dynamic "volume" {
    for_each = local.write_config ? [1] : []
    content {
      name = "config"
    }
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.pipeline_config_source == "image" || var.pipeline_yaml != null
      error_message = "pipeline_yaml is required unless pipeline_config_source = \"image\"."
    }
  }
}

resource "aws_ecs_service" "this" {
  name            = "shardflow-${var.name}"
  cluster         = local.cluster_arn
  task_definition = aws_ecs_task_definition.run.arn
  launch_type     = "FARGATE"
  desired_count   = var.initial_desired_count

  # New tasks start before old ones stop; an old task drains on SIGTERM
  # (checkpoint, release leases) and the new ones take its shards over.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = false
  }

  propagate_tags = "SERVICE"
  tags           = local.tags

  lifecycle {
    # The scheduled `shardflow scale` task owns the desired count.
    ignore_changes = [desired_count]
  }
}

resource "aws_ecs_task_definition" "scale" {
  family                   = "shardflow-${var.name}-scale"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  task_role_arn            = aws_iam_role.scale_task.arn
  execution_role_arn       = aws_iam_role.scale_execution.arn

  container_definitions = jsonencode(concat(
    local.write_config ? [local.config_init.scale] : [],
    [local.scale_container],
  ))

  dynamic "volume" {
    for_each = local.write_config ? [1] : []
    content {
      name = "config"
    }
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  tags = local.tags
}

resource "aws_cloudwatch_event_rule" "scale" {
  name                = "shardflow-${var.name}-scale"
  description         = "shardflow ${var.name}: ECS desired count = ceil(open shards / ${var.max_shards_per_task})"
  schedule_expression = var.scale_interval_minutes == 1 ? "rate(1 minute)" : "rate(${var.scale_interval_minutes} minutes)"
  state               = var.scale_enabled ? "ENABLED" : "DISABLED"
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "scale" {
  rule      = aws_cloudwatch_event_rule.scale.name
  target_id = "shardflow-scale"
  arn       = local.cluster_arn
  role_arn  = aws_iam_role.events.arn

  ecs_target {
    task_definition_arn = aws_ecs_task_definition.scale.arn
    task_count          = 1
    launch_type         = "FARGATE"

    network_configuration {
      subnets          = var.subnet_ids
      security_groups  = [aws_security_group.scale.id]
      assign_public_ip = false
    }
  }

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 60 * var.scale_interval_minutes
  }
}
