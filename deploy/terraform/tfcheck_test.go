package tfcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	moduleDir  = "modules/shardflow-pipeline"
	exampleDir = "examples/clickstream"
)

// dirs returns every directory under deploy/terraform holding .tf files.
func dirs(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != "." {
			return filepath.SkipDir // .terraform caches
		}
		if !d.IsDir() && strings.HasSuffix(p, ".tf") {
			seen[filepath.Dir(p)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for d := range seen {
		out = append(out, d)
	}
	for _, want := range []string{moduleDir, exampleDir} {
		if !seen[want] {
			t.Fatalf("no .tf files in %s", want)
		}
	}
	return out
}

func report(t *testing.T, probs []Problem) {
	t.Helper()
	for _, p := range probs {
		t.Error(p)
	}
}

// TestTerraform runs every rule over the real module and example.
func TestTerraform(t *testing.T) {
	for _, dir := range dirs(t) {
		t.Run(dir, func(t *testing.T) {
			m, err := LoadModule(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range m.Files {
				report(t, CheckFormat(f))
			}
			report(t, CheckReferences(m))
			report(t, CheckIAM(m))
			report(t, CheckSecrets(m))
			report(t, CheckElastiCache(m))
			report(t, CheckModuleCalls(m, func(src string) (*Module, error) {
				return LoadModule(filepath.Join(dir, src))
			}))
		})
	}
}

// TestModuleShape pins what the module must contain, so a rule that finds
// nothing because the resource vanished does not pass silently.
func TestModuleShape(t *testing.T) {
	m, err := LoadModule(moduleDir)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range m.Files {
		for _, b := range f.Body.Blocks {
			if len(b.Labels) == 2 {
				have[b.Type+"."+b.Labels[0]+"."+b.Labels[1]] = true
			}
		}
	}
	for _, want := range []string{
		"resource.aws_kinesis_stream.this",
		"resource.aws_ecs_service.this",
		"resource.aws_ecs_task_definition.run",
		"resource.aws_ecs_task_definition.scale",
		"resource.aws_elasticache_replication_group.this",
		"resource.aws_kinesis_firehose_delivery_stream.s3",
		"resource.aws_kinesis_firehose_delivery_stream.redshift",
		"resource.aws_glue_catalog_table.parquet",
		"resource.aws_cloudwatch_event_rule.scale",
		"resource.aws_cloudwatch_event_target.scale",
		"resource.aws_cloudwatch_log_group.this",
		"data.aws_iam_policy_document.task",
		"data.aws_iam_policy_document.scale_task",
		"data.aws_iam_policy_document.execution",
	} {
		if !have[want] {
			t.Errorf("module has no %s", want)
		}
	}
	if len(m.Variables()) < 20 || len(m.Locals()) < 10 {
		t.Errorf("suspiciously few variables (%d) or locals (%d)", len(m.Variables()), len(m.Locals()))
	}
}

// Each rule must be able to fail: a small bad snippet per rule.

func mustModule(t *testing.T, src string) *Module {
	t.Helper()
	m, err := ModuleFromSource("bad/main.tf", src)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantProblem(t *testing.T, probs []Problem, substr string) {
	t.Helper()
	for _, p := range probs {
		if strings.Contains(p.String(), substr) {
			return
		}
	}
	t.Errorf("want a problem containing %q, got %v", substr, probs)
}

func TestFormatRejectsUnformatted(t *testing.T) {
	f, err := ParseFile("bad.tf", []byte("variable \"a\" {\n  type = string\n  default    = \"x\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, CheckFormat(f), "not canonically formatted")
	good, _ := ParseFile("good.tf", []byte("variable \"a\" {\n  type    = string\n  default = \"x\"\n}\n"))
	if p := CheckFormat(good); len(p) != 0 {
		t.Errorf("formatted file rejected: %v", p)
	}
}

func TestReferencesRejectUndeclared(t *testing.T) {
	m := mustModule(t, `
variable "declared" {
  type = string
}

locals {
  defined = var.declared
}

resource "aws_sqs_queue" "q" {
  name   = "${var.undeclared}-${local.defined}"
  policy = local.missing[0].json
  tags   = { for k, v in var.also_missing : k => v }
}
`)
	probs := CheckReferences(m)
	wantProblem(t, probs, "var.undeclared is not declared")
	wantProblem(t, probs, "var.also_missing is not declared")
	wantProblem(t, probs, "local.missing is not defined")
	if len(probs) != 3 {
		t.Errorf("want exactly 3 problems, got %v", probs)
	}
}

func TestModuleCallsRejectUnknownAndMissing(t *testing.T) {
	callee := mustModule(t, `
variable "required_one" {
  type = string
}

variable "optional_one" {
  type    = string
  default = "x"
}
`)
	caller := mustModule(t, `
module "p" {
  source       = "../callee"
  optional_one = "y"
  typo_one     = "z"
  depends_on   = []
}
`)
	probs := CheckModuleCalls(caller, func(string) (*Module, error) { return callee, nil })
	wantProblem(t, probs, "typo_one is not a variable")
	wantProblem(t, probs, "required variable required_one is not passed")
	if len(probs) != 2 {
		t.Errorf("want exactly 2 problems (depends_on is a meta-argument), got %v", probs)
	}
}

func TestIAMRejectsStarResources(t *testing.T) {
	m := mustModule(t, `
data "aws_iam_policy_document" "bad" {
  statement {
    sid       = "Wildcard"
    actions   = ["kinesis:GetRecords"]
    resources = ["*"]
  }

  statement {
    sid     = "NoResources"
    actions = ["s3:PutObject"]
  }

  dynamic "statement" {
    for_each = [1]
    content {
      sid       = "DynamicWildcard"
      actions   = ["firehose:PutRecordBatch"]
      resources = ["*"]
    }
  }

  statement {
    sid       = "MetricsUnconditioned"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "ok" {
  statement {
    sid       = "Token"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "Scoped"
    actions   = ["kinesis:ListShards"]
    resources = [var.stream_arn]
  }

  statement {
    sid     = "Trust"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}
`)
	probs := CheckIAM(m)
	wantProblem(t, probs, `Wildcard: resource "*" for kinesis:GetRecords`)
	wantProblem(t, probs, "NoResources: no resources")
	wantProblem(t, probs, `DynamicWildcard: resource "*" for firehose:PutRecordBatch`)
	wantProblem(t, probs, "MetricsUnconditioned: cloudwatch:PutMetricData without a namespace condition")
	if len(probs) != 4 {
		t.Errorf("want exactly 4 problems (the ok document is fine), got %v", probs)
	}
}

func TestSecretsRejectLiterals(t *testing.T) {
	m := mustModule(t, `
variable "db_password" {
  type    = string
  default = "hunter2hunter2"
}

resource "aws_elasticache_replication_group" "r" {
  auth_token = "0123456789abcdef0123"
}

locals {
  env = {
    API_TOKEN = "abc"
  }
  containers = [{ name = "REDIS_AUTH_TOKEN", value = "s3cr3t-s3cr3t" }]
  url        = "rediss://:hunter2@redis.internal:6379/0"
  key        = "AKIAABCDEFGHIJKLMNOP"

  fine = {
    secret_arn         = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x"
    auth_token         = data.aws_secretsmanager_secret_version.t.secret_string
    templated_url      = "rediss://:${var.t}@${var.h}/0"
    empty_token        = ""
    update_strategy    = "ROTATE"
    SHARDFLOW_REDIS_ADDR = "h:6379"
  }
}
`)
	probs := CheckSecrets(m)
	for _, want := range []string{
		"variable db_password has a literal default",
		"auth_token is a literal",
		"API_TOKEN is a literal",
		"REDIS_AUTH_TOKEN is set to a literal",
		"URL with a literal password",
		"literal AWS access key id",
	} {
		wantProblem(t, probs, want)
	}
	if len(probs) != 6 {
		t.Errorf("want exactly 6 problems (the fine block is fine), got %v", probs)
	}
}

func TestElastiCacheRejectsPlaintext(t *testing.T) {
	m := mustModule(t, `
resource "aws_elasticache_replication_group" "off" {
  transit_encryption_enabled = false
  auth_token                 = data.aws_secretsmanager_secret_version.t.secret_string
}

resource "aws_elasticache_replication_group" "missing" {
}

resource "aws_elasticache_replication_group" "variable" {
  transit_encryption_enabled = var.tls
  auth_token                 = "literal-token-literal"
}

resource "aws_elasticache_replication_group" "good" {
  transit_encryption_enabled = true
  auth_token                 = data.aws_secretsmanager_secret_version.t.secret_string
}
`)
	probs := CheckElastiCache(m)
	wantProblem(t, probs, "off: transit_encryption_enabled must be the literal true")
	wantProblem(t, probs, "missing: transit_encryption_enabled must be the literal true")
	wantProblem(t, probs, "missing: no auth_token")
	wantProblem(t, probs, "variable: transit_encryption_enabled must be the literal true")
	wantProblem(t, probs, "variable: auth_token must come from Secrets Manager")
	if len(probs) != 5 {
		t.Errorf("want exactly 5 problems (good is fine), got %v", probs)
	}
}
