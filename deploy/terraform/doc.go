// Package tfcheck checks the Terraform under deploy/terraform without a
// terraform binary or provider schemas: it parses every .tf file with
// hashicorp/hcl/v2 and enforces rules that catch real mistakes before an
// apply does — canonical formatting (what `terraform fmt` writes), every
// var.x and local.x declared, module calls that pass only declared
// variables and every required one, IAM policy documents without "*"
// resources except for the actions AWS cannot scope, no secret-looking
// literals, and TLS on ElastiCache replication groups.
//
// It owns no Terraform semantics beyond syntax: it never evaluates
// expressions against provider schemas, never talks to AWS and never
// rewrites a file. Its tests run the checks on the real module and example
// and, per rule, on a small bad snippet that the rule must reject.
package tfcheck
