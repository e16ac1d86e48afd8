package importrules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The module follows its dependency rules.
func TestModuleFollowsImportRules(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	vs, err := Check(root, Rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("forbidden import: %s", v)
	}
}

// Check finds each kind of forbidden import in a tree made for it, and
// leaves allowed ones (and tests) alone.
func TestCheckFindsForbiddenImports(t *testing.T) {
	root := t.TempDir()
	write := func(rel, imp string) {
		t.Helper()
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		src := "package x\n\nimport _ \"" + imp + "\"\n"
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("processors/window/a.go", Module+"/sinks/encode")
	write("processors/enrich/b.go", Module+"/consumer")
	write("sinks/s3/c.go", Module+"/processors/decode")
	write("sinks/firehose/d.go", Module+"/internal/firehoselocal")
	write("pipeline/e.go", "github.com/vmware/vmware-go-kcl-v2/clientlibrary/interfaces")
	// allowed:
	write("consumer/f.go", "github.com/vmware/vmware-go-kcl-v2/clientlibrary/worker")
	write("checkpoints/redis/g.go", "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint")
	write("processors/window/h.go", Module+"/rowjson")
	write("sinks/encode/i.go", Module+"/rowjson")
	write("processors/window/j_test.go", Module+"/sinks/encode")
	write("pipeline/k.go", Module+"/sinks/s3")
	vs, err := Check(root, Rules)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.File+" "+v.Import)
	}
	want := []string{
		"pipeline/e.go github.com/vmware/vmware-go-kcl-v2/clientlibrary/interfaces",
		"processors/enrich/b.go " + Module + "/consumer",
		"processors/window/a.go " + Module + "/sinks/encode",
		"sinks/firehose/d.go " + Module + "/internal/firehoselocal",
		"sinks/s3/c.go " + Module + "/processors/decode",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
