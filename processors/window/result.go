package window

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var timestampUS = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// resultSchema is window_start, window_end, the group columns, the
// aggregates, revision (late_rows update only), then row_id.
func resultSchema(in *arrow.Schema, groupCols []int, plans []aggPlan, revision bool) *arrow.Schema {
	fields := []arrow.Field{
		{Name: "window_start", Type: timestampUS},
		{Name: "window_end", Type: timestampUS},
	}
	for _, c := range groupCols {
		f := in.Field(c)
		fields = append(fields, arrow.Field{Name: f.Name, Type: f.Type, Nullable: f.Nullable})
	}
	for _, p := range plans {
		nullable := p.Func != Count && p.Func != CountDistinct
		fields = append(fields, arrow.Field{Name: p.Name, Type: p.out, Nullable: nullable})
	}
	if revision {
		fields = append(fields, arrow.Field{Name: "revision", Type: arrow.PrimitiveTypes.Int64})
	}
	fields = append(fields, arrow.Field{Name: "row_id", Type: arrow.BinaryTypes.String})
	return arrow.NewSchema(fields, nil)
}

// RowID is the deterministic id of the result row of one window and group:
// the first 16 bytes of SHA-256 over pipeline, operator, window start and
// group key, in hex. Re-emissions carry the same id, so downstream can
// deduplicate (Redshift MERGE, Athena DISTINCT).
func RowID(pipeline, operator string, windowStart int64, groupKey string) string {
	h := sha256.New()
	h.Write([]byte(pipeline))
	h.Write([]byte{0})
	h.Write([]byte(operator))
	h.Write([]byte{0})
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(windowStart))
	h.Write(b[:])
	h.Write([]byte(groupKey))
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// closedWindow is one window's merged aggregates.
type closedWindow struct {
	start  int64
	end    int64 // 0: start + size (tumbling/hopping)
	groups map[string][]state
	// only, when set, limits the rows to these groups (a late update).
	only map[string]bool
	// revision counts the deltas merged into the window (late_rows
	// update): a later emission of a row id has a higher revision.
	revision int64
}

// buildResult turns merged windows into one record batch, ordered by
// window start and group key (so a re-emission is identical).
func (op *Operator) buildResult(mem memory.Allocator, windows []closedWindow) (arrow.RecordBatch, int, error) {
	schema := op.ResultSchema()
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	sort.SliceStable(windows, func(i, j int) bool { return windows[i].start < windows[j].start })
	var gvals []groupValue
	rows := 0
	for _, w := range windows {
		keys := make([]string, 0, len(w.groups))
		for k := range w.groups {
			if w.only == nil || w.only[k] {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, key := range keys {
			states := w.groups[key]
			var err error
			if gvals, err = decodeGroupKey(key, op.groupKinds, gvals); err != nil {
				return nil, 0, fmt.Errorf("window %s: %w", op.o.Name, err)
			}
			b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(w.start))
			end := w.end
			if end == 0 {
				end = w.start + op.sizeUS
			}
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(end))
			col := 2
			for i, gv := range gvals {
				if gv.null {
					b.Field(col).AppendNull()
				} else {
					appendValueTo(b.Field(col), op.groupKinds[i], gv.v)
				}
				col++
			}
			for i := range op.plans {
				op.plans[i].appendResult(b.Field(col), &states[i])
				col++
			}
			if op.o.LateRows == LateUpdate {
				b.Field(col).(*array.Int64Builder).Append(w.revision)
				col++
			}
			b.Field(col).(*array.StringBuilder).Append(RowID(op.o.Pipeline, op.o.Name, w.start, key))
			rows++
		}
	}
	return b.NewRecordBatch(), rows, nil
}

func appendValueTo(bld array.Builder, k kind, v value) {
	switch bb := bld.(type) {
	case *array.Int64Builder:
		bb.Append(v.i)
	case *array.TimestampBuilder:
		bb.Append(arrow.Timestamp(v.i))
	case *array.Float64Builder:
		if k == kindInt {
			bb.Append(float64(v.i))
		} else {
			bb.Append(v.f)
		}
	case *array.StringBuilder:
		bb.Append(v.s)
	case *array.BooleanBuilder:
		bb.Append(v.i != 0)
	default:
		bld.AppendNull()
	}
}

func (p *aggPlan) appendResult(bld array.Builder, st *state) {
	switch p.Func {
	case Count:
		bld.(*array.Int64Builder).Append(st.n)
	case CountDistinct:
		bld.(*array.Int64Builder).Append(st.distinct())
	case Avg:
		if st.n == 0 {
			bld.AppendNull()
			return
		}
		bld.(*array.Float64Builder).Append(st.f / float64(st.n))
	default:
		if st.n == 0 {
			bld.AppendNull()
			return
		}
		appendValueTo(bld, p.kind, st.val())
	}
}
