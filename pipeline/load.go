package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/shardflow/shardflow/internal/suggest"
)

// Load reads a pipeline file and checks it completely (Plan), returning
// the effective config (defaults filled in) or every problem at once, as
// *Problems naming the file.
func Load(path string) (*Config, error) {
	r, err := LoadPlan(path)
	if err != nil {
		return nil, err
	}
	return r.Config, nil
}

// LoadPlan reads a pipeline file and plans it: what `shardflow validate`
// runs, and what `shardflow run` runs before New.
func LoadPlan(path string) (*Resolved, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline: read config: %w", err)
	}
	cfg, err := decodeFile(path, raw, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return Plan(cfg)
}

// Parse decodes a pipeline file (see Decode) and checks it completely
// (Plan). It returns the effective config or every problem, as *Problems.
func Parse(raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	cfg, err := Decode(raw, lookup)
	if err != nil {
		return nil, err
	}
	if _, err := Plan(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Decode reads a pipeline file without checking what its values mean:
// YAML, then ${VAR} and ${VAR:-default} interpolation inside each scalar
// value (comments and keys are never interpolated, and a value that
// contains a newline or a colon stays one value: nothing can change the
// document's structure; $${ writes a literal ${), then a strict decoding
// into Config and the defaults, which fill only the keys the file leaves
// out — an explicit 0 is kept, for Plan to honour or reject.
//
// Problems found here — unknown keys, wrong types, bad durations, unset
// variables, literal secrets — are kept in the config and reported by Plan
// together with its own, each with its line and column. The error is only
// for a document that is not YAML (*Problems with the syntax error).
func Decode(raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	return decodeFile("", raw, lookup)
}

func decodeFile(file string, raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	meta := &configMeta{file: file, pos: map[string]position{}, present: map[string]bool{}}
	cfg := &Config{meta: meta}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		// An empty file: every required key is reported by Plan.
	case err != nil:
		return nil, &Problems{File: file, List: []*FieldError{yamlSyntaxError(err)}}
	default:
		var extra yaml.Node
		if err := dec.Decode(&extra); err == nil {
			meta.problems = append(meta.problems, &FieldError{Line: extra.Line, Column: extra.Column,
				Msg: "a pipeline file holds one YAML document; remove the second (after ---)"})
		}
		r := &reader{meta: meta, lookup: lookup}
		root := &doc
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = root.Content[0]
		}
		r.decode(root, reflect.ValueOf(cfg).Elem(), "", keyDecl{})
	}
	applyDefaults(reflect.ValueOf(cfg).Elem(), "", meta)
	cfg.applyComputedDefaults()
	return cfg, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlSyntaxError(err error) *FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &FieldError{Msg: "not valid YAML: " + msg}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Column = 1
		e.Msg = "not valid YAML: " + m[2]
		if strings.HasPrefix(m[2], "did not find expected") {
			// yaml.v3 names the line before the unclosed {...} or [...]
			// (its 0-based line); this is the line it starts on.
			e.Line++
			e.Msg += ": a {...} or [...] that starts on this line is not closed"
		}
	}
	return e
}

// configMeta is what reading a file learnt besides the values: where each
// key is, which keys the file set, and the problems found.
type configMeta struct {
	file     string
	pos      map[string]position
	present  map[string]bool
	problems []*FieldError
}

// position is where a value is: line and column of its first character,
// and whether it is quoted or a block scalar (for positions inside it).
type position struct {
	line, col     int
	quoted, block bool
}

// locate returns the position of path's value, or of its nearest ancestor
// in the file.
func (m *configMeta) locate(path string) (int, int) {
	for p := path; ; p = parentPath(p) {
		if pos, ok := m.pos[p]; ok {
			return pos.line, pos.col
		}
		if p == "" {
			return 0, 0
		}
	}
}

// broken reports whether a problem was found while reading path, an
// ancestor of it or something under it: Plan then leaves path alone rather
// than report what follows from the first problem.
func (m *configMeta) broken(path string) bool {
	if m == nil {
		return false
	}
	for _, e := range m.problems {
		if e.Path == "" {
			continue
		}
		if within(path, e.Path) || within(e.Path, path) && path != "" {
			return true
		}
	}
	return false
}

// parentPath strips the last ".key" or "[i]" of a path.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	durationType     = reflect.TypeFor[Duration]()
	timeDurationType = reflect.TypeFor[time.Duration]()
	redisTLSType     = reflect.TypeFor[RedisTLS]()
)

// reader decodes YAML nodes into config values, collecting problems.
type reader struct {
	meta   *configMeta
	lookup func(string) (string, bool)
	depth  int
}

func (r *reader) bad(path string, n *yaml.Node, format string, args ...any) {
	e := &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	r.meta.problems = append(r.meta.problems, e)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Style == 0
}

// decode sets v from n; it reports whether the file gave a value.
func (r *reader) decode(n *yaml.Node, v reflect.Value, path string, decl keyDecl) bool {
	if n.Kind == yaml.AliasNode {
		if r.depth > 32 {
			r.bad(path, n, "aliases nest too deep")
			return false
		}
		r.depth++
		defer func() { r.depth-- }()
		return r.decode(n.Alias, v, path, decl)
	}
	if isNull(n) {
		return false
	}
	r.meta.pos[path] = position{line: n.Line, col: n.Column,
		quoted: n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0,
		block:  n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0}
	t := v.Type()
	switch {
	case t == durationType || t == timeDurationType:
		s, ok := r.scalar(n, path, decl, "a duration such as 500ms, 10s or 5m")
		if !ok {
			return true
		}
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			hint := "e.g. 500ms, 10s, 5m, 1h"
			if _, numErr := strconv.ParseFloat(strings.TrimSpace(s), 64); numErr == nil {
				hint = "add a unit: " + strings.TrimSpace(s) + "s, " + strings.TrimSpace(s) + "ms, ..."
			}
			r.bad(path, n, "%q is not a duration (%s)", s, hint)
			return true
		}
		v.SetInt(int64(d))
		return true
	case t == redisTLSType && n.Kind == yaml.ScalarNode:
		// tls: true / false; a mapping is read as any struct.
		s, ok := r.scalar(n, path, decl, "true, false or a mapping (ca_file, server_name)")
		if !ok {
			return true
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			v.Set(reflect.ValueOf(RedisTLS{}))
		case "false":
			v.Set(reflect.ValueOf(RedisTLS{Off: true}))
		default:
			r.bad(path, n, "must be true, false or a mapping (ca_file, server_name), got %q", s)
		}
		return true
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := reflect.New(t.Elem())
		set := r.decode(n, elem.Elem(), path, decl)
		if set {
			v.Set(elem)
		}
		return set
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			r.bad(path, n, "must be a mapping of keys (%s), got %s", strings.Join(keysOf(t), ", "), nodeKind(n))
			return true
		}
		r.mapping(n, v, path)
		return true
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			r.bad(path, n, "must be a list, got %s", nodeKind(n))
			return true
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if r.decode(item, s.Index(i), p, decl) {
				r.meta.present[p] = true
			}
		}
		v.Set(s)
		return true
	case reflect.String:
		if s, ok := r.scalar(n, path, decl, "a string"); ok {
			v.SetString(s)
		}
		return true
	case reflect.Bool:
		s, ok := r.scalar(n, path, decl, "true or false")
		if !ok {
			return true
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			r.bad(path, n, "must be true or false, got %q", s)
		}
		return true
	case reflect.Int, reflect.Int64, reflect.Int32:
		s, ok := r.scalar(n, path, decl, "an integer")
		if !ok {
			return true
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(s), "_", ""), 10, t.Bits())
		if err != nil {
			if _, ferr := strconv.ParseFloat(s, 64); ferr == nil {
				r.bad(path, n, "must be a whole number, got %q", s)
			} else {
				r.bad(path, n, "must be an integer, got %q", s)
			}
			return true
		}
		v.SetInt(i)
		return true
	}
	r.bad(path, n, "cannot be set from a file (%s)", t)
	return true
}

// mapping decodes a mapping into struct v: every key must be one of the
// struct's, at most once. Merge keys (<<: *anchor) are supported.
func (r *reader) mapping(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	fields := yamlFields(t)
	byKey := make(map[string]yamlField, len(fields))
	for _, f := range fields {
		byKey[f.key] = f
	}
	type pair struct{ k, v *yaml.Node }
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			src := []*yaml.Node{val}
			if val.Kind == yaml.SequenceNode {
				src = val.Content
			}
			for _, m := range src {
				if m.Kind == yaml.AliasNode {
					m = m.Alias
				}
				if m.Kind != yaml.MappingNode {
					r.bad(path, val, "a merge (<<) takes a mapping or a list of mappings")
					continue
				}
				for j := 0; j+1 < len(m.Content); j += 2 {
					merged = append(merged, pair{m.Content[j], m.Content[j+1]})
				}
			}
			continue
		}
		own = append(own, pair{k, val})
	}
	seen := map[string]*yaml.Node{}
	for _, p := range own {
		if p.k.Kind != yaml.ScalarNode {
			r.bad(path, p.k, "a key must be a plain name")
			continue
		}
		if first, dup := seen[p.k.Value]; dup {
			r.bad(joinPath(path, p.k.Value), p.k, "is set twice (first on line %d); remove one", first.Line)
			continue
		}
		seen[p.k.Value] = p.k
	}
	for _, p := range merged {
		if p.k.Kind == yaml.ScalarNode && seen[p.k.Value] == nil {
			own = append(own, p)
			seen[p.k.Value] = p.k
		}
	}
	done := map[string]bool{}
	for _, p := range own {
		if p.k.Kind != yaml.ScalarNode || done[p.k.Value] {
			continue
		}
		key := p.k.Value
		done[key] = true
		f, ok := byKey[key]
		child := joinPath(path, key)
		if !ok {
			valid := keysOf(t)
			where := "here"
			if path != "" {
				where = "in " + path
			}
			r.bad(child, p.k, "unknown key%s; the keys %s are %s", suggest.DidYouMean(key, valid), where, strings.Join(valid, ", "))
			continue
		}
		if r.decode(p.v, v.Field(f.index), child, declOf(t, key)) {
			r.meta.present[child] = true
		}
	}
}

// scalar returns the interpolated text of a scalar node.
func (r *reader) scalar(n *yaml.Node, path string, decl keyDecl, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		r.bad(path, n, "must be %s, got %s", want, nodeKind(n))
		return "", false
	}
	if msg := literalSecret(n.Value, decl); msg != "" {
		// The value is kept so that what depends on it is still checked;
		// the config cannot run with this problem.
		r.bad(path, n, "%s", msg)
	}
	s, err := interpolate(n.Value, r.lookup)
	if err != nil {
		r.bad(path, n, "%v", err)
		return "", false
	}
	return s, true
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	// Not the value itself: it may be a secret written in the wrong place.
	return "a single value"
}

func keysOf(t reflect.Type) []string {
	fields := yamlFields(t)
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.key
	}
	return out
}

// interpolate replaces ${VAR} (which must be set), ${VAR:-default} (the
// default when VAR is unset or empty) and $${ (a literal ${).
func interpolate(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var missing []string
	out, err := expandRefs(s, func(name, def string, hasDef bool) string {
		if v, ok := lookup(name); ok && (v != "" || !hasDef) {
			return v
		}
		if hasDef {
			return def
		}
		missing = append(missing, name)
		return ""
	})
	if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} for an optional value)",
			strings.Join(missing, ", "), missing[0])
	}
	return out, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandRefs replaces each ${NAME} or ${NAME:-default} by ref's answer.
func expandRefs(s string, ref func(name, def string, hasDef bool) string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed ${ at offset %d (write $${ for a literal ${)", i)
			}
			body := s[i+2 : i+end]
			name, def, hasDef := strings.Cut(body, ":-")
			if !envName.MatchString(name) {
				return "", fmt.Errorf("${%s} is not a variable reference: want ${NAME} or ${NAME:-default} (write $${ for a literal ${)", body)
			}
			b.WriteString(ref(name, def, hasDef))
			i += end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), nil
}

// literalSecret checks the raw (not yet interpolated) text of a secret or
// URL key: a password must come from the environment, never from the file
// — neither written out nor as the default of a ${VAR:-default}. It
// returns the problem, which never repeats the value.
func literalSecret(raw string, decl keyDecl) string {
	if !decl.Secret && !decl.URL {
		return ""
	}
	password := func(s string) string {
		if decl.Secret {
			return s
		}
		return urlPassword(s)
	}
	const fromEnv = "\x00"
	viaEnv, err1 := expandRefs(raw, func(string, string, bool) string { return fromEnv })
	viaDefaults, err2 := expandRefs(raw, func(_, def string, _ bool) string { return def })
	if err1 != nil || err2 != nil {
		return "" // reported by interpolation
	}
	if p := password(viaEnv); strings.Trim(p, fromEnv) != "" {
		if decl.Secret {
			return "is a literal; take it from the environment, e.g. ${REDIS_AUTH_TOKEN} (on ECS, a task-definition secret from Secrets Manager)"
		}
		return "holds a literal password; take it from the environment, e.g. rediss://:${REDIS_AUTH_TOKEN}@host:6379 (on ECS, a task-definition secret from Secrets Manager)"
	}
	if p := password(viaDefaults); p != "" {
		if decl.Secret {
			return "the default after :- is a literal password; write ${REDIS_AUTH_TOKEN} without a default and set the variable"
		}
		return "the default after :- holds a literal password; a default must not carry a secret: write rediss://:${REDIS_AUTH_TOKEN}@host:6379 and set the variable"
	}
	return ""
}

// urlPassword is the password of a scheme://user:password@host URL, or "".
func urlPassword(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return ""
	}
	if slash := strings.IndexByte(rest, '/'); slash >= 0 {
		rest = rest[:slash]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(rest[:at], ":")
	return pw
}

// applyDefaults fills every declared default the file left out, in v (a
// struct at path) and the structs under it.
func applyDefaults(v reflect.Value, path string, meta *configMeta) {
	t := v.Type()
	for _, f := range yamlFields(t) {
		fv := v.Field(f.index)
		p := joinPath(path, f.key)
		if d := declOf(t, f.key); d.Default != "" && !meta.present[p] && fv.IsZero() {
			setDefault(fv, d.Default)
		}
		switch {
		case fv.Kind() == reflect.Struct && fv.Type() != durationType:
			applyDefaults(fv, p, meta)
		case fv.Kind() == reflect.Pointer && !fv.IsNil() && fv.Elem().Kind() == reflect.Struct:
			applyDefaults(fv.Elem(), p, meta)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			for i := range fv.Len() {
				applyDefaults(fv.Index(i), fmt.Sprintf("%s[%d]", p, i), meta)
			}
		}
	}
}

// setDefault decodes a declared default into v; the declarations are
// checked by a test, so a bad one is a bug.
func setDefault(v reflect.Value, text string) {
	m := &configMeta{pos: map[string]position{}, present: map[string]bool{}}
	r := &reader{meta: m, lookup: func(string) (string, bool) { return "", false }}
	r.decode(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: text}, v, "", keyDecl{})
	if len(m.problems) > 0 {
		panic(fmt.Sprintf("pipeline: bad declared default %q: %v", text, m.problems[0]))
	}
}

// applyComputedDefaults fills the defaults that depend on other keys.
func (c *Config) applyComputedDefaults() {
	s := &c.Source
	if s.Checkpoints.Table == "" && c.Name != "" {
		s.Checkpoints.Table = "shardflow-" + c.Name
	}
	for i := range c.Windows {
		if w := &c.Windows[i]; w.Output.Name == "" {
			w.Output.Name = w.Name
		}
	}
	if c.DeadLetter.File == "" && !c.DeadLetter.Stdout && c.DeadLetter.Firehose == nil && c.Name != "" {
		c.DeadLetter.File = "dead-letter/" + c.Name + ".ndjson"
	}
}
