package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// compiledSchema compiles JSONSchema with an independent validator.
func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("pipeline.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("pipeline.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// yamlInstance turns a YAML document into the JSON value the schema checks.
func yamlInstance(t *testing.T, y string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(y), &v); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// The schema accepts every example and every valid config of the table,
// and rejects the mistakes it can see: unknown keys, wrong types, enums,
// missing required keys, and the one-of groups.
func TestJSONSchemaValidatesConfigs(t *testing.T) {
	s := compiledSchema(t)
	examples, _ := filepath.Glob("../examples/*.yaml")
	if len(examples) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range examples {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(yamlInstance(t, string(raw))); err != nil {
			t.Errorf("%s: the schema rejects an example: %v", f, err)
		}
	}
	for _, c := range configCases {
		if c.want == nil {
			if err := s.Validate(yamlInstance(t, c.yaml(t))); err != nil {
				t.Errorf("%s: the schema rejects a valid config: %v", c.name, err)
			}
		}
	}
	for _, c := range []struct{ name, old, new string }{
		{"unknown key", "  stream: clicks\n", "  stream_name: clicks\n"},
		{"missing required key", "name: t\n", ""},
		{"enum", "linger: 100ms", "linger: 100ms, format: xml"},
		{"integer", "  lease_duration: 4s\n", "  max_records: lots\n"},
		{"duration", "  lease_duration: 4s\n", "  lease_duration: soon\n"},
		{"two transform kinds", `  - filter: {expr: 'country != "XX"'}`, `  - {filter: {expr: 'x'}, derive: {name: x, type: int64, expr: "1"}}`},
		{"no transform kind", `  - filter: {expr: 'country != "XX"'}`, `  - {}`},
		{"two window kinds", "    tumbling: 1m\n", "    tumbling: 1m\n    session: {gap: 30s}\n"},
		{"two output kinds", "    firehose: {delivery_stream: events, linger: 100ms}\n", "    firehose: {delivery_stream: events}\n    s3: {bucket: b}\n"},
		{"two dead letters", `dead_letter: {file: "${DEAD}"}`, `dead_letter: {file: x, stdout: true}`},
		{"aggregate function", "{name: clicks, fn: count}", "{name: clicks, fn: median}"},
		{"schema type", "{name: user_id, type: string}", "{name: user_id, type: strng}"},
	} {
		y := strings.Replace(baseYAML, c.old, c.new, 1)
		if y == baseYAML {
			t.Fatalf("%s: edit not found", c.name)
		}
		if err := s.Validate(yamlInstance(t, y)); err == nil {
			t.Errorf("%s: the schema accepts it", c.name)
		}
	}
	// A ${VAR} may stand for a number, a bool or an enum value.
	y := strings.Replace(baseYAML, "  lease_duration: 4s\n", "  lease_duration: ${LEASE:-4s}\n  max_records: ${MAX:-100}\n  lease_stealing: ${STEAL:-true}\n", 1)
	if err := s.Validate(yamlInstance(t, y)); err != nil {
		t.Errorf("references in typed keys: %v", err)
	}
}

// Every key of every config type has a description in the schema;
// enums, defaults, required keys and one-of groups are there.
func TestJSONSchemaDescribesEveryKey(t *testing.T) {
	raw, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		if _, ok := s["anyOf"].([]any); ok && s["type"] == nil {
			if _, ok := s["description"]; !ok && path != "" {
				t.Errorf("%s: no description", path)
			}
			return
		}
		switch s["type"] {
		case "object":
			if s["additionalProperties"] != false {
				t.Errorf("%s: unknown keys are not rejected", path)
			}
			props, _ := s["properties"].(map[string]any)
			for k, v := range props {
				p := v.(map[string]any)
				if _, ok := p["description"]; !ok {
					t.Errorf("%s: no description", joinPath(path, k))
				}
				walk(joinPath(path, k), p)
			}
		case "array":
			walk(path+"[]", s["items"].(map[string]any))
		}
	}
	walk("", root)
	get := func(path ...string) map[string]any {
		s := root
		for _, p := range path {
			if p == "[]" {
				s = s["items"].(map[string]any)
				continue
			}
			s = s["properties"].(map[string]any)[p].(map[string]any)
		}
		return s
	}
	if got := fmt.Sprint(get("source")["required"]); got != "[stream]" {
		t.Errorf("source.required = %s", got)
	}
	if got := fmt.Sprint(root["required"]); got != "[name source schema]" {
		t.Errorf("required = %s", got)
	}
	if got := len(get("transforms", "[]")["oneOf"].([]any)); got != 4 {
		t.Errorf("transforms[] one-of has %d alternatives, want 4", got)
	}
	if got := len(get("windows", "[]")["oneOf"].([]any)); got != 3 {
		t.Errorf("windows[] one-of has %d alternatives, want 3", got)
	}
	if got := len(get("outputs", "[]")["oneOf"].([]any)); got != 2 {
		t.Errorf("outputs[] one-of has %d alternatives, want 2", got)
	}
	if _, ok := get("windows", "[]", "output")["required"]; ok {
		t.Error("a window's output name is required, but it defaults to the window's")
	}
	f := get("outputs", "[]", "firehose", "format")
	if fmt.Sprint(f["default"]) != "ndjson" || !strings.Contains(fmt.Sprint(f["anyOf"]), "[ndjson csv]") {
		t.Errorf("firehose.format: %v", f)
	}
	if d := get("source", "lease_duration"); d["default"] != "10s" || !strings.Contains(fmt.Sprint(d["anyOf"]), "string") {
		t.Errorf("source.lease_duration: %v", d)
	}
}

// Every key of the config types is declared (so described, and checked);
// every declaration names a real key; declared defaults decode and agree
// with the exported constants.
func TestDeclarationsCoverTheConfig(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var visit func(t reflect.Type, path string)
	visit = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == durationType || seen[typ] {
			return
		}
		seen[typ] = true
		td := declarations[typ]
		if td == nil {
			t.Errorf("%s (%s): no declaration", path, typ)
			return
		}
		keys := map[string]bool{}
		for _, f := range yamlFields(typ) {
			keys[f.key] = true
			d, ok := td.Keys[f.key]
			if !ok || d.Doc == "" {
				t.Errorf("%s: no declaration with a description", joinPath(path, f.key))
			}
			if d.Default != "" {
				setDefault(reflect.New(f.typ).Elem(), d.Default) // panics if bad
			}
			visit(f.typ, joinPath(path, f.key))
		}
		for k := range td.Keys {
			if !keys[k] {
				t.Errorf("%s: declared key %q does not exist", typ, k)
			}
		}
		for _, k := range append(td.OneOf, td.AtMostOne...) {
			if !keys[k] {
				t.Errorf("%s: group key %q does not exist", typ, k)
			}
		}
	}
	visit(reflect.TypeFor[Config](), "")
	cfg, err := Decode([]byte("name: x\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key       string
		got, want time.Duration
	}{
		{"lease_duration", cfg.Source.LeaseDuration.D(), DefaultLeaseDuration},
		{"shard_sync_interval", cfg.Source.ShardSyncInterval.D(), DefaultShardSyncInterval},
		{"idle_time_between_reads", cfg.Source.IdleTimeBetweenReads.D(), DefaultIdleTimeBetweenReads},
		{"checkpoint_interval", cfg.Source.CheckpointInterval.D(), DefaultCheckpointInterval},
		{"shutdown_timeout", cfg.ShutdownTimeout.D(), DefaultShutdownTimeout},
	} {
		if c.got != c.want {
			t.Errorf("%s default %s, want %s", c.key, c.got, c.want)
		}
	}
	if cfg.Source.MaxRecords != DefaultMaxRecords || cfg.Source.MaxInFlightBatches != DefaultMaxInFlightBatches {
		t.Errorf("source defaults: %+v", cfg.Source)
	}
}
