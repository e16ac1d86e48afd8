package window

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestGroupIndexIDs checks that rows get the same id exactly when their
// encoded group keys are equal, that an id's key is that encoding, and
// that nulls differ from empty strings and zeros — for the tuple path (up
// to 3 columns) and the encoded-key path (4 columns).
func TestGroupIndexIDs(t *testing.T) {
	mem := memory.NewGoAllocator()
	const n = 3000
	sb := array.NewStringBuilder(mem)
	ib := array.NewInt64Builder(mem)
	fb := array.NewFloat64Builder(mem)
	bb := array.NewBooleanBuilder(mem)
	for r := range n {
		switch {
		case r%17 == 0:
			sb.AppendNull()
		case r%13 == 0:
			sb.Append("")
		default:
			sb.Append(fmt.Sprintf("s%d", r%23))
		}
		if r%11 == 0 {
			ib.AppendNull()
		} else {
			ib.Append(int64(r%5) - 2)
		}
		if r%19 == 0 {
			fb.AppendNull()
		} else {
			fb.Append(float64(r%3) / 2)
		}
		bb.Append(r%2 == 0)
	}
	arrs := []arrow.Array{sb.NewArray(), ib.NewArray(), fb.NewArray(), bb.NewArray()}
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	for _, ncols := range []int{1, 2, 3, 4} {
		cols := make([]column, ncols)
		kinds := make([]kind, ncols)
		for i := range ncols {
			cols[i] = newColumn(arrs[i])
			kinds[i], _ = kindOf(arrs[i].DataType())
		}
		g := newGroupIndex(kinds)
		byKey := map[string]int32{}
		for pass := range 2 { // the second pass finds every id again
			for r := range n {
				id := g.id(cols, r)
				key := string(appendGroupKey(nil, cols, kinds, r))
				if string(g.key(id)) != key {
					t.Fatalf("%d columns, row %d: id %d has key %q, row's key is %q", ncols, r, id, g.key(id), key)
				}
				if want, ok := byKey[key]; ok && want != id {
					t.Fatalf("%d columns, pass %d, row %d: id %d, earlier %d for the same key", ncols, pass, r, id, want)
				}
				byKey[key] = id
			}
		}
		if g.len() != len(byKey) {
			t.Errorf("%d columns: %d ids for %d distinct keys", ncols, g.len(), len(byKey))
		}
		t.Logf("%d columns: %d groups", ncols, len(byKey))
	}
}

// TestGroupIndexResetsPastItsBounds: an index grown past maxGroupIDs says
// so, and after reset it starts from id 0 with a small table.
func TestGroupIndexResetsPastItsBounds(t *testing.T) {
	mem := memory.NewGoAllocator()
	b := array.NewInt64Builder(mem)
	for r := range maxGroupIDs + 1 {
		b.Append(int64(r))
	}
	arr := b.NewArray()
	defer arr.Release()
	cols := []column{newColumn(arr)}
	g := newGroupIndex([]kind{kindInt})
	for r := range arr.Len() {
		g.id(cols, r)
	}
	if !g.full() || g.len() != maxGroupIDs+1 {
		t.Fatalf("after %d groups: full %v, len %d", arr.Len(), g.full(), g.len())
	}
	g.reset()
	if g.full() || g.len() != 0 || len(g.slots) != 1024 {
		t.Fatalf("after reset: full %v, len %d, %d slots", g.full(), g.len(), len(g.slots))
	}
	if id := g.id(cols, 7); id != 0 || string(g.key(0)) != string(appendGroupKey(nil, cols, []kind{kindInt}, 7)) {
		t.Errorf("first id after reset = %d, key %q", id, g.key(0))
	}
}
