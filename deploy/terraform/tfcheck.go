package tfcheck

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Problem is one rule violation, located in a file.
type Problem struct {
	File string
	Pos  hcl.Pos
	Rule string
	Msg  string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Pos.Line, p.Rule, p.Msg)
}

// File is one parsed .tf file.
type File struct {
	Name string
	Src  []byte
	Body *hclsyntax.Body
}

// Module is the .tf files of one directory.
type Module struct {
	Dir   string
	Files []*File
}

// ParseFile parses src as HCL native syntax.
func ParseFile(name string, src []byte) (*File, error) {
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, fmt.Errorf("tfcheck: %w", diags)
	}
	return &File{Name: name, Src: src, Body: f.Body.(*hclsyntax.Body)}, nil
}

// LoadModule parses every .tf file directly in dir.
func LoadModule(dir string) (*Module, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("tfcheck: no .tf files in %s", dir)
	}
	sort.Strings(names)
	m := &Module{Dir: dir}
	for _, n := range names {
		src, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		f, err := ParseFile(n, src)
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, f)
	}
	return m, nil
}

// ModuleFromSource builds a one-file module from src (for tests).
func ModuleFromSource(name, src string) (*Module, error) {
	f, err := ParseFile(name, []byte(src))
	if err != nil {
		return nil, err
	}
	return &Module{Dir: filepath.Dir(name), Files: []*File{f}}, nil
}

// CheckFormat reports a file that `terraform fmt` would change
// (hclwrite.Format is the formatter terraform fmt is built on).
func CheckFormat(f *File) []Problem {
	if out := hclwrite.Format(f.Src); !bytes.Equal(out, f.Src) {
		return []Problem{{File: f.Name, Pos: hcl.InitialPos, Rule: "format", Msg: "not canonically formatted (run terraform fmt)"}}
	}
	return nil
}

// blocks returns the top-level blocks of type typ across the module.
func (m *Module) blocks(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, f := range m.Files {
		for _, b := range f.Body.Blocks {
			if b.Type == typ {
				out = append(out, b)
			}
		}
	}
	return out
}

// Variables maps each declared variable to whether it is required (no default).
func (m *Module) Variables() map[string]bool {
	vars := map[string]bool{}
	for _, b := range m.blocks("variable") {
		_, hasDefault := b.Body.Attributes["default"]
		vars[b.Labels[0]] = !hasDefault
	}
	return vars
}

// Locals returns every name defined in a locals block.
func (m *Module) Locals() map[string]bool {
	locals := map[string]bool{}
	for _, b := range m.blocks("locals") {
		for name := range b.Body.Attributes {
			locals[name] = true
		}
	}
	return locals
}

// CheckReferences reports var.x not declared as a variable and local.x not
// defined in a locals block of the module.
func CheckReferences(m *Module) []Problem {
	vars, locals := m.Variables(), m.Locals()
	var probs []Problem
	for _, f := range m.Files {
		hclsyntax.VisitAll(f.Body, func(n hclsyntax.Node) hcl.Diagnostics {
			e, ok := n.(*hclsyntax.ScopeTraversalExpr)
			if !ok || len(e.Traversal) < 2 {
				return nil
			}
			attr, ok := e.Traversal[1].(hcl.TraverseAttr)
			if !ok {
				return nil
			}
			switch e.Traversal.RootName() {
			case "var":
				if _, ok := vars[attr.Name]; !ok {
					probs = append(probs, Problem{f.Name, e.SrcRange.Start, "references", "var." + attr.Name + " is not declared"})
				}
			case "local":
				if !locals[attr.Name] {
					probs = append(probs, Problem{f.Name, e.SrcRange.Start, "references", "local." + attr.Name + " is not defined"})
				}
			}
			return nil
		})
	}
	return probs
}

var moduleMetaArgs = map[string]bool{"source": true, "version": true, "providers": true, "count": true, "for_each": true, "depends_on": true}

// CheckModuleCalls reports, for every module block of m whose source is a
// local path, arguments the called module does not declare and required
// variables that are not passed. load resolves a source to the module.
func CheckModuleCalls(m *Module, load func(source string) (*Module, error)) []Problem {
	var probs []Problem
	for _, f := range m.Files {
		for _, b := range f.Body.Blocks {
			if b.Type != "module" {
				continue
			}
			src, ok := literalString(b.Body.Attributes["source"])
			if !ok || !(strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../")) {
				continue
			}
			callee, err := load(src)
			if err != nil {
				probs = append(probs, Problem{f.Name, b.DefRange().Start, "module-call", fmt.Sprintf("module %q: %v", b.Labels[0], err)})
				continue
			}
			vars := callee.Variables()
			for name, a := range b.Body.Attributes {
				if _, declared := vars[name]; !declared && !moduleMetaArgs[name] {
					probs = append(probs, Problem{f.Name, a.SrcRange.Start, "module-call", fmt.Sprintf("module %q: %s is not a variable of %s", b.Labels[0], name, src)})
				}
			}
			for name, required := range vars {
				if _, passed := b.Body.Attributes[name]; required && !passed {
					probs = append(probs, Problem{f.Name, b.DefRange().Start, "module-call", fmt.Sprintf("module %q: required variable %s is not passed", b.Labels[0], name)})
				}
			}
		}
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].Msg < probs[j].Msg })
	return probs
}

// StarResourceActions are the actions that AWS does not scope to a
// resource, so a "*" resource is the only possible one:
//   - ecr:GetAuthorizationToken returns a registry-wide token;
//   - cloudwatch:PutMetricData has no resource type (scope it with the
//     cloudwatch:namespace condition, which CheckIAM requires).
var StarResourceActions = map[string]bool{
	"ecr:GetAuthorizationToken": true,
	"cloudwatch:PutMetricData":  true,
}

// CheckIAM reports aws_iam_policy_document statements (plain or dynamic)
// whose resources are "*" or absent, unless every action is in
// StarResourceActions and the statement carries a condition. Trust
// policies (statements with principals) have no resources and are skipped.
func CheckIAM(m *Module) []Problem {
	var probs []Problem
	for _, f := range m.Files {
		for _, b := range f.Body.Blocks {
			if b.Type != "data" || len(b.Labels) < 2 || b.Labels[0] != "aws_iam_policy_document" {
				continue
			}
			for _, st := range statements(b.Body) {
				if hasBlock(st, "principals") || hasBlock(st, "not_principals") {
					continue
				}
				where := fmt.Sprintf("%s statement %s", b.Labels[1], statementID(st))
				res, ok := st.Attributes["resources"]
				if !ok {
					if _, ok := st.Attributes["not_resources"]; !ok {
						probs = append(probs, Problem{f.Name, st.SrcRange.Start, "iam", where + ": no resources (means every resource)"})
					}
					continue
				}
				if !listHasLiteral(res.Expr, "*") {
					continue
				}
				actions, ok := literalStrings(st.Attributes["actions"])
				if !ok {
					probs = append(probs, Problem{f.Name, res.SrcRange.Start, "iam", where + `: resource "*" with actions that are not literal`})
					continue
				}
				for _, a := range actions {
					if !StarResourceActions[a] {
						probs = append(probs, Problem{f.Name, res.SrcRange.Start, "iam", fmt.Sprintf(`%s: resource "*" for %s, which AWS scopes to resources`, where, a)})
					}
				}
				if slicesContain(actions, "cloudwatch:PutMetricData") && !hasBlock(st, "condition") {
					probs = append(probs, Problem{f.Name, res.SrcRange.Start, "iam", where + ": cloudwatch:PutMetricData without a namespace condition"})
				}
			}
		}
	}
	return probs
}

// statements returns the bodies of statement blocks and of the content of
// dynamic "statement" blocks.
func statements(body *hclsyntax.Body) []*hclsyntax.Body {
	var out []*hclsyntax.Body
	for _, b := range body.Blocks {
		switch {
		case b.Type == "statement":
			out = append(out, b.Body)
		case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == "statement":
			for _, c := range b.Body.Blocks {
				if c.Type == "content" {
					out = append(out, c.Body)
				}
			}
		}
	}
	return out
}

func statementID(st *hclsyntax.Body) string {
	if sid, ok := literalString(st.Attributes["sid"]); ok {
		return sid
	}
	return fmt.Sprintf("at line %d", st.SrcRange.Start.Line)
}

func hasBlock(body *hclsyntax.Body, typ string) bool {
	for _, b := range body.Blocks {
		if b.Type == typ || (b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == typ) {
			return true
		}
	}
	return false
}

// secretName matches names whose value is a credential; names ending in
// _arn, _id, _strategy ... (a reference to a secret) do not match.
var secretName = regexp.MustCompile(`(?i)(^|_)(password|passwd|auth_token|token|secret|secret_string|api_key|private_key|access_key|secret_key)$`)

// Literal credentials regardless of the name: AWS access key ids and URLs
// with a literal password in their user info.
var (
	accessKeyID     = regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)
	urlWithPassword = regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@$]+@`)
)

// CheckSecrets reports secret-looking literals: a non-empty literal string
// assigned to an attribute, object key or variable default whose name looks
// like a credential (also ECS-style {name = "X_PASSWORD", value = "..."}
// pairs), AWS access key ids and URLs with literal passwords.
func CheckSecrets(m *Module) []Problem {
	var probs []Problem
	for _, f := range m.Files {
		add := func(r hcl.Range, msg string) {
			probs = append(probs, Problem{f.Name, r.Start, "secrets", msg})
		}
		for _, b := range f.Body.Blocks {
			if b.Type == "variable" && secretName.MatchString(b.Labels[0]) {
				if s, ok := literalString(b.Body.Attributes["default"]); ok && s != "" {
					add(b.DefRange(), "variable "+b.Labels[0]+" has a literal default")
				}
			}
		}
		hclsyntax.VisitAll(f.Body, func(n hclsyntax.Node) hcl.Diagnostics {
			switch e := n.(type) {
			case *hclsyntax.Attribute:
				if s, ok := literalString(e); ok && s != "" && secretName.MatchString(e.Name) {
					add(e.SrcRange, e.Name+" is a literal; take it from Secrets Manager")
				}
			case *hclsyntax.ObjectConsExpr:
				var pairName string
				for _, it := range e.Items {
					k, ok := objectKey(it.KeyExpr)
					if !ok {
						continue
					}
					v, isLit := literalExpr(it.ValueExpr)
					if k == "name" && isLit {
						pairName = v
					}
					if isLit && v != "" && secretName.MatchString(k) {
						add(it.KeyExpr.Range(), k+" is a literal; take it from Secrets Manager")
					}
				}
				if pairName != "" && secretName.MatchString(pairName) {
					for _, it := range e.Items {
						if k, _ := objectKey(it.KeyExpr); k == "value" {
							if v, ok := literalExpr(it.ValueExpr); ok && v != "" {
								add(it.ValueExpr.Range(), pairName+" is set to a literal; use the container's secrets")
							}
						}
					}
				}
			case *hclsyntax.TemplateExpr:
				for _, p := range e.Parts {
					if lit, ok := p.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String {
						s := lit.Val.AsString()
						if accessKeyID.MatchString(s) {
							add(lit.SrcRange, "literal AWS access key id")
						}
						if urlWithPassword.MatchString(s) {
							add(lit.SrcRange, "URL with a literal password")
						}
					}
				}
			}
			return nil
		})
	}
	return probs
}

// CheckElastiCache reports aws_elasticache_replication_group resources
// without transit_encryption_enabled = true or without an auth_token that
// comes from somewhere other than a literal.
func CheckElastiCache(m *Module) []Problem {
	var probs []Problem
	for _, f := range m.Files {
		for _, b := range f.Body.Blocks {
			if b.Type != "resource" || len(b.Labels) < 2 || b.Labels[0] != "aws_elasticache_replication_group" {
				continue
			}
			name := b.Labels[1]
			a, ok := b.Body.Attributes["transit_encryption_enabled"]
			v, diags := cty.NilVal, hcl.Diagnostics(nil)
			if ok {
				v, diags = a.Expr.Value(nil)
			}
			if !ok || diags.HasErrors() || v.Type() != cty.Bool || !v.True() {
				probs = append(probs, Problem{f.Name, b.DefRange().Start, "elasticache", name + ": transit_encryption_enabled must be the literal true"})
			}
			tok, ok := b.Body.Attributes["auth_token"]
			if !ok {
				probs = append(probs, Problem{f.Name, b.DefRange().Start, "elasticache", name + ": no auth_token (AUTH from Secrets Manager)"})
			} else if len(tok.Expr.Variables()) == 0 {
				probs = append(probs, Problem{f.Name, tok.SrcRange.Start, "elasticache", name + ": auth_token must come from Secrets Manager, not a literal"})
			}
		}
	}
	return probs
}

// literalString returns the value of an attribute that is a constant
// string (no references, no function calls).
func literalString(a *hclsyntax.Attribute) (string, bool) {
	if a == nil {
		return "", false
	}
	return literalExpr(a.Expr)
}

func literalExpr(e hclsyntax.Expression) (string, bool) {
	if len(e.Variables()) > 0 {
		return "", false
	}
	if hasCall(e) {
		return "", false
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

func hasCall(e hclsyntax.Expression) bool {
	found := false
	hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		if _, ok := n.(*hclsyntax.FunctionCallExpr); ok {
			found = true
		}
		return nil
	})
	return found
}

// literalStrings returns the items of a list attribute when all are
// literal strings.
func literalStrings(a *hclsyntax.Attribute) ([]string, bool) {
	if a == nil {
		return nil, false
	}
	tup, ok := a.Expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		return nil, false
	}
	var out []string
	for _, e := range tup.Exprs {
		s, ok := literalExpr(e)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// listHasLiteral reports whether a list expression has the literal item s.
func listHasLiteral(e hclsyntax.Expression, s string) bool {
	tup, ok := e.(*hclsyntax.TupleConsExpr)
	if !ok {
		v, ok := literalExpr(e)
		return ok && v == s
	}
	for _, it := range tup.Exprs {
		if v, ok := literalExpr(it); ok && v == s {
			return true
		}
	}
	return false
}

// objectKey returns an object constructor key written as a bare name or a
// literal string.
func objectKey(e hclsyntax.Expression) (string, bool) {
	if k, ok := e.(*hclsyntax.ObjectConsKeyExpr); ok {
		if name := hcl.ExprAsKeyword(k.Wrapped); name != "" {
			return name, true
		}
		return literalExpr(k.Wrapped)
	}
	return "", false
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
