package enrich

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/transform"
)

// joiner is what RedisLookup and StaticTable share: the key template, the
// appended fields, the miss policy, and the assembly of the output batch
// from each row's entry.
type joiner struct {
	stage   string // error prefix, "enrich: redis lookup"
	mem     memory.Allocator
	in, out *arrow.Schema
	tmpl    *template
	fields  []field
	onMiss  MissPolicy
	pool    transform.Pool[*scratch]
	// nulls and defaults are the values of a row whose key is not found
	// (on_miss null or default).
	nulls, defaults []transform.Value
}

// scratch is the per-call state of one Process call.
type scratch struct {
	asm     *transform.Assembler
	keys    batchKeys
	entries []*entry // per distinct key
	missed  []int32
	// fetch deduplication (RedisLookup): distinct missed keys, by index
	fetchIdx []int32
	dedupe   map[string]int32
	stores   []store
	kept     []int
	rowVals  [][]transform.Value // per kept row: its values, one per field
	cols     []arrow.Array
}

// newJoiner validates the template and fields against in. It adds its
// problems to bad and returns nil when there are any.
func newJoiner(mem memory.Allocator, stage string, in *arrow.Schema, key string, fields []Field, onMiss MissPolicy, bad *errs) *joiner {
	j := &joiner{stage: stage, mem: mem, in: in, onMiss: onMiss}
	if j.onMiss == "" {
		j.onMiss = MissNull
	}
	tmpl, err := parseTemplate(key)
	if err == nil {
		err = tmpl.bind(in)
	}
	if err != nil {
		bad.add("key", "%v", err)
	}
	j.tmpl = tmpl
	j.fields = compileFields(in, fields, onMiss, bad)
	if len(*bad) > 0 {
		return nil
	}
	out, err := transform.AppendSchema(in, appended(j.fields)...)
	if err != nil {
		bad.add("fields", "%v", err)
		return nil
	}
	j.out = out
	j.nulls = make([]transform.Value, len(j.fields))
	for _, f := range j.fields {
		j.defaults = append(j.defaults, f.def)
	}
	j.pool = transform.Pool[*scratch]{
		New:  func() *scratch { return &scratch{asm: transform.NewAssembler(mem, out, in.NumFields())} },
		Free: func(s *scratch) { s.asm.Release() },
	}
	return j
}

// start checks in's schema, takes a scratch and renders in's keys into it
// (each once when distinct), with entries sized (all nil) for them.
func (j *joiner) start(in *flow.Batch, prefix string, distinct bool) (*scratch, error) {
	if err := transform.CheckSchema(j.stage, j.in, in.Record.Schema()); err != nil {
		return nil, err
	}
	s := j.pool.Get()
	s.keys.build(j.tmpl, prefix, in.Record, distinct)
	s.entries = append(s.entries[:0], make([]*entry, len(s.keys.keys))...)
	return s, nil
}

// finish returns s to the pool without references to the batch.
func (j *joiner) finish(s *scratch) {
	s.keys.reset()
	clear(s.dedupe)
	clear(s.entries)
	clear(s.stores)
	s.stores = s.stores[:0]
	j.pool.Put(s)
}

// emit builds the output batch from the entries of in's distinct keys
// (nil or missing: not found) and applies the miss policy. It first lists
// each kept row's values, then builds each appended column in one pass over
// that list (valueColumn).
func (j *joiner) emit(in *flow.Batch, s *scratch) (*flow.Batch, []flow.DeadLetter) {
	n := in.Rows()
	s.kept = s.kept[:0]
	s.rowVals = s.rowVals[:0]
	var dead []flow.DeadLetter
	for row := range n {
		var e *entry
		if k := s.keys.rowKey[row]; k >= 0 {
			e = s.entries[k]
		}
		switch {
		case e != nil && e.bad != "":
			dead = append(dead, transform.DeadLetter(in, row, e.bad))
			continue
		case e != nil && e.vals != nil:
			s.rowVals = append(s.rowVals, e.vals)
		case j.onMiss == MissDrop:
			continue
		case j.onMiss == MissDeadLetter:
			dead = append(dead, transform.DeadLetter(in, row, j.missReason(s, row)))
			continue
		case j.onMiss == MissDefault:
			s.rowVals = append(s.rowVals, j.defaults)
		default:
			s.rowVals = append(s.rowVals, j.nulls)
		}
		s.kept = append(s.kept, row)
	}
	s.cols = s.cols[:0]
	for i := range j.fields {
		s.cols = append(s.cols, valueColumn(j.mem, j.fields[i].dt, s.rowVals, i))
	}
	out := s.asm.FinishColumns(in, transform.Selection(s.kept, n), s.cols)
	clear(s.cols)
	clear(s.rowVals) // no references to cached entries between batches
	return out, dead
}

func (j *joiner) missReason(s *scratch, row int) string {
	if col := s.keys.nullColumn(row); col != "" {
		return "enrich_miss: " + j.tmpl.src + ": " + col + " is null"
	}
	return "enrich_miss: " + s.keys.keys[s.keys.rowKey[row]]
}
