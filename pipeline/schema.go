package pipeline

import (
	"encoding/json"
	"reflect"
	"time"

	"github.com/invopop/jsonschema"
)

// JSONSchema returns a JSON Schema (draft 2020-12) of the pipeline file,
// generated from the config types, for editor completion and validation
// (e.g. the YAML language server's `# yaml-language-server: $schema=...`).
// Cross-field rules live in Validate, not in the schema.
func JSONSchema() ([]byte, error) {
	r := &jsonschema.Reflector{
		FieldNameTag:               "yaml",
		AllowAdditionalProperties:  false,
		RequiredFromJSONSchemaTags: true, // nothing is "required" by tag: defaults fill most keys
		DoNotReference:             true,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			if t == reflect.TypeOf(Duration(0)) || t == reflect.TypeOf(time.Duration(0)) {
				return &jsonschema.Schema{Type: "string", Pattern: `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
					Description: "a duration such as 500ms, 10s, 5m"}
			}
			return nil
		},
	}
	s := r.Reflect(&Config{})
	s.Title = "shardflow pipeline"
	return json.MarshalIndent(s, "", "  ")
}
