package kpl

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Magic is the 4-byte header of a KPL aggregated record.
const Magic = "\xf3\x89\x9a\xc2"

// digestSize is the length of the MD5 trailer of an aggregated record.
const digestSize = md5.Size

// Field numbers of the KPL's messages.proto.
const (
	fieldPartitionKeyTable    protowire.Number = 1 // AggregatedRecord: repeated string
	fieldExplicitHashKeyTable protowire.Number = 2 // AggregatedRecord: repeated string
	fieldRecords              protowire.Number = 3 // AggregatedRecord: repeated Record

	fieldPartitionKeyIndex    protowire.Number = 1 // Record: required uint64
	fieldExplicitHashKeyIndex protowire.Number = 2 // Record: optional uint64
	fieldData                 protowire.Number = 3 // Record: required bytes
	fieldTags                 protowire.Number = 4 // Record: repeated Tag

	fieldTagKey   protowire.Number = 1 // Tag: required string
	fieldTagValue protowire.Number = 2 // Tag: optional string
)

// SubRecord is one user record of an aggregate.
type SubRecord struct {
	// Data is a sub-slice of the aggregate's bytes (not a copy).
	Data []byte
	// PartitionKey and ExplicitHashKey come from the aggregate's key tables;
	// sub-records that share a key share its string. ExplicitHashKey is ""
	// when the sub-record has none.
	PartitionKey    string
	ExplicitHashKey string
}

// CorruptError says why an aggregate (magic and MD5 valid) cannot be
// de-aggregated. It is the only kind of error Deaggregate returns.
type CorruptError struct {
	// Detail is a short, deterministic description for humans (it never
	// contains a NUL byte).
	Detail string
}

func (e *CorruptError) Error() string { return "kpl: corrupt aggregate: " + e.Detail }

func corrupt(format string, args ...any) *CorruptError {
	return &CorruptError{Detail: fmt.Sprintf(format, args...)}
}

// Deaggregate splits one Kinesis record's data into the user records of a
// KPL aggregate.
//
//   - Not an aggregate (no magic, too short for an MD5 trailer, or an MD5
//     that does not match): nil, false, nil. The KPL format says such a
//     record is a plain user record, so the caller passes it on as is.
//   - A valid aggregate: its sub-records in order, true, nil. There is at
//     least one.
//   - Magic and MD5 valid but the content is not a well-formed
//     AggregatedRecord (malformed protobuf, a wire type that does not match
//     the schema, a missing required field, a key index outside its table,
//     or no records at all): nil, true, *CorruptError.
//
// The result never aliases anything but data: sub-record Data are
// sub-slices of it, and all the keys of one aggregate share one string
// allocation, so the cost is three allocations per aggregate whatever the
// number of sub-records. Nothing is allocated for a corrupt aggregate but the
// error.
func Deaggregate(data []byte) (subs []SubRecord, isAggregate bool, err error) {
	msg, ok := aggregateBody(data)
	if !ok {
		return nil, false, nil
	}
	subs, cerr := decodeAggregate(msg)
	if cerr != nil {
		// Returned as a plain nil error when there is none: a nil
		// *CorruptError in an error interface would not compare equal to nil.
		return nil, true, cerr
	}
	return subs, true, nil
}

// IsAggregate reports whether data carries the KPL magic and a matching
// MD5, that is whether Deaggregate (and every other KPL de-aggregator) treats
// it as an aggregate rather than as a plain record.
func IsAggregate(data []byte) bool {
	_, ok := aggregateBody(data)
	return ok
}

// aggregateBody returns the protobuf between the magic and the MD5 trailer
// when data is an aggregate.
func aggregateBody(data []byte) ([]byte, bool) {
	if len(data) < len(Magic)+digestSize || string(data[:len(Magic)]) != Magic {
		return nil, false
	}
	msg := data[len(Magic) : len(data)-digestSize]
	sum := md5.Sum(msg)
	if !bytes.Equal(sum[:], data[len(data)-digestSize:]) {
		return nil, false
	}
	return msg, true
}

// tableCounts is what the validating pass learns about an aggregate.
type tableCounts struct {
	partitionKeys, explicitHashKeys, records int
	keyBytes                                 int
}

// decodeAggregate decodes a protobuf AggregatedRecord. It validates
// everything first (walk 1), so that a corrupt aggregate allocates nothing,
// then copies all keys into one string (walk 2) and builds the result
// (walk 3). Walking the top-level fields costs a varint and a length per
// field; the alternatives (a string per key, or copying the whole message)
// cost an allocation per distinct key or a copy of the whole data.
func decodeAggregate(msg []byte) ([]SubRecord, *CorruptError) {
	c, cerr := validateAggregate(msg)
	if cerr != nil {
		return nil, cerr
	}

	// Walk 2: one string holding every key of both tables, in message order.
	var sb strings.Builder
	sb.Grow(c.keyBytes)
	for b := msg; len(b) > 0; {
		num, v, n := nextField(b)
		b = b[n:]
		if num == fieldPartitionKeyTable || num == fieldExplicitHashKeyTable {
			sb.Write(v)
		}
	}
	all := sb.String()

	// Walk 3: slice the keys out of that string, and park each record's
	// body in its SubRecord until the tables are complete (a record may come
	// before the table entries it refers to).
	keys := make([]string, c.partitionKeys+c.explicitHashKeys)
	pks, ehks := keys[:c.partitionKeys], keys[c.partitionKeys:]
	subs := make([]SubRecord, c.records)
	var off, npk, nehk, nrec int
	for b := msg; len(b) > 0; {
		num, v, n := nextField(b)
		b = b[n:]
		switch num {
		case fieldPartitionKeyTable:
			pks[npk] = all[off : off+len(v)]
			npk++
			off += len(v)
		case fieldExplicitHashKeyTable:
			ehks[nehk] = all[off : off+len(v)]
			nehk++
			off += len(v)
		case fieldRecords:
			subs[nrec].Data = v
			nrec++
		}
	}
	for i := range subs {
		// Already validated, indexes included: this cannot fail.
		r, _ := parseRecord(subs[i].Data)
		subs[i].Data = r.data
		subs[i].PartitionKey = pks[r.pk]
		if r.hasEHK {
			subs[i].ExplicitHashKey = ehks[r.ehk]
		}
	}
	return subs, nil
}

// nextField returns the number and value of the first field of an
// already-validated message, and its total length. Only length-delimited
// values are returned; others are skipped.
func nextField(b []byte) (protowire.Number, []byte, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if typ == protowire.BytesType {
		v, m := protowire.ConsumeBytes(b[n:])
		return num, v, n + m
	}
	return num, nil, n + protowire.ConsumeFieldValue(num, typ, b[n:])
}

// validateAggregate checks the whole message and counts what
// decodeAggregate must allocate.
func validateAggregate(msg []byte) (tableCounts, *CorruptError) {
	var c tableCounts
	var maxPK, maxEHK uint64
	var anyEHK bool
	for b := msg; len(b) > 0; {
		at := len(msg) - len(b)
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return c, corrupt("field tag at byte %d: %v", at, protowire.ParseError(n))
		}
		if !num.IsValid() {
			return c, corrupt("field number %d at byte %d", num, at)
		}
		b = b[n:]
		switch num {
		case fieldPartitionKeyTable, fieldExplicitHashKeyTable, fieldRecords:
			if typ != protowire.BytesType {
				return c, corrupt("field %d at byte %d has wire type %d, want %d", num, at, typ, protowire.BytesType)
			}
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return c, corrupt("field %d at byte %d: %v", num, at, protowire.ParseError(m))
			}
			b = b[m:]
			switch num {
			case fieldPartitionKeyTable:
				c.partitionKeys++
				c.keyBytes += len(v)
			case fieldExplicitHashKeyTable:
				c.explicitHashKeys++
				c.keyBytes += len(v)
			case fieldRecords:
				r, cerr := parseRecord(v)
				if cerr != nil {
					cerr.Detail = fmt.Sprintf("records[%d]: %s", c.records, cerr.Detail)
					return c, cerr
				}
				maxPK = max(maxPK, r.pk)
				if r.hasEHK {
					anyEHK = true
					maxEHK = max(maxEHK, r.ehk)
				}
				c.records++
			}
		default:
			// Unknown fields are skipped, as protobuf readers do, so that a
			// producer with a newer schema is not rejected.
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return c, corrupt("field %d at byte %d: %v", num, at, protowire.ParseError(m))
			}
			b = b[m:]
		}
	}
	// A KPL that produced no error but no record either is not a valid
	// aggregate: "no error" is not "valid".
	if c.records == 0 {
		return c, corrupt("no records")
	}
	// Indexes are checked against the complete tables, which the protobuf
	// may order after the records.
	if maxPK >= uint64(c.partitionKeys) {
		return c, corrupt("partition_key_index %d out of range (table has %d keys)", maxPK, c.partitionKeys)
	}
	if anyEHK && maxEHK >= uint64(c.explicitHashKeys) {
		return c, corrupt("explicit_hash_key_index %d out of range (table has %d keys)", maxEHK, c.explicitHashKeys)
	}
	return c, nil
}

// record is one decoded Record message, indexes unresolved.
type record struct {
	pk, ehk uint64
	hasEHK  bool
	data    []byte
}

// parseRecord decodes and validates one Record message (including its tags).
// Like protobuf, the last occurrence of a non-repeated field wins.
func parseRecord(b []byte) (record, *CorruptError) {
	var r record
	var hasPK, hasData bool
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, corrupt("field tag: %v", protowire.ParseError(n))
		}
		if !num.IsValid() {
			return r, corrupt("field number %d", num)
		}
		b = b[n:]
		var want protowire.Type
		switch num {
		case fieldPartitionKeyIndex, fieldExplicitHashKeyIndex:
			want = protowire.VarintType
		case fieldData, fieldTags:
			want = protowire.BytesType
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return r, corrupt("field %d: %v", num, protowire.ParseError(m))
			}
			b = b[m:]
			continue
		}
		if typ != want {
			return r, corrupt("field %d has wire type %d, want %d", num, typ, want)
		}
		if want == protowire.VarintType {
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return r, corrupt("field %d: %v", num, protowire.ParseError(m))
			}
			b = b[m:]
			if num == fieldPartitionKeyIndex {
				r.pk, hasPK = v, true
			} else {
				r.ehk, r.hasEHK = v, true
			}
			continue
		}
		v, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return r, corrupt("field %d: %v", num, protowire.ParseError(m))
		}
		b = b[m:]
		if num == fieldData {
			r.data, hasData = v, true
		} else if cerr := validateTag(v); cerr != nil {
			return r, cerr
		}
	}
	if !hasPK {
		return r, corrupt("partition_key_index missing")
	}
	if !hasData {
		return r, corrupt("data missing")
	}
	return r, nil
}

// validateTag checks one Tag message. Tags are not returned (the KCL drops
// them too), but a malformed one means the aggregate is not what the KPL
// wrote.
func validateTag(b []byte) *CorruptError {
	var hasKey bool
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return corrupt("tag: field tag: %v", protowire.ParseError(n))
		}
		if !num.IsValid() {
			return corrupt("tag: field number %d", num)
		}
		b = b[n:]
		if (num == fieldTagKey || num == fieldTagValue) && typ != protowire.BytesType {
			return corrupt("tag: field %d has wire type %d, want %d", num, typ, protowire.BytesType)
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return corrupt("tag: field %d: %v", num, protowire.ParseError(m))
		}
		b = b[m:]
		if num == fieldTagKey {
			hasKey = true
		}
	}
	if !hasKey {
		return corrupt("tag: key missing")
	}
	return nil
}
