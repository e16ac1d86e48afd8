variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "VPC with private subnets that reach the AWS APIs (NAT or VPC endpoints)."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets in at least two AZs."
  type        = list(string)
}

variable "container_image" {
  description = "shardflow image built by `make image` and pushed to ECR, pinned by digest (…/shardflow@sha256:…)."
  type        = string
}

variable "redis_auth_token_secret_arn" {
  description = "Secrets Manager secret holding the Redis AUTH token (see README: created with the CLI, never in Terraform code)."
  type        = string
}

variable "redshift_jdbc_url" {
  description = "JDBC URL of the Redshift cluster, e.g. jdbc:redshift://analytics.abc123.eu-west-1.redshift.amazonaws.com:5439/analytics."
  type        = string
}

variable "redshift_credentials_secret_arn" {
  description = "Secrets Manager secret with {\"username\":…,\"password\":…} of the Redshift user Firehose loads with."
  type        = string
}

variable "prometheus_cidr_blocks" {
  description = "Where the Prometheus scraper runs (ops port 9090)."
  type        = list(string)
  default     = []
}

variable "alarm_topic_arns" {
  description = "SNS topics the alarms of alarms.tf notify (empty: alarms without actions, visible in the console)."
  type        = list(string)
  default     = []
}
