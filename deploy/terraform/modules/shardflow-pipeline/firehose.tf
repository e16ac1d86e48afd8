# Firehose delivery streams: to S3 (GZIP, or Parquet through record format
# conversion with a Glue table) and to Redshift (COPY from a GZIP staging
# prefix, optional S3 backup of every source record). One IAM role per
# delivery stream, limited to its buckets, keys, log stream, Glue table and
# Redshift credentials secret.

locals {
  fh_log_group = one(aws_cloudwatch_log_group.firehose[*].name)

  # Everything a delivery stream's role may touch, keyed like its role. Both
  # kinds have the same attribute types (compact() gives list(string)), so
  # the merge is a map.
  firehose_access = merge(
    {
      for k, s in var.s3_delivery_streams : "s3-${k}" => {
        log_stream   = "s3-${k}"
        buckets      = [s.bucket_arn]
        kms_keys     = compact([s.kms_key_arn])
        glue_db      = s.format == "parquet" ? s.glue_database_name : null
        glue_table   = s.format == "parquet" ? s.glue_table_name : null
        secrets      = compact([])
        secrets_keys = compact([])
      }
    },
    {
      for k, s in var.redshift_delivery_streams : "redshift-${k}" => {
        log_stream   = "redshift-${k}"
        buckets      = distinct(compact([s.intermediate_bucket_arn, s.backup_bucket_arn]))
        kms_keys     = compact([s.kms_key_arn])
        glue_db      = null
        glue_table   = null
        secrets      = [join(":", slice(split(":", s.credentials_secret_arn), 0, 7))]
        secrets_keys = compact(s.credentials_kms_key_arns)
      }
    },
  )

  sse_key_type = var.firehose_kms_key_arn == null ? "AWS_OWNED_CMK" : "CUSTOMER_MANAGED_CMK"

  # Parquet streams whose Glue table the module creates, from the same
  # TableInput file firehose-local reads. The table's location is the
  # stream's prefix up to its first expression (and last '/').
  glue_tables = {
    for k, s in var.s3_delivery_streams : k => {
      database = s.glue_database_name
      name     = s.glue_table_name
      table    = jsondecode(file(s.glue_table_file))
      location = "s3://${element(split(":::", s.bucket_arn), 1)}/${replace(regex("^[^!]*", coalesce(s.prefix, "${k}/")), "/[^/]*$/", "")}"
    } if s.format == "parquet" && s.glue_table_file != null
  }
}

resource "aws_glue_catalog_table" "parquet" {
  for_each      = local.glue_tables
  database_name = each.value.database
  name          = each.value.name
  description   = try(each.value.table.Description, null)
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    classification = "parquet"
    EXTERNAL       = "TRUE"
  }

  dynamic "partition_keys" {
    for_each = try(each.value.table.PartitionKeys, [])
    content {
      name = lower(partition_keys.value.Name)
      type = partition_keys.value.Type
    }
  }

  storage_descriptor {
    location      = each.value.location
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }

    dynamic "columns" {
      for_each = each.value.table.StorageDescriptor.Columns
      content {
        name = lower(columns.value.Name)
        type = columns.value.Type
      }
    }
  }
}

resource "aws_cloudwatch_log_stream" "firehose" {
  for_each       = local.firehose_access
  name           = each.value.log_stream
  log_group_name = local.fh_log_group
}

data "aws_iam_policy_document" "firehose_assume" {
  statement {
    sid     = "Firehose"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "firehose" {
  for_each           = local.firehose_access
  name               = substr("shardflow-${var.name}-fh-${each.key}", 0, 64)
  assume_role_policy = data.aws_iam_policy_document.firehose_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "firehose" {
  for_each = local.firehose_access

  statement {
    sid = "Buckets"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:GetBucketLocation",
      "s3:GetObject",
      "s3:ListBucket",
      "s3:ListBucketMultipartUploads",
      "s3:PutObject",
    ]
    resources = flatten([for b in each.value.buckets : [b, "${b}/*"]])
  }

  dynamic "statement" {
    for_each = length(each.value.kms_keys) == 0 ? [] : [1]
    content {
      sid       = "BucketKeys"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = each.value.kms_keys

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "ErrorLogs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${one(aws_cloudwatch_log_group.firehose[*].arn)}:log-stream:${each.value.log_stream}"]
  }

  dynamic "statement" {
    for_each = each.value.glue_table == null ? [] : [1]
    content {
      sid     = "GlueSchema"
      actions = ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"]
      resources = [
        "arn:${local.partition}:glue:${local.region}:${local.account}:catalog",
        "arn:${local.partition}:glue:${local.region}:${local.account}:database/${each.value.glue_db}",
        "arn:${local.partition}:glue:${local.region}:${local.account}:table/${each.value.glue_db}/${each.value.glue_table}",
      ]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.secrets) == 0 ? [] : [1]
    content {
      sid       = "RedshiftCredentials"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = each.value.secrets
    }
  }

  dynamic "statement" {
    for_each = length(each.value.secrets_keys) == 0 ? [] : [1]
    content {
      sid       = "RedshiftCredentialsKey"
      actions   = ["kms:Decrypt"]
      resources = each.value.secrets_keys

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "firehose" {
  for_each = local.firehose_access
  name     = "firehose-delivery"
  role     = aws_iam_role.firehose[each.key].id
  policy   = data.aws_iam_policy_document.firehose[each.key].json
}

resource "aws_kinesis_firehose_delivery_stream" "s3" {
  for_each    = var.s3_delivery_streams
  name        = "${var.name}-${each.key}"
  destination = "extended_s3"

  server_side_encryption {
    enabled  = true
    key_type = local.sse_key_type
    key_arn  = var.firehose_kms_key_arn
  }

  extended_s3_configuration {
    role_arn   = aws_iam_role.firehose["s3-${each.key}"].arn
    bucket_arn = each.value.bucket_arn
    # Hive-style partitions by arrival time (Athena/Glue partition projection).
    prefix              = coalesce(each.value.prefix, "${each.key}/dt=!{timestamp:yyyy-MM-dd}/hr=!{timestamp:HH}/")
    error_output_prefix = coalesce(each.value.error_output_prefix, "errors/${each.key}/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/")
    kms_key_arn         = each.value.kms_key_arn
    buffering_size      = each.value.buffering_size_mb
    buffering_interval  = each.value.buffering_interval_seconds
    # Parquet pages are compressed by the serializer; Firehose must not
    # compress the files again.
    compression_format = each.value.format == "parquet" ? "UNCOMPRESSED" : "GZIP"
    file_extension     = each.value.format == "parquet" ? ".parquet" : null

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = local.fh_log_group
      log_stream_name = aws_cloudwatch_log_stream.firehose["s3-${each.key}"].name
    }

    dynamic "data_format_conversion_configuration" {
      for_each = each.value.format == "parquet" ? [each.value] : []
      content {
        enabled = true

        # shardflow packs many NDJSON rows into one Firehose record;
        # concatenated JSON objects are valid input to the deserializer.
        input_format_configuration {
          deserializer {
            open_x_json_ser_de {}
          }
        }

        output_format_configuration {
          serializer {
            parquet_ser_de {
              compression = "SNAPPY"
            }
          }
        }

        schema_configuration {
          database_name = data_format_conversion_configuration.value.glue_database_name
          table_name    = try(aws_glue_catalog_table.parquet[each.key].name, data_format_conversion_configuration.value.glue_table_name)
          role_arn      = aws_iam_role.firehose["s3-${each.key}"].arn
        }
      }
    }
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.firehose]
}

resource "aws_kinesis_firehose_delivery_stream" "redshift" {
  for_each    = var.redshift_delivery_streams
  name        = "${var.name}-${each.key}"
  destination = "redshift"

  server_side_encryption {
    enabled  = true
    key_type = local.sse_key_type
    key_arn  = var.firehose_kms_key_arn
  }

  redshift_configuration {
    role_arn           = aws_iam_role.firehose["redshift-${each.key}"].arn
    cluster_jdbcurl    = each.value.cluster_jdbc_url
    data_table_name    = each.value.table
    data_table_columns = each.value.columns
    copy_options       = each.value.copy_options
    retry_duration     = each.value.retry_duration_seconds

    # Credentials from Secrets Manager: no username or password in Terraform.
    secrets_manager_configuration {
      enabled    = true
      secret_arn = each.value.credentials_secret_arn
      role_arn   = aws_iam_role.firehose["redshift-${each.key}"].arn
    }

    # Staging files COPY reads: GZIP, so copy_options must say GZIP.
    s3_configuration {
      role_arn            = aws_iam_role.firehose["redshift-${each.key}"].arn
      bucket_arn          = each.value.intermediate_bucket_arn
      prefix              = coalesce(each.value.intermediate_prefix, "redshift-staging/${each.key}/")
      error_output_prefix = "redshift-staging-errors/${each.key}/"
      compression_format  = "GZIP"
      kms_key_arn         = each.value.kms_key_arn
      buffering_size      = each.value.buffering_size_mb
      buffering_interval  = each.value.buffering_interval_sec
    }

    s3_backup_mode = each.value.backup_bucket_arn == null ? "Disabled" : "Enabled"

    dynamic "s3_backup_configuration" {
      for_each = each.value.backup_bucket_arn == null ? [] : [each.value]
      content {
        role_arn            = aws_iam_role.firehose["redshift-${each.key}"].arn
        bucket_arn          = s3_backup_configuration.value.backup_bucket_arn
        prefix              = coalesce(s3_backup_configuration.value.backup_prefix, "redshift-backup/${each.key}/dt=!{timestamp:yyyy-MM-dd}/")
        error_output_prefix = "redshift-backup-errors/${each.key}/!{firehose:error-output-type}/"
        compression_format  = "GZIP"
        kms_key_arn         = s3_backup_configuration.value.kms_key_arn
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = local.fh_log_group
      log_stream_name = aws_cloudwatch_log_stream.firehose["redshift-${each.key}"].name
    }
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.firehose]
}
