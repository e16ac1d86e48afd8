package pipeline

import (
	"encoding/json"
	"testing"
)

func TestJSONSchemaCoversTheConfig(t *testing.T) {
	raw, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"properties"`
		AdditionalProperties *bool `json:"additionalProperties"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"name", "aws", "redis", "source", "schema", "transforms", "outputs", "dead_letter", "ops", "shutdown_timeout"} {
		if _, ok := s.Properties[key]; !ok {
			t.Errorf("schema lacks top-level key %q", key)
		}
	}
	if _, ok := s.Properties["source"].Properties["lease_duration"]; !ok {
		t.Error("schema lacks source.lease_duration")
	}
	if s.AdditionalProperties == nil || *s.AdditionalProperties {
		t.Error("unknown keys must be rejected by the schema, as by the parser")
	}
	var dur struct {
		Properties map[string]struct {
			Properties map[string]struct {
				Type string `json:"type"`
			} `json:"properties"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(raw, &dur)
	if got := dur.Properties["source"].Properties["lease_duration"].Type; got != "string" {
		t.Errorf("durations must be strings (\"10s\"), schema says %q", got)
	}
}
