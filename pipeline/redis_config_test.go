package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/shardflow/shardflow/internal/testenv"
)

// redis.tls reads as true, false or a mapping; `shardflow config` writes it
// back the same way; the schema accepts those and nothing else.
func TestRedisTLSKeyReadsWritesAndIsInTheSchema(t *testing.T) {
	s := compiledSchema(t)
	ca := testenv.NewTestCA(t, "config CA").CertFile
	cases := []struct {
		redis string
		want  *RedisTLS
		out   string // in EffectiveYAML
	}{
		{`{url: "rediss://h:6379"}`, nil, ""},
		{`{url: "rediss://h:6379", tls: true}`, &RedisTLS{}, "tls: true"},
		{`{url: "redis://h:6379", tls: false}`, &RedisTLS{Off: true}, "tls: false"},
		{`{url: "rediss://h:6379", tls: {ca_file: ` + ca + `, server_name: r.local}}`, &RedisTLS{CAFile: ca, ServerName: "r.local"}, "ca_file: " + ca},
	}
	for _, c := range cases {
		y := strings.Replace(validYAML, `redis: {url: "redis://127.0.0.1:6379/0"}`, "redis: "+c.redis, 1)
		cfg, err := Parse([]byte(y), noEnv)
		if err != nil {
			t.Fatalf("%s: %v", c.redis, err)
		}
		if (cfg.Redis.TLS == nil) != (c.want == nil) || (c.want != nil && *cfg.Redis.TLS != *c.want) {
			t.Errorf("%s: tls = %+v, want %+v", c.redis, cfg.Redis.TLS, c.want)
		}
		if err := s.Validate(yamlInstance(t, y)); err != nil {
			t.Errorf("%s: the schema rejects it: %v", c.redis, err)
		}
		out, err := cfg.EffectiveYAML()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), c.out) {
			t.Errorf("%s: effective config lacks %q:\n%s", c.redis, c.out, out)
		}
		back, err := Parse(out, noEnv)
		if err != nil {
			t.Fatalf("%s: effective config does not read back: %v\n%s", c.redis, err, out)
		}
		if (back.Redis.TLS == nil) != (c.want == nil) || (c.want != nil && *back.Redis.TLS != *c.want) {
			t.Errorf("%s: read back tls = %+v, want %+v", c.redis, back.Redis.TLS, c.want)
		}
		if back.Redis.DialTimeout.D() != 5*time.Second || back.Redis.ReadTimeout.D() != 3*time.Second || back.Redis.WriteTimeout.D() != 3*time.Second {
			t.Errorf("%s: timeouts %s/%s/%s, want the defaults 5s/3s/3s", c.redis, back.Redis.DialTimeout.D(), back.Redis.ReadTimeout.D(), back.Redis.WriteTimeout.D())
		}
	}
	for _, bad := range []string{`tls: "yes"`, `tls: {ca_file: x, verify: false}`, `tls: [a]`} {
		y := strings.Replace(validYAML, `redis: {url: "redis://127.0.0.1:6379/0"}`, `redis: {url: "rediss://h:6379", `+bad+`}`, 1)
		if err := s.Validate(yamlInstance(t, y)); err == nil {
			t.Errorf("%s: the schema accepts it", bad)
		}
		if _, err := Parse([]byte(y), noEnv); err == nil {
			t.Errorf("%s: Parse accepts it", bad)
		}
	}
}
