package pipeline

import (
	"strings"
	"testing"

	"github.com/shardflow/shardflow/processors/decode"
)

const apacheYAML = `
name: web
redis: {url: "redis://127.0.0.1:6379/0"}
source:
  stream: access-logs
  format: apache_combined
schema:
  - {name: ts, type: timestamp, path: time}
  - {name: status, type: int64}
  - {name: bytes, type: int64, nullable: true}
outputs:
  - name: events
    firehose: {delivery_stream: web-events}
`

func TestSourceFormat(t *testing.T) {
	cfg, err := Parse([]byte(apacheYAML), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Source.DecodeFormat(); f.Type != decode.ApacheCombined {
		t.Fatalf("format %+v", f)
	}
	d, err := cfg.newDecoder(nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Release()

	csv := strings.Replace(apacheYAML, "format: apache_combined", "format: csv\n  csv: {delimiter: \"\\t\", columns: [time, status, bytes], header: true}", 1)
	if _, err := Parse([]byte(csv), noEnv); err != nil {
		t.Fatalf("csv: %v", err)
	}
}

func TestSourceFormatErrorsNameTheirPaths(t *testing.T) {
	cases := []struct{ from, to, want string }{
		{"format: apache_combined", "format: xml", `source.format: "xml" is not one of json, csv`},
		{"path: time}", "path: when}", `schema[0].path: apache_combined has no field "when"`},
		{"format: apache_combined", "format: csv\n  csv: {delimiter: ';;'}", "source.csv.delimiter: must be one byte"},
		{"format: apache_combined", "format: syslog\n  timezone: Nowhere/Land", `source.timezone: unknown time zone "Nowhere/Land"`},
		{"format: apache_combined", "format: json\n  regex: 'x'", "source.regex: only applies to format regex"},
		{"type: int64}", "type: int32}", `schema[1].type: "int32" is not one of`},
		{"format: apache_combined", "format: apache_combined\n  csv: {bogus: 1}", "source.csv.bogus: unknown key"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(strings.Replace(apacheYAML, c.from, c.to, 1)), noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q → %q: err %v, want %q", c.from, c.to, err, c.want)
		}
	}
}
