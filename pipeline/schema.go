package pipeline

import (
	"encoding/json"
	"reflect"
	"slices"
)

// JSONSchema returns a JSON Schema (draft 2020-12) of the pipeline file for
// editors (the YAML language server's `# yaml-language-server:
// $schema=...`), made from the same declarations the reader and Plan use:
// each key's description, default, enum and pattern, the required keys,
// and the one-of groups (one transform kind, one output kind, one window
// kind). Unknown keys are rejected, as by the reader. Rules that need the
// schema's columns or several keys at once are Plan's.
func JSONSchema() ([]byte, error) {
	s := schemaOf(reflect.TypeFor[Config](), nil)
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["title"] = "shardflow pipeline"
	return json.MarshalIndent(s, "", "  ")
}

type jsonObject = map[string]any

const durationPattern = `^-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$`

// schemaOf describes type t; optional lists required keys that are not
// required here.
func schemaOf(t reflect.Type, optional []string) jsonObject {
	if t == durationType || t == timeDurationType {
		return jsonObject{"type": "string", "pattern": durationPattern, "description": durationDoc}
	}
	if t == redisTLSType {
		obj := schemaOfStruct(t, optional)
		return jsonObject{"anyOf": []jsonObject{{"type": "boolean"}, obj}, "description": obj["description"]}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), optional)
	case reflect.Slice:
		return jsonObject{"type": "array", "items": schemaOf(t.Elem(), optional)}
	case reflect.String:
		return jsonObject{"type": "string"}
	case reflect.Bool:
		return jsonObject{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return jsonObject{"type": "integer"}
	case reflect.Struct:
	default:
		return jsonObject{}
	}
	return schemaOfStruct(t, optional)
}

// schemaOfStruct describes the mapping of struct type t.
func schemaOfStruct(t reflect.Type, optional []string) jsonObject {
	td := declarations[t]
	props := jsonObject{}
	var required []string
	for _, f := range yamlFields(t) {
		d := td.Keys[f.key]
		p := schemaOf(f.typ, d.Optional)
		if d.Doc != "" {
			doc := d.Doc
			if d.Zero != "" {
				doc += " 0: " + d.Zero + "."
			}
			if d.DefaultDoc != "" {
				doc += " Default: " + d.DefaultDoc + "."
			}
			p["description"] = doc
		}
		if d.Default != "" {
			p["default"] = defaultValue(f.typ, d.Default)
		}
		if len(d.Enum) > 0 {
			p["enum"] = d.Enum
		}
		if d.Pattern != "" {
			if p["type"] == "array" {
				p["items"].(jsonObject)["pattern"] = d.Pattern
			} else {
				p["pattern"] = d.Pattern
			}
		}
		if d.Example != "" {
			p["examples"] = []string{d.Example}
		}
		if d.Secret {
			p["writeOnly"] = true
		}
		props[f.key] = orEnvRef(p)
		if d.Required && !slices.Contains(optional, f.key) {
			required = append(required, f.key)
		}
	}
	s := jsonObject{"type": "object", "properties": props, "additionalProperties": false}
	if td != nil && td.Doc != "" {
		s["description"] = td.Doc
	}
	if len(required) > 0 {
		s["required"] = required
	}
	if td != nil && len(td.OneOf) > 0 {
		var alts []jsonObject
		for _, k := range td.OneOf {
			alts = append(alts, jsonObject{"required": []string{k}})
		}
		s["oneOf"] = alts
	}
	if td != nil && len(td.AtMostOne) > 1 {
		var pairs []jsonObject
		for i, a := range td.AtMostOne {
			for _, b := range td.AtMostOne[i+1:] {
				pairs = append(pairs, jsonObject{"required": []string{a, b}})
			}
		}
		s["not"] = jsonObject{"anyOf": pairs}
	}
	return s
}

// envRefPattern matches a scalar that holds a ${VAR} reference, whose
// value the schema cannot know.
const envRefPattern = `\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}`

// orEnvRef lets a constrained scalar (a number, bool, enum or pattern) also
// be written as a ${VAR} reference.
func orEnvRef(p jsonObject) jsonObject {
	typ, _ := p["type"].(string)
	_, enum := p["enum"]
	_, pattern := p["pattern"]
	if typ != "integer" && typ != "boolean" && !(typ == "string" && (enum || pattern)) {
		return p
	}
	inner := jsonObject{}
	outer := jsonObject{}
	for k, v := range p {
		switch k {
		case "description", "default", "examples", "writeOnly":
			outer[k] = v
		default:
			inner[k] = v
		}
	}
	outer["anyOf"] = []jsonObject{inner, {"type": "string", "pattern": envRefPattern}}
	return outer
}

// defaultValue is a declared default as the JSON value the schema shows.
func defaultValue(t reflect.Type, text string) any {
	v := reflect.New(t).Elem()
	setDefault(v, text)
	if t == durationType || t == timeDurationType {
		return text
	}
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	return v.Interface()
}
