package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/axiomhq/hyperloglog"
)

// Group keys are the group-by values of a row, encoded so that equal
// values give equal bytes: per column 0x00 for null, or 0x01 and the
// value (int64/timestamp and float64 as 8 big-endian bytes, bool as one
// byte, string as its uvarint length and bytes).

// appendGroupKey appends row's group key to dst.
func appendGroupKey(dst []byte, cols []column, kinds []kind, row int) []byte {
	for i := range cols {
		c := &cols[i]
		if c.arr.IsNull(row) {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		switch kinds[i] {
		case kindInt:
			dst = binary.BigEndian.AppendUint64(dst, uint64(c.ints[row]))
		case kindFloat:
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(c.flts[row]))
		case kindString:
			s := c.strs.Value(row)
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		case kindBool:
			if c.bols.Value(row) {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		}
	}
	return dst
}

// groupValue is one decoded group-key column value.
type groupValue struct {
	null bool
	v    value
}

// decodeGroupKey splits a group key into its column values.
func decodeGroupKey(key string, kinds []kind, dst []groupValue) ([]groupValue, error) {
	dst = dst[:0]
	b := []byte(key)
	for _, k := range kinds {
		if len(b) == 0 {
			return nil, errors.New("group key too short")
		}
		tag := b[0]
		b = b[1:]
		if tag == 0 {
			dst = append(dst, groupValue{null: true})
			continue
		}
		var gv groupValue
		switch k {
		case kindInt, kindFloat:
			if len(b) < 8 {
				return nil, errors.New("group key too short")
			}
			u := binary.BigEndian.Uint64(b)
			gv.v.i, gv.v.f = int64(u), math.Float64frombits(u)
			b = b[8:]
		case kindString:
			n, w := binary.Uvarint(b)
			if w <= 0 || uint64(len(b)-w) < n {
				return nil, errors.New("group key: bad string")
			}
			gv.v.s = string(b[w : w+int(n)])
			b = b[w+int(n):]
		case kindBool:
			if len(b) < 1 {
				return nil, errors.New("group key too short")
			}
			gv.v.i = int64(b[0])
			b = b[1:]
		}
		dst = append(dst, gv)
	}
	if len(b) != 0 {
		return nil, errors.New("group key too long")
	}
	return dst, nil
}

const deltaVersion = 1

// encodeDelta serialises one window's partial aggregates:
//
//	version byte, uvarint groups, then per group: uvarint key length,
//	key, and per aggregate: uvarint n and, when n > 0, its payload.
func encodeDelta(dst []byte, plans []aggPlan, w *windowGroups, groups *groupIndex) ([]byte, error) {
	dst = append(dst, deltaVersion)
	dst = binary.AppendUvarint(dst, uint64(len(w.ids)))
	for g, id := range w.ids {
		key, states := groups.key(id), w.states[g]
		dst = binary.AppendUvarint(dst, uint64(len(key)))
		dst = append(dst, key...)
		for i := range plans {
			var err error
			if dst, err = plans[i].appendState(dst, &states[i]); err != nil {
				return nil, err
			}
		}
	}
	return dst, nil
}

func appendValue(dst []byte, k kind, st *state) []byte {
	switch k {
	case kindFloat:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(st.f))
	case kindString:
		dst = binary.AppendUvarint(dst, uint64(len(st.s)))
		return append(dst, st.s...)
	default:
		return binary.AppendVarint(dst, st.i)
	}
}

func (p *aggPlan) appendState(dst []byte, st *state) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(st.n))
	if st.n == 0 {
		return dst, nil
	}
	switch p.Func {
	case Sum:
		dst = appendValue(dst, p.kind, st)
	case Avg:
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(st.f))
	case Min, Max:
		dst = appendValue(dst, p.kind, st)
	case First, Last:
		dst = appendValue(dst, p.kind, st)
		dst = binary.AppendVarint(dst, st.t)
	case CountDistinct:
		// 0, count, hashes (8 bytes each) | 1, length, sketch.
		if st.hll == nil {
			dst = append(dst, 0)
			dst = binary.AppendUvarint(dst, uint64(len(st.hashes)))
			for _, h := range st.hashes {
				dst = binary.LittleEndian.AppendUint64(dst, h)
			}
			break
		}
		b, err := st.hll.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("aggregate %s: encode sketch: %w", p.Name, err)
		}
		dst = append(dst, 1)
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		dst = append(dst, b...)
	}
	return dst, nil
}

// deltaReader decodes a delta.
type deltaReader struct {
	b   []byte
	err error
}

func (r *deltaReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *deltaReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *deltaReader) bytes(n uint64) []byte {
	if uint64(len(r.b)) < n {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *deltaReader) fail() {
	if r.err == nil {
		r.err = errors.New("window delta: truncated or corrupt")
	}
	r.b = nil
}

func (r *deltaReader) value(k kind, st *state) {
	switch k {
	case kindFloat:
		if b := r.bytes(8); b != nil {
			st.f = math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
	case kindString:
		st.s = string(r.bytes(r.uvarint()))
	default:
		st.i = r.varint()
	}
}

// state decodes one aggregate state.
func (r *deltaReader) state(p *aggPlan, st *state) error {
	*st = state{n: int64(r.uvarint())}
	if st.n == 0 {
		return nil
	}
	switch p.Func {
	case Sum, Min, Max:
		r.value(p.kind, st)
	case Avg:
		if b := r.bytes(8); b != nil {
			st.f = math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
	case First, Last:
		r.value(p.kind, st)
		st.t = r.varint()
	case CountDistinct:
		tag := r.bytes(1)
		if r.err != nil {
			return nil
		}
		if tag[0] == 0 {
			n := r.uvarint()
			raw := r.bytes(8 * n)
			if r.err != nil {
				return nil
			}
			st.hashes = make([]uint64, n)
			for i := range st.hashes {
				st.hashes[i] = binary.LittleEndian.Uint64(raw[8*i:])
			}
			return nil
		}
		raw := r.bytes(r.uvarint())
		if r.err != nil {
			return nil
		}
		st.hll = hyperloglog.New14()
		if err := st.hll.UnmarshalBinary(raw); err != nil {
			return fmt.Errorf("window delta: aggregate %s: %w", p.Name, err)
		}
	}
	return nil
}

// mergeDelta decodes a delta and merges it into groups.
func mergeDelta(blob []byte, plans []aggPlan, groups map[string][]state) error {
	r := deltaReader{b: blob}
	if v := r.bytes(1); v == nil || v[0] != deltaVersion {
		return fmt.Errorf("window delta: unknown version")
	}
	n := r.uvarint()
	tmp := make([]state, len(plans))
	for g := uint64(0); g < n && r.err == nil; g++ {
		key := string(r.bytes(r.uvarint()))
		for i := range plans {
			if err := r.state(&plans[i], &tmp[i]); err != nil {
				return err
			}
		}
		if r.err != nil {
			break
		}
		dst, ok := groups[key]
		if !ok {
			dst = make([]state, len(plans))
			groups[key] = dst
		}
		for i := range plans {
			if err := plans[i].merge(&dst[i], &tmp[i]); err != nil {
				return err
			}
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	return r.err
}
