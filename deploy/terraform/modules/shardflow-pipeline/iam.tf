# Least-privilege IAM. Every statement names its resources; the only "*"
# resources are actions AWS does not scope to a resource:
#   - ecr:GetAuthorizationToken (account-wide registry token)
#   - cloudwatch:PutMetricData (no resource type; scoped by the
#     cloudwatch:namespace condition instead)

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    sid     = "EcsTasks"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    # Only tasks of this account may assume the roles (confused deputy).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account}:*"]
    }
  }
}

# ---------------------------------------------------------------------------
# Pipeline task role: what shardflow run does
# ---------------------------------------------------------------------------

resource "aws_iam_role" "task" {
  name               = "shardflow-${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "task" {
  # The KCL polls: ListShards, GetShardIterator, GetRecords; the shard graph
  # (resharding order) lists shards too. DescribeStream(Summary) for the
  # stream's status.
  statement {
    sid = "ReadStream"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = [local.stream_arn]
  }

  dynamic "statement" {
    for_each = var.kinesis_kms_key_arn == null ? [] : [var.kinesis_kms_key_arn]
    content {
      sid       = "DecryptStream"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["kinesis.${local.region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(local.delivery_stream_arns) == 0 ? [] : [1]
    content {
      sid       = "WriteDeliveryStreams"
      actions   = ["firehose:PutRecord", "firehose:PutRecordBatch"]
      resources = local.delivery_stream_arns
    }
  }

  # shardflow's lease store creates the table if missing (CreateTable answers
  # ResourceInUse here, since Terraform created it) and the KCL's
  # checkpointer scans, reads, writes and deletes lease items.
  dynamic "statement" {
    for_each = local.use_dynamodb ? [1] : []
    content {
      sid = "LeaseTable"
      actions = [
        "dynamodb:CreateTable",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
      ]
      resources = [one(aws_dynamodb_table.leases[*].arn)]
    }
  }

  dynamic "statement" {
    for_each = var.cloudwatch_metrics_namespace == null ? [] : [var.cloudwatch_metrics_namespace]
    content {
      sid       = "PutMetricsInNamespace"
      actions   = ["cloudwatch:PutMetricData"]
      resources = ["*"] # PutMetricData has no resource type; the condition scopes it

      condition {
        test     = "StringEquals"
        variable = "cloudwatch:namespace"
        values   = [statement.value]
      }
    }
  }

  # The direct Parquet output (outputs[].s3): single and multipart uploads.
  dynamic "statement" {
    for_each = var.direct_s3_output == null ? [] : [var.direct_s3_output]
    content {
      sid       = "DirectParquetOutput"
      actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
      resources = ["${statement.value.bucket_arn}/${statement.value.prefix}*"]
    }
  }

  dynamic "statement" {
    for_each = try(var.direct_s3_output.kms_key_arn, null) == null ? [] : [var.direct_s3_output.kms_key_arn]
    content {
      sid       = "DirectParquetOutputKms"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "shardflow"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# ---------------------------------------------------------------------------
# Pipeline execution role: what ECS does to start the task (pull the image,
# write logs, resolve `secrets`)
# ---------------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  name               = "shardflow-${var.name}-exec"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "execution" {
  source_policy_documents = [data.aws_iam_policy_document.pull_and_log.json]

  statement {
    sid       = "ReadNamedSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.task_secret_arns
  }

  dynamic "statement" {
    for_each = length(var.secrets_kms_key_arns) == 0 ? [] : [1]
    content {
      sid       = "DecryptNamedSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.secrets_kms_key_arns

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.pipeline_config_source == "ssm" ? [1] : []
    content {
      sid       = "ReadPipelineParameter"
      actions   = ["ssm:GetParameters"]
      resources = [one(aws_ssm_parameter.pipeline[*].arn)]
    }
  }
}

# Image pull and log writing, shared by both execution roles.
data "aws_iam_policy_document" "pull_and_log" {
  dynamic "statement" {
    for_each = local.ecr_repository_arn == null ? [] : [1]
    content {
      sid       = "EcrToken"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"] # registry-wide token; no resource type
    }
  }

  dynamic "statement" {
    for_each = local.ecr_repository_arn == null ? [] : [local.ecr_repository_arn]
    content {
      sid       = "EcrPullImage"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "WriteTaskLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "ecs-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# ---------------------------------------------------------------------------
# Scale task: `shardflow scale` lists the stream's shards and sets the
# service's desired count. Its own task and execution roles: it reads no
# secrets.
# ---------------------------------------------------------------------------

resource "aws_iam_role" "scale_task" {
  name               = "shardflow-${var.name}-scale"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "scale_task" {
  statement {
    sid       = "ListShards"
    actions   = ["kinesis:ListShards"]
    resources = [local.stream_arn]
  }

  statement {
    sid       = "ScaleService"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = [aws_ecs_service.this.arn]
  }
}

resource "aws_iam_role_policy" "scale_task" {
  name   = "shardflow-scale"
  role   = aws_iam_role.scale_task.id
  policy = data.aws_iam_policy_document.scale_task.json
}

resource "aws_iam_role" "scale_execution" {
  name               = "shardflow-${var.name}-scale-exec"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "scale_execution" {
  source_policy_documents = [data.aws_iam_policy_document.pull_and_log.json]

  dynamic "statement" {
    for_each = var.pipeline_config_source == "ssm" ? [1] : []
    content {
      sid       = "ReadScalePipelineParameter"
      actions   = ["ssm:GetParameters"]
      resources = [one(aws_ssm_parameter.scale_pipeline[*].arn)]
    }
  }
}

resource "aws_iam_role_policy" "scale_execution" {
  name   = "ecs-execution"
  role   = aws_iam_role.scale_execution.id
  policy = data.aws_iam_policy_document.scale_execution.json
}

# EventBridge runs the scale task: RunTask of that task definition, in this
# cluster only, and PassRole of its two roles to ECS only.
data "aws_iam_policy_document" "events_assume" {
  statement {
    sid     = "EventBridge"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "events" {
  name               = "shardflow-${var.name}-scale-events"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "RunScaleTask"
    actions   = ["ecs:RunTask"]
    resources = ["${aws_ecs_task_definition.scale.arn_without_revision}:*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }

  statement {
    sid       = "PassScaleRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.scale_task.arn, aws_iam_role.scale_execution.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "events" {
  name   = "run-scale-task"
  role   = aws_iam_role.events.id
  policy = data.aws_iam_policy_document.events.json
}
