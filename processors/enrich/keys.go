package enrich

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// batchKeys holds the keys of one batch: each row's key as an index into
// the batch's distinct keys. Rendering a batch's keys allocates once per
// batch, not per row or per key: every key is rendered into one buffer,
// the buffer becomes one string, and the distinct keys are substrings of it.
type batchKeys struct {
	buf    []byte
	off    []int32 // row i's key is buf[off[i]:off[i+1]]
	null   []string
	rowKey []int32          // index into keys; -1 when a key column is null
	keys   []string         // distinct keys (every row's when built without distinct)
	index  map[string]int32 // key -> index into keys
}

// build renders the key of every row of rec as prefix + template. With
// distinct, keys holds each key once (a fetch asks for each once);
// otherwise keys holds every row's key (no deduplication to pay for when
// each key costs one in-memory lookup anyway).
func (k *batchKeys) build(t *template, prefix string, rec arrow.RecordBatch, distinct bool) {
	n := int(rec.NumRows())
	k.buf = k.buf[:0]
	k.off = append(k.off[:0], 0)
	k.null = k.null[:0]
	for row := range n {
		start := len(k.buf)
		k.buf = append(k.buf, prefix...)
		var nullCol string
		k.buf, nullCol = t.appendRow(k.buf, rec, row)
		if nullCol != "" {
			k.buf = k.buf[:start]
			for len(k.null) < row {
				k.null = append(k.null, "")
			}
			k.null = append(k.null, nullCol)
		}
		k.off = append(k.off, int32(len(k.buf)))
	}
	all := string(k.buf)
	if distinct && k.index == nil {
		k.index = make(map[string]int32)
	}
	k.rowKey = k.rowKey[:0]
	k.keys = k.keys[:0]
	for row := range n {
		if row < len(k.null) && k.null[row] != "" {
			k.rowKey = append(k.rowKey, -1)
			continue
		}
		key := all[k.off[row]:k.off[row+1]]
		if !distinct {
			k.rowKey = append(k.rowKey, int32(len(k.keys)))
			k.keys = append(k.keys, key)
			continue
		}
		i, ok := k.index[key]
		if !ok {
			i = int32(len(k.keys))
			k.index[key] = i
			k.keys = append(k.keys, key)
		}
		k.rowKey = append(k.rowKey, i)
	}
}

// nullColumn returns the key column that is null in row, or "".
func (k *batchKeys) nullColumn(row int) string {
	if row < len(k.null) {
		return k.null[row]
	}
	return ""
}

// reset drops the references to the batch's keys.
func (k *batchKeys) reset() {
	clear(k.index)
	clear(k.keys)
	k.keys = k.keys[:0]
}
