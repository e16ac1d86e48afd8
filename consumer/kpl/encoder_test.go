package kpl

import (
	"crypto/md5"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file is a KPL aggregate encoder for tests, written from the format
// description (messages.proto of the KPL), independently of the decoder.

// tRecord is one Record message. ehk < 0 means no explicit_hash_key_index.
type tRecord struct {
	pk   uint64
	ehk  int64
	data []byte
	tags [][2]string
}

// tAggregate is one AggregatedRecord message. With recordsFirst the records
// are written before the key tables (protobuf allows any field order).
type tAggregate struct {
	pks, ehks    []string
	recs         []tRecord
	recordsFirst bool
}

func (r tRecord) marshal() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, r.pk)
	if r.ehk >= 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.ehk))
	}
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, r.data)
	for _, t := range r.tags {
		var tag []byte
		tag = protowire.AppendTag(tag, 1, protowire.BytesType)
		tag = protowire.AppendString(tag, t[0])
		if t[1] != "" {
			tag = protowire.AppendTag(tag, 2, protowire.BytesType)
			tag = protowire.AppendString(tag, t[1])
		}
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, tag)
	}
	return b
}

func (a tAggregate) marshal() []byte {
	var tables, recs []byte
	for _, k := range a.pks {
		tables = protowire.AppendTag(tables, 1, protowire.BytesType)
		tables = protowire.AppendString(tables, k)
	}
	for _, k := range a.ehks {
		tables = protowire.AppendTag(tables, 2, protowire.BytesType)
		tables = protowire.AppendString(tables, k)
	}
	for _, r := range a.recs {
		recs = protowire.AppendTag(recs, 3, protowire.BytesType)
		recs = protowire.AppendBytes(recs, r.marshal())
	}
	if a.recordsFirst {
		return append(recs, tables...)
	}
	return append(tables, recs...)
}

// frame wraps a protobuf body into an aggregated record: magic, body, MD5.
func frame(body []byte) []byte {
	sum := md5.Sum(body)
	out := append([]byte(Magic), body...)
	return append(out, sum[:]...)
}

func (a tAggregate) bytes() []byte { return frame(a.marshal()) }

// encodeSubs builds a canonical aggregate from sub-records: each distinct
// key once in its table, in order of first use.
func encodeSubs(subs []SubRecord) []byte {
	var a tAggregate
	pkIdx, ehkIdx := map[string]int{}, map[string]int{}
	for _, s := range subs {
		i, ok := pkIdx[s.PartitionKey]
		if !ok {
			i = len(a.pks)
			pkIdx[s.PartitionKey] = i
			a.pks = append(a.pks, s.PartitionKey)
		}
		r := tRecord{pk: uint64(i), ehk: -1, data: s.Data}
		if s.ExplicitHashKey != "" {
			j, ok := ehkIdx[s.ExplicitHashKey]
			if !ok {
				j = len(a.ehks)
				ehkIdx[s.ExplicitHashKey] = j
				a.ehks = append(a.ehks, s.ExplicitHashKey)
			}
			r.ehk = int64(j)
		}
		a.recs = append(a.recs, r)
	}
	return a.bytes()
}

// appendField appends one raw protobuf field, for hand-built bodies.
func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}
