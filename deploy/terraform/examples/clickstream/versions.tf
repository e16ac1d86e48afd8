terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }

  # Keep the state in an encrypted, access-controlled backend: it holds the
  # Redis AUTH token (see ../../README.md, "Secrets").
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "shardflow/clickstream.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project = "shardflow"
      example = "clickstream"
    }
  }
}
