package window

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/axiomhq/hyperloglog"
	"github.com/cespare/xxhash/v2"
)

// kind is how a column's values are held in aggregate state.
type kind uint8

const (
	kindInt    kind = iota + 1 // int64 and timestamp (microseconds)
	kindFloat                  // float64
	kindString                 // string
	kindBool                   // bool (as 0/1 in i)
)

// kindOf maps an input column type to its kind.
func kindOf(dt arrow.DataType) (kind, error) {
	switch dt.ID() {
	case arrow.INT64, arrow.TIMESTAMP:
		return kindInt, nil
	case arrow.FLOAT64:
		return kindFloat, nil
	case arrow.STRING:
		return kindString, nil
	case arrow.BOOL:
		return kindBool, nil
	}
	return 0, fmt.Errorf("column type %s is not supported", dt)
}

// aggPlan is one aggregate compiled against the input schema.
type aggPlan struct {
	Aggregate
	col  int // input column index; -1 for count of rows
	kind kind
	out  arrow.DataType // result column type
}

func compileAggregate(schema *arrow.Schema, a Aggregate) (aggPlan, error) {
	p := aggPlan{Aggregate: a, col: -1}
	if a.Column == "" {
		p.out = arrow.PrimitiveTypes.Int64
		return p, nil
	}
	idx := schema.FieldIndices(a.Column)
	if len(idx) != 1 {
		return p, fmt.Errorf("aggregate %s: column %q is not in the schema", a.Name, a.Column)
	}
	p.col = idx[0]
	dt := schema.Field(p.col).Type
	k, err := kindOf(dt)
	if err != nil {
		return p, fmt.Errorf("aggregate %s: column %q: %w", a.Name, a.Column, err)
	}
	p.kind = k
	numeric := k == kindInt && dt.ID() == arrow.INT64 || k == kindFloat
	switch a.Func {
	case Count, CountDistinct:
		p.out = arrow.PrimitiveTypes.Int64
	case Sum:
		if !numeric {
			return p, fmt.Errorf("aggregate %s: sum needs an int64 or float64 column, %q is %s", a.Name, a.Column, dt)
		}
		p.out = dt
	case Avg:
		if !numeric {
			return p, fmt.Errorf("aggregate %s: avg needs an int64 or float64 column, %q is %s", a.Name, a.Column, dt)
		}
		p.out = arrow.PrimitiveTypes.Float64
	case Min, Max:
		if k == kindBool {
			return p, fmt.Errorf("aggregate %s: %s of a bool column is not supported", a.Name, a.Func)
		}
		p.out = dt
	case First, Last:
		p.out = dt
	}
	return p, nil
}

// state is the partial aggregate of one function over one group in one
// window. n counts the values folded in (rows for count of rows); i, f and
// s hold the value by kind; t is the event time of first/last.
type state struct {
	n int64
	i int64
	f float64
	s string
	t int64
	// count_distinct: the distinct value hashes while there are few
	// (exact, and far cheaper than a sketch per group per flush), then a
	// HyperLogLog sketch.
	hashes []uint64
	hll    *hyperloglog.Sketch
}

// maxExactHashes is how many distinct hashes a count_distinct state keeps
// before it turns into a sketch.
const maxExactHashes = 128

// addHash folds one value hash into a count_distinct state.
func (st *state) addHash(h uint64) {
	if st.hll != nil {
		st.hll.InsertHash(h)
		return
	}
	for _, x := range st.hashes {
		if x == h {
			return
		}
	}
	if len(st.hashes) < maxExactHashes {
		if cap(st.hashes) == 0 {
			st.hashes = make([]uint64, 0, 4)
		}
		st.hashes = append(st.hashes, h)
		return
	}
	st.hll = hyperloglog.New14()
	for _, x := range st.hashes {
		st.hll.InsertHash(x)
	}
	st.hashes = nil
	st.hll.InsertHash(h)
}

// distinct is a count_distinct state's estimate (exact while it holds
// hashes).
func (st *state) distinct() int64 {
	if st.hll != nil {
		return int64(st.hll.Estimate())
	}
	return int64(len(st.hashes))
}

// column gives typed access to one input column of a batch.
type column struct {
	arr  arrow.Array
	ints []int64
	flts []float64
	strs *array.String
	bols *array.Boolean
}

func newColumn(arr arrow.Array) column {
	c := column{arr: arr}
	switch a := arr.(type) {
	case *array.Int64:
		c.ints = a.Int64Values()
	case *array.Timestamp:
		vals := a.TimestampValues()
		c.ints = unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(vals))), len(vals))
	case *array.Float64:
		c.flts = a.Float64Values()
	case *array.String:
		c.strs = a
	case *array.Boolean:
		c.bols = a
	}
	return c
}

// value is one input value, unboxed.
type value struct {
	i int64
	f float64
	s string // borrowed from the batch
}

func (c *column) value(k kind, row int) value {
	switch k {
	case kindInt:
		return value{i: c.ints[row]}
	case kindFloat:
		return value{f: c.flts[row]}
	case kindString:
		return value{s: c.strs.Value(row)}
	case kindBool:
		if c.bols.Value(row) {
			return value{i: 1}
		}
	}
	return value{}
}

// less orders values of one kind (floats by IEEE total order of their
// values; NaN sorts last).
func less(k kind, a, b value) bool {
	switch k {
	case kindFloat:
		return a.f < b.f || (!math.IsNaN(a.f) && math.IsNaN(b.f))
	case kindString:
		return a.s < b.s
	default:
		return a.i < b.i
	}
}

func (st *state) val() value { return value{i: st.i, f: st.f, s: st.s} }

func (st *state) set(k kind, v value) {
	switch k {
	case kindString:
		if st.s != v.s {
			st.s = strings.Clone(v.s)
		}
	case kindFloat:
		st.f = v.f
	default:
		st.i = v.i
	}
}

// hashValue hashes a value for count_distinct.
func hashValue(k kind, v value) uint64 {
	switch k {
	case kindString:
		return xxhash.Sum64String(v.s)
	case kindFloat:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v.f))
		return xxhash.Sum64(b[:])
	default:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v.i))
		return xxhash.Sum64(b[:])
	}
}

// add folds one value with event time ts into st.
func (p *aggPlan) add(st *state, v value, ts int64) {
	switch p.Func {
	case Count:
	case Sum, Avg:
		if p.kind == kindFloat {
			st.f += v.f
		} else if p.Func == Avg {
			st.f += float64(v.i)
		} else {
			st.i += v.i
		}
	case Min:
		if st.n == 0 || less(p.kind, v, st.val()) {
			st.set(p.kind, v)
		}
	case Max:
		if st.n == 0 || less(p.kind, st.val(), v) {
			st.set(p.kind, v)
		}
	case First:
		// Ties on event time go to the smaller value, so that the result
		// does not depend on the order rows were folded in.
		if st.n == 0 || ts < st.t || ts == st.t && less(p.kind, v, st.val()) {
			st.set(p.kind, v)
			st.t = ts
		}
	case Last:
		if st.n == 0 || ts > st.t || ts == st.t && less(p.kind, st.val(), v) {
			st.set(p.kind, v)
			st.t = ts
		}
	case CountDistinct:
		st.addHash(hashValue(p.kind, v))
	}
	st.n++
}

// merge folds the partial src into dst.
func (p *aggPlan) merge(dst, src *state) error {
	if src.n == 0 {
		return nil
	}
	switch p.Func {
	case Sum, Avg:
		dst.i += src.i
		dst.f += src.f
	case Min, Max, First, Last:
		if dst.n == 0 {
			dst.set(p.kind, src.val())
			dst.t = src.t
			break
		}
		// Folding src's value with its event time gives the same result
		// as having seen the row itself.
		n := dst.n
		p.add(dst, src.val(), src.t)
		dst.n = n
	case CountDistinct:
		if src.hll != nil {
			if dst.hll == nil {
				dst.hll = hyperloglog.New14()
				for _, x := range dst.hashes {
					dst.hll.InsertHash(x)
				}
				dst.hashes = nil
			}
			if err := dst.hll.Merge(src.hll); err != nil {
				return fmt.Errorf("aggregate %s: merge sketches: %w", p.Name, err)
			}
		}
		for _, x := range src.hashes {
			dst.addHash(x)
		}
	}
	dst.n += src.n
	return nil
}
