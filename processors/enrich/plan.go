package enrich

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/internal/suggest"
	"github.com/shardflow/shardflow/processors/transform"
)

// PlanRedisLookup checks opts against the schema of the rows the lookup
// receives, without a Redis client or any I/O, and returns the schema of
// the rows after it (in plus one nullable column per field whose name and
// type are valid, also when other options are wrong, so that later stages
// can be checked too). Every problem is reported, keyed as in the pipeline
// config ("key", "fields[1].type"). What it accepts, NewRedisLookup accepts
// given a client.
func PlanRedisLookup(in *arrow.Schema, opts RedisOptions) (*arrow.Schema, []*OptionError) {
	var bad errs
	switch opts.Source {
	case "", SourceHash, SourceJSON:
	default:
		bad.add("source", "unknown source %q (want hash or json)%s", opts.Source,
			suggest.DidYouMean(string(opts.Source), []string{string(SourceHash), string(SourceJSON)}))
	}
	out := planJoin(in, opts.Key, opts.Fields, opts.OnMiss, &bad)
	return out, optionErrors(bad)
}

// PlanStaticTable checks opts against the schema of the rows the table
// join receives, as PlanRedisLookup does, and then reads the file with the
// checks NewStaticTable makes (format, every row's key and values). A CSV
// file's header must also name every placeholder of the key and every
// field's from column: a column the file lacks would silently be null or
// the default for every row. File problems are keyed "file" (or the field
// whose column is missing).
func PlanStaticTable(in *arrow.Schema, opts StaticOptions) (*arrow.Schema, []*OptionError) {
	var bad errs
	format := ""
	if opts.File == "" {
		bad.add("file", "must not be empty")
	} else if f, err := formatOf(opts.File, opts.Format); err != nil {
		bad.add("format", "%v", err)
	} else {
		format = f
	}
	out := planJoin(in, opts.Key, opts.Fields, opts.OnMiss, &bad)
	if len(bad) > 0 || format == "" {
		return out, optionErrors(bad)
	}
	if format == "csv" {
		if checkCSVHeader(opts, &bad); len(bad) > 0 {
			return out, optionErrors(bad)
		}
	}
	t, err := NewStaticTable(memory.DefaultAllocator, in, opts)
	if err != nil {
		bad.add("file", "%s", strings.TrimPrefix(err.Error(), "enrich: static table: "))
		return out, optionErrors(bad)
	}
	_ = t.Close(context.Background())
	return out, nil
}

// planJoin checks what both lookups share: the key template against in
// (with a suggestion for a misspelt column), the fields and the miss
// policy. It returns the schema after the join, best effort.
func planJoin(in *arrow.Schema, key string, fields []Field, onMiss MissPolicy, bad *errs) *arrow.Schema {
	if key == "" {
		bad.add("key", "must not be empty: a template over the row's columns such as \"user:{user_id}\"")
	} else if tmpl, err := parseTemplate(key); err != nil {
		bad.add("key", "%v", err)
	} else {
		cols := columnNames(in)
		keyOK := true
		for _, name := range tmpl.names {
			idx := in.FieldIndices(name)
			switch {
			case len(idx) == 0:
				bad.add("key", "unknown column %q in %q%s", name, key, suggest.DidYouMean(name, cols))
				keyOK = false
			case !keyType(in.Field(idx[0]).Type):
				bad.add("key", "column %q is of type %v, which cannot be part of a key", name, in.Field(idx[0]).Type)
				keyOK = false
			}
		}
		if keyOK {
			if err := tmpl.bind(in); err != nil { // the stage's own check
				bad.add("key", "%v", err)
			}
		}
	}
	resolved := compileFields(in, fields, onMiss, bad)
	var extra []arrow.Field
	seen := map[string]bool{}
	for _, f := range resolved {
		if f.dt != nil && f.as != "" && !in.HasField(f.as) && !seen[f.as] {
			seen[f.as] = true
			extra = append(extra, arrow.Field{Name: f.as, Type: f.dt, Nullable: true})
		}
	}
	out, err := transform.AppendSchema(in, extra...)
	if err != nil {
		bad.add("fields", "%v", err)
		return in
	}
	return out
}

// checkCSVHeader reads the header row of a CSV table and checks that it
// names every column the key and the fields read.
func checkCSVHeader(opts StaticOptions, bad *errs) {
	f, err := os.Open(opts.File)
	if err != nil {
		bad.add("file", "%v", err)
		return
	}
	defer f.Close()
	header, err := csv.NewReader(f).Read()
	if errors.Is(err, io.EOF) {
		bad.add("file", "%s: empty file: want a header row", opts.File)
		return
	}
	if err != nil {
		bad.add("file", "%s: %v", opts.File, err)
		return
	}
	has := map[string]bool{}
	for _, h := range header {
		has[h] = true
	}
	missing := func(key, col string) {
		bad.add(key, "column %q is not in the header of %s%s (its columns: %s)", col, opts.File,
			suggest.DidYouMean(col, header), strings.Join(header, ", "))
	}
	if tmpl, err := parseTemplate(opts.Key); err == nil {
		for _, name := range tmpl.names {
			if !has[name] {
				missing("key", name)
			}
		}
	}
	for i, fl := range opts.Fields {
		if fl.From != "" && !has[fl.From] {
			missing(fmt.Sprintf("fields[%d].from", i), fl.From)
		}
	}
}

func columnNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}

func optionErrors(bad errs) []*OptionError {
	out := make([]*OptionError, 0, len(bad))
	for _, e := range bad {
		var oe *OptionError
		if errors.As(e, &oe) {
			out = append(out, oe)
		} else {
			out = append(out, &OptionError{Msg: e.Error()})
		}
	}
	return out
}
