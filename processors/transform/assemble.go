package transform

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
)

// AppendSchema returns in's fields followed by extra, or an error naming the
// first extra field whose name is empty or already taken.
func AppendSchema(in *arrow.Schema, extra ...arrow.Field) (*arrow.Schema, error) {
	fields := make([]arrow.Field, 0, in.NumFields()+len(extra))
	fields = append(fields, in.Fields()...)
	seen := make(map[string]bool, cap(fields))
	for _, f := range fields {
		seen[f.Name] = true
	}
	for _, f := range extra {
		switch {
		case f.Name == "":
			return nil, fmt.Errorf("transform: appended column name must not be empty")
		case seen[f.Name]:
			return nil, fmt.Errorf("transform: appended column %q already exists", f.Name)
		}
		seen[f.Name] = true
		fields = append(fields, f)
	}
	md := in.Metadata()
	return arrow.NewSchema(fields, &md), nil
}

// CheckSchema returns an error wrapping ErrSchemaMismatch unless got is want
// (the common case: every batch of a decoder shares its schema pointer) or
// equal to it.
func CheckSchema(stage string, want, got *arrow.Schema) error {
	if got == want || got.Equal(want) {
		return nil
	}
	return fmt.Errorf("%s: %w: built for %v, got %v", stage, ErrSchemaMismatch, want, got)
}

// Assembler builds the output batches of one stage: the input's columns,
// restricted to the kept rows, followed by the columns the stage computes.
// It keeps its builders between batches, so one goroutine uses it at a
// time; stages keep one per concurrent call in a Pool.
type Assembler struct {
	mem      memory.Allocator
	out      *arrow.Schema
	nIn      int
	appended []array.Builder
	take     []array.Builder // per input column, created on first use
	arrs     []arrow.Array   // scratch for Finish
	computed []arrow.Array   // scratch for Finish
}

// NewAssembler returns an Assembler for output schema out, whose first nIn
// fields are the input's and whose other fields are computed.
func NewAssembler(mem memory.Allocator, out *arrow.Schema, nIn int) *Assembler {
	a := &Assembler{mem: mem, out: out, nIn: nIn, take: make([]array.Builder, nIn)}
	for _, f := range out.Fields()[nIn:] {
		a.appended = append(a.appended, array.NewBuilder(mem, f.Type))
	}
	return a
}

// Schema returns the output schema.
func (a *Assembler) Schema() *arrow.Schema { return a.out }

// Appended returns the builder of computed column i (0 is the first field
// after the input's). Finish expects every appended builder to hold one
// value per output row, in output order.
func (a *Assembler) Appended(i int) array.Builder { return a.appended[i] }

// Reserve reserves room for n rows in every appended builder.
func (a *Assembler) Reserve(n int) {
	for _, b := range a.appended {
		b.Reserve(n)
	}
}

// Finish returns the output batch and resets the builders. rows lists the
// kept input rows in increasing order; nil keeps every row, in which case
// the input's columns are shared (retained), not copied. The caller owns the
// result.
func (a *Assembler) Finish(in *flow.Batch, rows []int) *flow.Batch {
	a.computed = a.computed[:0]
	for _, b := range a.appended {
		a.computed = append(a.computed, b.NewArray())
	}
	out := a.FinishColumns(in, rows, a.computed)
	clear(a.computed)
	return out
}

// FinishColumns is Finish with the computed columns given as arrays, one per
// appended field, each of the output's length, instead of taken from the
// builders (which stay untouched). It takes over the references of
// computed.
func (a *Assembler) FinishColumns(in *flow.Batch, rows []int, computed []arrow.Array) *flow.Batch {
	n := in.Rows()
	origins := in.Origins
	a.arrs = a.arrs[:0]
	if rows == nil {
		for i := range a.nIn {
			col := in.Record.Column(i)
			col.Retain() // released with the other arrays below
			a.arrs = append(a.arrs, col)
		}
	} else {
		n = len(rows)
		origins = make([]flow.RowOrigin, len(rows))
		for j, r := range rows {
			origins[j] = in.Origins[r]
		}
		for i := range a.nIn {
			a.arrs = append(a.arrs, a.takeColumn(i, in.Record.Column(i), rows))
		}
	}
	a.arrs = append(a.arrs, computed...)
	rec := array.NewRecordBatch(a.out, a.arrs, int64(n))
	for i, arr := range a.arrs {
		arr.Release()
		a.arrs[i] = nil
	}
	return &flow.Batch{Record: rec, Shard: in.Shard, Origins: origins}
}

// Selection returns kept as Finish's rows argument for a batch of n rows:
// nil when every row is kept, never nil otherwise.
func Selection(kept []int, n int) []int {
	if len(kept) == n {
		return nil
	}
	if kept == nil {
		return []int{}
	}
	return kept
}

// Release frees the builders. The Assembler must not be used afterwards.
func (a *Assembler) Release() {
	for _, b := range a.appended {
		b.Release()
	}
	for _, b := range a.take {
		if b != nil {
			b.Release()
		}
	}
	a.appended, a.take = nil, nil
}

func (a *Assembler) takeColumn(i int, col arrow.Array, rows []int) arrow.Array {
	if len(rows) == col.Len() { // rows are increasing: all of them
		col.Retain()
		return col
	}
	if lo, ok := contiguous(rows); ok {
		return array.NewSlice(col, int64(lo), int64(lo+len(rows)))
	}
	b := a.take[i]
	if b == nil {
		b = array.NewBuilder(a.mem, col.DataType())
		a.take[i] = b
	}
	return take(a.mem, b, col, rows)
}

// contiguous reports whether increasing rows form one run, and its start.
func contiguous(rows []int) (int, bool) {
	if len(rows) == 0 {
		return 0, true
	}
	return rows[0], rows[len(rows)-1]-rows[0] == len(rows)-1
}
