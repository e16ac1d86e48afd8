package enrich

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/transform"
)

func TestParseTemplate(t *testing.T) {
	cases := []struct {
		src, want string // want: rendered over {a:"1", b:"x"}, or "error: ..."
	}{
		{"user:{a}", "user:1"},
		{"{a}{b}{a}", "1x1"},
		{"{{tag}}:{a}", "{tag}:1"},
		{"x}}{a}{{", "x}1{"},
		{"{a", "error: unclosed { at offset 0"},
		{"a}{b}", "error: unmatched } at offset 1"},
		{"{}{a}", "error: empty placeholder"},
		{"{a{b}}", "error: unclosed {"},
		{"plain", "error: no {column} placeholder"},
		{"{c}", "missing: c"},
	}
	for _, c := range cases {
		tm, err := parseTemplate(c.src)
		if err != nil {
			if !strings.HasPrefix(c.want, "error: ") || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "error: ")) {
				t.Errorf("%q: error %v, want %s", c.src, err, c.want)
			}
			continue
		}
		got, miss := tm.render(map[string]string{"a": "1", "b": "x"})
		if miss != "" {
			got = "missing: " + miss
		}
		if got != c.want {
			t.Errorf("%q renders %q, want %q", c.src, got, c.want)
		}
	}
}

func TestCacheLRUAndExpiry(t *testing.T) {
	c := newCache(3)
	t0 := time.Unix(1000, 0)
	e := func(s string) *entry { return &entry{bad: s} }
	c.put([]store{{"a", e("a"), t0.Add(time.Minute)}, {"b", e("b"), t0.Add(time.Minute)}, {"c", e("c"), t0.Add(time.Second)}}, t0)
	got := make([]*entry, 3)
	if missed := c.lookup([]string{"a", "b", "c"}, got, t0, nil); len(missed) != 0 {
		t.Fatalf("missed %v", missed)
	}
	// a was used least recently before b and c were looked up after it;
	// touch a so that b is the oldest, then add d.
	c.lookup([]string{"a"}, got, t0, nil)
	c.put([]store{{"d", e("d"), t0.Add(time.Minute)}}, t0)
	got = make([]*entry, 4)
	missed := c.lookup([]string{"a", "b", "c", "d"}, got, t0, nil)
	if fmt.Sprint(missed) != "[1]" || c.len() != 3 {
		t.Errorf("after evicting: missed %v, len %d; want [1] (b), 3", missed, c.len())
	}
	// c expires after a second.
	if missed := c.lookup([]string{"a", "c"}, got, t0.Add(time.Second), nil); fmt.Sprint(missed) != "[1]" {
		t.Errorf("expiry: missed %v, want [1]", missed)
	}
	// put refreshes an existing key.
	c.put([]store{{"c", e("c2"), t0.Add(time.Hour)}}, t0)
	if missed := c.lookup([]string{"c"}, got, t0.Add(time.Minute), nil); len(missed) != 0 || got[0].bad != "c2" {
		t.Errorf("refresh: missed %v, entry %v", missed, got[0])
	}
}

func TestParseValue(t *testing.T) {
	cases := []struct {
		in   string
		typ  decode.FieldType
		want string // fmt of the Value, or "error"
	}{
		{"42", decode.Int64, "42"},
		{"42.0", decode.Int64, "42"},
		{"-9223372036854775808", decode.Int64, "-9223372036854775808"},
		{"9223372036854775808", decode.Int64, "error"},
		{"4.5", decode.Int64, "error"},
		{"1e3", decode.Float64, "1000"},
		{"NaN", decode.Float64, "error"},
		{"1", decode.Bool, "true"},
		{"yes", decode.Bool, "error"},
		{"2026-11-22T04:50:48.1234567+01:00", decode.Timestamp, "1795319448123456"},
		{"10000-01-01T00:00:00Z", decode.Timestamp, "error"},
		{"", decode.String, `""`},
	}
	for _, c := range cases {
		v, err := parseValue(c.in, c.typ)
		got := "error"
		if err == nil {
			switch c.typ {
			case decode.Int64, decode.Timestamp:
				got = fmt.Sprint(v.Int)
			case decode.Float64:
				got = fmt.Sprint(v.Float)
			case decode.Bool:
				got = fmt.Sprint(v.Bool)
			default:
				got = fmt.Sprintf("%q", v.Str)
			}
		}
		if got != c.want {
			t.Errorf("parseValue(%q, %s) = %s (%v), want %s", c.in, c.typ, got, err, c.want)
		}
	}
}

// FuzzTemplate: parsing never panics, and a parsed template renders its
// placeholders' values between its literal parts.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"user:{user_id}", "{{x}}:{a}", "{a", "}", "{}", "{a}{b}{{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tm, err := parseTemplate(src)
		if err != nil {
			return
		}
		row := map[string]string{}
		for _, n := range tm.names {
			row[n] = "<" + n + ">"
		}
		got, miss := tm.render(row)
		if miss != "" {
			t.Fatalf("%q: missing %q although every name is set", src, miss)
		}
		want := strings.NewReplacer("{{", "{", "}}", "}").Replace(src)
		if strings.Count(got, "<") < len(tm.names) {
			t.Fatalf("%q rendered %q: placeholders lost (%v)", src, got, tm.names)
		}
		if !strings.ContainsAny(src, "{}") && got != want {
			t.Fatalf("%q rendered %q", src, got)
		}
	})
}

// FuzzJSONObject: a Redis JSON value never panics the decoder, and a
// string member comes out as encoding/json decodes it.
func FuzzJSONObject(f *testing.F) {
	for _, s := range []string{`{"a":"x","b":1,"c":null,"d":[1],"e":{"f":true}}`, `[]`, `null`, `{"a":"\u00e9\ud800"}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, err := jsonObject(data)
		if err != nil {
			return
		}
		var ref map[string]any
		if err := json.Unmarshal(data, &ref); err != nil {
			t.Fatalf("jsonObject accepted what encoding/json rejects: %q: %v", data, err)
		}
		for k, v := range ref {
			switch v := v.(type) {
			case nil:
				if _, ok := obj[k]; ok {
					t.Fatalf("null member %q present", k)
				}
			case string:
				if obj[k] != v {
					t.Fatalf("member %q = %q, want %q", k, obj[k], v)
				}
			default:
				if _, ok := obj[k]; !ok {
					t.Fatalf("member %q missing", k)
				}
			}
		}
	})
}

// TestCacheEvictsColdKeysFirst fills a sampled cache, keeps half of it in
// use and then adds as many new keys as the cold half: the sample must
// find the cold keys, so nearly every key in use survives.
func TestCacheEvictsColdKeysFirst(t *testing.T) {
	const size = 2000
	c := newCache(size)
	t0 := time.Unix(1000, 0)
	key := func(i int) string { return fmt.Sprintf("k%d", i) }
	for i := range size {
		c.put([]store{{key(i), &entry{}, t0.Add(time.Hour)}}, t0)
	}
	hot := make([]string, 0, size/2)
	for i := 0; i < size; i += 2 {
		hot = append(hot, key(i))
	}
	got := make([]*entry, len(hot))
	for range 3 {
		if missed := c.lookup(hot, got, t0, nil); len(missed) != 0 {
			t.Fatalf("%d hot keys missed before any eviction", len(missed))
		}
	}
	for i := range size / 2 {
		c.put([]store{{key(size + i), &entry{}, t0.Add(time.Hour)}}, t0)
	}
	if c.len() != size {
		t.Fatalf("len %d, want %d", c.len(), size)
	}
	missed := c.lookup(hot, got, t0, nil)
	// Seen 7-9 % (a sample of 16 misses the cold keys only once few are
	// left); exact LRU would lose none, random eviction about half.
	if len(missed) > len(hot)*15/100 {
		t.Errorf("%d of %d keys in use were evicted, want at most 15 %%", len(missed), len(hot))
	}
	t.Logf("%d of %d keys in use evicted", len(missed), len(hot))
}

// TestCacheConcurrentLookupsAndPuts runs lookups and puts of overlapping
// keys from several goroutines (meant for -race): every hit returns the
// entry stored for its key.
func TestCacheConcurrentLookupsAndPuts(t *testing.T) {
	c := newCache(64)
	t0 := time.Unix(1000, 0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			keys := make([]string, 16)
			got := make([]*entry, 16)
			for round := range 300 {
				var items []store
				for i := range keys {
					keys[i] = fmt.Sprintf("k%d", (g*7+round+i)%200)
					items = append(items, store{keys[i], &entry{bad: keys[i]}, t0.Add(time.Hour)})
				}
				clear(got)
				missed := c.lookup(keys, got, t0, nil)
				for i, e := range got {
					if e != nil && e.bad != keys[i] {
						t.Errorf("key %s returned the entry of %s", keys[i], e.bad)
						return
					}
				}
				if len(missed) > 0 {
					c.put(items, t0)
				}
			}
		})
	}
	wg.Wait()
	if n := c.len(); n > 64 {
		t.Errorf("len %d beyond the size 64", n)
	}
}

// TestValueColumnEqualsBuilder checks valueColumn against Arrow's builders
// for every field type, with and without nulls.
func TestValueColumnEqualsBuilder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	types := []arrow.DataType{arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64,
		arrow.FixedWidthTypes.Boolean, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}}
	for _, withNulls := range []bool{false, true} {
		rows := make([][]transform.Value, 0, 300)
		for k := range 300 {
			v := transform.Value{Valid: !withNulls || k%7 != 3, Int: int64(k * 1000), Float: float64(k) / 3, Bool: k%3 == 0, Str: strings.Repeat("é", k%5)}
			rows = append(rows, []transform.Value{v, v, v, v, v})
		}
		for f, dt := range types {
			b := array.NewBuilder(mem, dt)
			for _, r := range rows {
				transform.AppendValue(b, &r[f])
			}
			want := b.NewArray()
			got := valueColumn(mem, dt, rows, f)
			if !array.Equal(got, want) || got.NullN() != want.NullN() {
				t.Errorf("%v, nulls %v: got %v, want %v", dt, withNulls, got, want)
			}
			got.Release()
			want.Release()
			b.Release()
		}
	}
}

// TestInternerSharesShortValues checks that equal short values share one
// string, long ones and values past the bound are kept as they are.
func TestInternerSharesShortValues(t *testing.T) {
	var in interner
	a := in.intern(strings.Clone("enterprise"))
	b := in.intern(strings.Clone("enterprise"))
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("equal short values are not shared")
	}
	long := strings.Repeat("x", maxInternedLen+1)
	if got := in.intern(long); unsafe.StringData(got) != unsafe.StringData(long) || len(in.m) != 1 {
		t.Errorf("a long value was interned (%d values)", len(in.m))
	}
	for i := range 2 * maxInternedValues {
		in.intern(fmt.Sprintf("v%d", i))
	}
	if len(in.m) != maxInternedValues {
		t.Errorf("%d values interned, want the bound %d", len(in.m), maxInternedValues)
	}
}
