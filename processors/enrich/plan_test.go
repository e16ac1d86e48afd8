package enrich

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/redis/go-redis/v9"
)

var planIn = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "country", Type: arrow.BinaryTypes.String},
}, nil)

// PlanRedisLookup accepts what NewRedisLookup accepts, with the same
// output schema, and keys every problem.
func TestPlanRedisLookupAgreesWithNew(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer client.Close()
	plan := []Field{{From: "plan", Type: "string"}}
	for _, c := range []struct {
		name string
		opts RedisOptions
		keys []string
	}{
		{"valid", RedisOptions{Key: "user:{user_id}", Fields: plan}, nil},
		{"json", RedisOptions{Key: "user:{user_id}", Source: SourceJSON, Fields: plan, OnMiss: MissDrop}, nil},
		{"four mistakes", RedisOptions{Key: "user:{usr_id}", Source: "hashmap", OnMiss: "ignore"}, []string{"source", "key", "on_miss", "fields"}},
		{"column exists", RedisOptions{Key: "user:{user_id}", Fields: []Field{{From: "country", Type: "string"}}}, []string{"fields[0].as"}},
		{"bad template", RedisOptions{Key: "user:{user_id", Fields: plan}, []string{"key"}},
		{"bad default", RedisOptions{Key: "user:{user_id}", Fields: []Field{{From: "n", Type: "int64", Default: ptr("x")}}}, []string{"fields[0].default"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, problems := PlanRedisLookup(planIn, c.opts)
			l, err := NewRedisLookup(memory.DefaultAllocator, planIn, client, c.opts)
			var keys []string
			for _, p := range problems {
				keys = append(keys, p.Key)
			}
			if strings.Join(keys, ",") != strings.Join(c.keys, ",") {
				t.Fatalf("problems %v, want keys %v", problems, c.keys)
			}
			if c.keys == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if !out.Equal(l.Schema()) {
					t.Errorf("schemas differ:\n%s\n%s", out, l.Schema())
				}
			} else if err == nil {
				t.Errorf("New accepts what Plan rejects: %v", problems)
			}
		})
	}
	_, problems := PlanRedisLookup(planIn, RedisOptions{Key: "user:{usr_id}", Fields: plan})
	if len(problems) != 1 || problems[0].Msg != `unknown column "usr_id" in "user:{usr_id}" (did you mean "user_id"?)` {
		t.Errorf("problems %v", problems)
	}
}

func ptr(s string) *string { return &s }

// PlanStaticTable reads the file as NewStaticTable does and also checks
// that a CSV header names every column the key and the fields read.
func TestPlanStaticTableReadsTheFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("c.csv", "country,region\nDE,EU\n")
	dup := write("dup.csv", "country,region\nDE,EU\nDE,EU\n")
	fields := []Field{{From: "region", Type: "string"}}
	for _, c := range []struct {
		name string
		opts StaticOptions
		key  string // "": valid
		msg  string
	}{
		{"valid", StaticOptions{File: good, Key: "{country}", Fields: fields}, "", ""},
		{"missing file", StaticOptions{File: filepath.Join(dir, "none.csv"), Key: "{country}", Fields: fields}, "file", "open " + filepath.Join(dir, "none.csv") + ": no such file or directory"},
		{"column not in the header", StaticOptions{File: good, Key: "{country}", Fields: []Field{{From: "regoin", Type: "string"}}},
			"fields[0].from", `column "regoin" is not in the header of ` + good + ` (did you mean "region"?) (its columns: country, region)`},
		{"duplicate key", StaticOptions{File: dup, Key: "{country}", Fields: fields}, "file", dup + `: line 3: duplicate key "DE" (also line 2)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, problems := PlanStaticTable(planIn, c.opts)
			st, err := NewStaticTable(memory.DefaultAllocator, planIn, c.opts)
			if c.key == "" {
				if len(problems) > 0 || err != nil {
					t.Fatalf("problems %v, New: %v", problems, err)
				}
				if !out.Equal(st.Schema()) {
					t.Errorf("schemas differ")
				}
				return
			}
			if len(problems) != 1 || problems[0].Key != c.key || problems[0].Msg != c.msg {
				t.Fatalf("problems %+v, want %s: %s", problems, c.key, c.msg)
			}
		})
	}
}
