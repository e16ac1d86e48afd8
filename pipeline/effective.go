package pipeline

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// masked replaces a secret in `shardflow config` output.
const masked = "****"

// EffectiveYAML renders the config as YAML with every default filled in
// (marked "# default" where the file left the key out) and every secret
// masked: redis.password and the password of any URL's userinfo. It is
// what `shardflow config` prints; reading it back gives the same config
// (but for the masked secrets).
func (c *Config) EffectiveYAML() ([]byte, error) {
	root := c.node(reflect.ValueOf(c).Elem(), "")
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("pipeline %s: render config: %w", c.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// node renders struct v at path as a mapping node.
func (c *Config) node(v reflect.Value, path string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	t := v.Type()
	for _, f := range yamlFields(t) {
		fv := v.Field(f.index)
		p := joinPath(path, f.key)
		d := declOf(t, f.key)
		present := c.meta != nil && c.meta.present[p]
		if fv.IsZero() && d.Default == "" && !(present && fv.Type() == durationType) {
			continue
		}
		val := c.value(fv, p, d)
		if val == nil {
			continue
		}
		if !present && c.meta != nil && (d.Default != "" || d.DefaultDoc != "") && val.Kind == yaml.ScalarNode {
			val.LineComment = "default"
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.key}, val)
	}
	return m
}

// value renders one value; nil leaves the key out.
func (c *Config) value(v reflect.Value, path string, d keyDecl) *yaml.Node {
	if v.Type() == durationType || v.Type() == timeDurationType {
		return scalarNode(formatDuration(time.Duration(v.Int())), "!!str")
	}
	if v.Type() == redisTLSType {
		// tls: false / true when no detail is set, as the file may say.
		switch t := v.Interface().(RedisTLS); {
		case t.Off:
			return scalarNode("false", "!!bool")
		case t == RedisTLS{}:
			return scalarNode("true", "!!bool")
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return c.value(v.Elem(), path, d)
	case reflect.Struct:
		return c.node(v, path)
	case reflect.Slice:
		if v.Len() == 0 {
			return nil
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		inline := v.Type().Elem().Kind() != reflect.Struct
		if inline {
			seq.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			if item := c.value(v.Index(i), fmt.Sprintf("%s[%d]", path, i), d); item != nil {
				seq.Content = append(seq.Content, item)
			}
		}
		return seq
	case reflect.String:
		s := v.String()
		switch {
		case d.Secret && s != "":
			s = masked
		case d.URL:
			s = maskURLPassword(s)
		}
		return scalarNode(s, "!!str")
	case reflect.Bool:
		return scalarNode(strconv.FormatBool(v.Bool()), "!!bool")
	case reflect.Int, reflect.Int64, reflect.Int32:
		return scalarNode(strconv.FormatInt(v.Int(), 10), "!!int")
	}
	return scalarNode(fmt.Sprint(v.Interface()), "!!str")
}

func scalarNode(s, tag string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s}
}

// maskURLPassword replaces the password of a URL's userinfo.
func maskURLPassword(s string) string {
	pw := urlPassword(s)
	if pw == "" {
		return s
	}
	scheme, rest, _ := strings.Cut(s, "://")
	at := strings.LastIndexByte(rest[:strings.IndexByte(rest+"/", '/')], '@')
	user, _, _ := strings.Cut(rest[:at], ":")
	return scheme + "://" + user + ":" + masked + rest[at:]
}

// formatDuration writes d as a config would: 1m, 1h30m, 500ms.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") || strings.HasSuffix(s, "h0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
