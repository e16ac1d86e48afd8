package importrules

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Module is the module path of shardflow.
const Module = "github.com/shardflow/shardflow"

// Rule forbids the packages under From (a directory of the module, "" for
// every one) to import a path that starts with one of Imports, except
// those under Except.
type Rule struct {
	Name    string
	From    string
	Except  []string
	Imports []string
}

// Rules are the dependency rules of the module.
var Rules = []Rule{
	{Name: "processors know nothing of consumer, checkpoints or sinks", From: "processors",
		Imports: []string{Module + "/consumer", Module + "/checkpoints", Module + "/sinks"}},
	{Name: "sinks know nothing of processors or the emulators", From: "sinks",
		Imports: []string{Module + "/processors", Module + "/internal/firehoselocal"}},
	{Name: "KCL types stay in consumer and checkpoints", From: "", Except: []string{"consumer", "checkpoints"},
		Imports: []string{"github.com/vmware/vmware-go-kcl-v2"}},
}

// Violation is one forbidden import.
type Violation struct {
	Rule   string
	File   string // relative to the root
	Line   int
	Import string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s:%d: imports %s (%s)", v.File, v.Line, v.Import, v.Rule)
}

// Check walks the Go files under root (a module root) that are not tests
// and returns every import the rules forbid, in file order.
func Check(root string, rules []Rule) ([]Violation, error) {
	var out []Violation
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, r := range rules {
				if !under(rel, r.From) || anyUnder(rel, r.Except) || !anyPrefix(p, r.Imports) {
					continue
				}
				out = append(out, Violation{Rule: r.Name, File: rel, Line: fset.Position(imp.Pos()).Line, Import: p})
			}
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, err
}

func under(rel, dir string) bool {
	return dir == "" || rel == dir || strings.HasPrefix(rel, dir+"/")
}

func anyUnder(rel string, dirs []string) bool {
	for _, d := range dirs {
		if under(rel, d) {
			return true
		}
	}
	return false
}

func anyPrefix(p string, prefixes []string) bool {
	for _, pre := range prefixes {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return false
}

// ModuleRoot finds the directory holding go.mod above the working one.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("importrules: no go.mod above the working directory")
		}
		dir = parent
	}
}
