package kpl

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// within reports whether sub is a sub-slice of buf (shares its memory).
func within(sub, buf []byte) bool {
	if len(sub) == 0 {
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return p >= start && p+uintptr(len(sub)) <= start+uintptr(len(buf))
}

func TestDeaggregateValid(t *testing.T) {
	agg := tAggregate{
		pks:  []string{"user-1", "user-2", ""},
		ehks: []string{"340282366920938463463374607431768211455", "0"},
		recs: []tRecord{
			{pk: 0, ehk: -1, data: []byte(`{"n":0}`)},
			{pk: 1, ehk: 0, data: []byte(`{"n":1}`), tags: [][2]string{{"k", "v"}, {"only-key", ""}}},
			{pk: 0, ehk: 1, data: []byte{}},
			{pk: 2, ehk: -1, data: []byte("\xf3\x89\x9a\xc2 magic inside a sub-record, no MD5")},
			{pk: 1, ehk: -1, data: bytes.Repeat([]byte("x"), 300)},
		},
	}
	want := []SubRecord{
		{Data: []byte(`{"n":0}`), PartitionKey: "user-1"},
		{Data: []byte(`{"n":1}`), PartitionKey: "user-2", ExplicitHashKey: "340282366920938463463374607431768211455"},
		{Data: []byte{}, PartitionKey: "user-1", ExplicitHashKey: "0"},
		{Data: []byte("\xf3\x89\x9a\xc2 magic inside a sub-record, no MD5"), PartitionKey: ""},
		{Data: bytes.Repeat([]byte("x"), 300), PartitionKey: "user-2"},
	}
	for _, recordsFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("recordsFirst=", recordsFirst), func(t *testing.T) {
			agg.recordsFirst = recordsFirst
			data := agg.bytes()
			subs, isAgg, err := Deaggregate(data)
			if !isAgg || err != nil {
				t.Fatalf("isAggregate=%v err=%v", isAgg, err)
			}
			assertSubs(t, subs, want)
			for i, s := range subs {
				if !within(s.Data, data) {
					t.Errorf("sub-record %d: Data is a copy, want a sub-slice of the input", i)
				}
			}
			if !IsAggregate(data) {
				t.Error("IsAggregate = false")
			}
		})
	}
}

// Unknown fields (any wire type, including groups) are skipped at every level.
func TestDeaggregateSkipsUnknownFields(t *testing.T) {
	unknown := func(b []byte) []byte {
		b = appendVarintField(b, 15, 7)
		b = protowire.AppendTag(b, 16, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, 1)
		b = protowire.AppendTag(b, 17, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, 1)
		b = appendBytesField(b, 18, []byte("zz"))
		b = protowire.AppendTag(b, 19, protowire.StartGroupType)
		b = appendVarintField(b, 1, 1)
		b = protowire.AppendTag(b, 19, protowire.EndGroupType)
		return b
	}
	var rec []byte
	rec = unknown(rec)
	rec = appendVarintField(rec, 1, 0)
	rec = unknown(rec)
	rec = appendBytesField(rec, 3, []byte("payload"))
	var body []byte
	body = unknown(body)
	body = appendBytesField(body, 3, rec)
	body = unknown(body)
	body = appendBytesField(body, 1, []byte("pk"))
	subs, isAgg, err := Deaggregate(frame(body))
	if !isAgg || err != nil {
		t.Fatalf("isAggregate=%v err=%v", isAgg, err)
	}
	assertSubs(t, subs, []SubRecord{{Data: []byte("payload"), PartitionKey: "pk"}})
}

// The last occurrence of a non-repeated field wins, as in protobuf.
func TestDeaggregateLastFieldWins(t *testing.T) {
	var rec []byte
	rec = appendVarintField(rec, 1, 5) // out of range, but overridden
	rec = appendBytesField(rec, 3, []byte("first"))
	rec = appendVarintField(rec, 1, 1)
	rec = appendBytesField(rec, 3, []byte("second"))
	var body []byte
	body = appendBytesField(body, 1, []byte("a"))
	body = appendBytesField(body, 1, []byte("b"))
	body = appendBytesField(body, 3, rec)
	subs, _, err := Deaggregate(frame(body))
	if err != nil {
		t.Fatal(err)
	}
	assertSubs(t, subs, []SubRecord{{Data: []byte("second"), PartitionKey: "b"}})
}

func TestDeaggregateNotAggregate(t *testing.T) {
	valid := tAggregate{pks: []string{"k"}, recs: []tRecord{{pk: 0, ehk: -1, data: []byte("d")}}}.bytes()
	badMD5 := bytes.Clone(valid)
	badMD5[len(badMD5)-1] ^= 1
	badBody := bytes.Clone(valid)
	badBody[len(Magic)] ^= 0x80 // body changed, MD5 of the original body
	for name, data := range map[string][]byte{
		"nil":                nil,
		"json":               []byte(`{"a":1}`),
		"magic only":         []byte(Magic),
		"magic + 15 bytes":   append([]byte(Magic), make([]byte, 15)...),
		"bad MD5":            badMD5,
		"body changed":       badBody,
		"magic one byte off": append([]byte("\xf3\x89\x9a\xc3"), valid[4:]...),
		"corrupt marker":     markCorrupt(ReasonCorruptAggregate, "x", valid),
	} {
		subs, isAgg, err := Deaggregate(data)
		if subs != nil || isAgg || err != nil {
			t.Errorf("%s: got %v, %v, %v; want nil, false, nil", name, subs, isAgg, err)
		}
		if IsAggregate(data) {
			t.Errorf("%s: IsAggregate = true", name)
		}
	}
}

// corruptBodies are protobuf bodies that, framed with a valid magic and MD5,
// must be reported corrupt, with a detail containing the given text.
func corruptBodies() []struct {
	name, body, want string
} {
	rec := func(pk uint64, data string) []byte {
		b := appendVarintField(nil, 1, pk)
		return appendBytesField(b, 3, []byte(data))
	}
	goodRec := rec(0, "d")
	pk := appendBytesField(nil, 1, []byte("k"))
	withPK := func(b ...[]byte) string {
		return string(append(bytes.Clone(pk), bytes.Join(b, nil)...))
	}
	return []struct{ name, body, want string }{
		{"empty body", "", "no records"},
		{"tables but no records", withPK(appendBytesField(nil, 2, []byte("1"))), "no records"},
		{"truncated tag varint", withPK(appendBytesField(nil, 3, goodRec), []byte{0x80}), "field tag"},
		{"length past the end", withPK([]byte{0x1a, 0x7f, 0x08}), "field 3"},
		{"length overflow", withPK([]byte{0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), "field 3"},
		{"field number 0", withPK(appendBytesField(nil, 3, goodRec), []byte{0x02, 0x00}), "field tag"},
		{"field number above max", withPK(protowire.AppendTag(nil, protowire.MaxValidNumber+1, protowire.VarintType), []byte{0}), "field number"},
		{"stray end group", withPK(appendBytesField(nil, 3, goodRec), protowire.AppendTag(nil, 9, protowire.EndGroupType)), "field 9"},
		{"unterminated group", withPK(appendBytesField(nil, 3, goodRec), protowire.AppendTag(nil, 9, protowire.StartGroupType)), "field 9"},
		{"reserved wire type", withPK(appendBytesField(nil, 3, goodRec), []byte{0x4e}), "field 9"},
		{"records as varint", withPK(appendVarintField(nil, 3, 1)), "field 3 at byte 3 has wire type 0"},
		{"key table as varint", string(append(appendVarintField(nil, 1, 1), appendBytesField(nil, 3, goodRec)...)), "field 1 at byte 0 has wire type 0"},
		{"record without partition_key_index", withPK(appendBytesField(nil, 3, appendBytesField(nil, 3, []byte("d")))), "records[0]: partition_key_index missing"},
		{"record without data", withPK(appendBytesField(nil, 3, appendVarintField(nil, 1, 0))), "records[0]: data missing"},
		{"second record bad", withPK(appendBytesField(nil, 3, goodRec), appendBytesField(nil, 3, []byte{0x08})), "records[1]: field 1"},
		{"pk index as bytes", withPK(appendBytesField(nil, 3, append(appendBytesField(nil, 1, []byte("0")), appendBytesField(nil, 3, nil)...))), "records[0]: field 1 has wire type 2"},
		{"data as varint", withPK(appendBytesField(nil, 3, append(appendVarintField(nil, 1, 0), appendVarintField(nil, 3, 1)...))), "records[0]: field 3 has wire type 0"},
		{"pk index out of range", withPK(appendBytesField(nil, 3, goodRec), appendBytesField(nil, 3, rec(1, "x"))), "partition_key_index 1 out of range (table has 1 keys)"},
		{"no pk table", string(appendBytesField(nil, 3, goodRec)), "partition_key_index 0 out of range (table has 0 keys)"},
		{"huge pk index", withPK(appendBytesField(nil, 3, rec(1<<63, "x"))), "partition_key_index 9223372036854775808 out of range"},
		{"ehk index out of range", withPK(appendBytesField(nil, 2, []byte("h")), appendBytesField(nil, 3, append(appendVarintField(nil, 2, 1), goodRec...))), "explicit_hash_key_index 1 out of range (table has 1 keys)"},
		{"ehk index without table", withPK(appendBytesField(nil, 3, append(appendVarintField(nil, 2, 0), goodRec...))), "explicit_hash_key_index 0 out of range (table has 0 keys)"},
		{"tag without key", withPK(appendBytesField(nil, 3, appendBytesField(goodRec, 4, appendBytesField(nil, 2, []byte("v"))))), "tag: key missing"},
		{"tag key as varint", withPK(appendBytesField(nil, 3, appendBytesField(goodRec, 4, appendVarintField(nil, 1, 1)))), "tag: field 1 has wire type 0"},
		{"tag truncated", withPK(appendBytesField(nil, 3, appendBytesField(goodRec, 4, []byte{0x0a, 0x05, 'a'}))), "tag: field 1"},
		{"garbage", "\xde\xad\xbe\xef\x01\x02\x03", "field"},
	}
}

func TestDeaggregateCorrupt(t *testing.T) {
	for _, tc := range corruptBodies() {
		t.Run(tc.name, func(t *testing.T) {
			subs, isAgg, err := Deaggregate(frame([]byte(tc.body)))
			if !isAgg || subs != nil || err == nil {
				t.Fatalf("got %d subs, isAggregate=%v, err=%v; want corrupt", len(subs), isAgg, err)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *CorruptError", err, err)
			}
			if !strings.Contains(ce.Detail, tc.want) {
				t.Errorf("detail %q does not contain %q", ce.Detail, tc.want)
			}
			if strings.ContainsRune(ce.Detail, 0) {
				t.Errorf("detail %q contains NUL", ce.Detail)
			}
		})
	}
}

// The empty aggregate has the exact shape of magic + MD5 of nothing.
func TestEmptyAggregateShape(t *testing.T) {
	sum := md5.Sum(nil)
	data := append([]byte(Magic), sum[:]...)
	if _, isAgg, err := Deaggregate(data); !isAgg || err == nil {
		t.Fatalf("magic + MD5(empty): isAggregate=%v err=%v, want corrupt", isAgg, err)
	}
}

// A valid aggregate allocates three times (sub-records, key table, key
// bytes) whatever its size; a corrupt one allocates only its error.
func TestDeaggregateAllocs(t *testing.T) {
	data := benchAggregate(100, 50)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = Deaggregate(data) }); n != 3 {
		t.Errorf("valid aggregate of 100 records: %v allocs, want 3", n)
	}
	plain := []byte(`{"a":1}`)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = Deaggregate(plain) }); n != 0 {
		t.Errorf("plain record: %v allocs, want 0", n)
	}
	// The error path allocates only the error (a few fmt allocations),
	// however many valid records come before the bad one.
	badRec := appendBytesField(nil, 3, []byte{0x08})
	small := frame(append(appendBytesField(nil, 1, []byte("k")), badRec...))
	large := benchAggregate(100, 50)
	large = frame(append(bytes.Clone(large[len(Magic):len(large)-md5.Size]), badRec...))
	nSmall := testing.AllocsPerRun(100, func() { _, _, _ = Deaggregate(small) })
	nLarge := testing.AllocsPerRun(100, func() { _, _, _ = Deaggregate(large) })
	if nSmall > 6 || nLarge > 6 {
		t.Errorf("corrupt aggregate: %v allocs with 0 good records before the bad one, %v with 100; want at most 6 for both", nSmall, nLarge)
	}
	if _, _, err := Deaggregate(large); err == nil || !strings.Contains(err.Error(), "records[100]") {
		t.Errorf("large corrupt aggregate: err %v", err)
	}
}

func assertSubs(t *testing.T, got, want []SubRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d sub-records, want %d: %q", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Data, w.Data) || g.PartitionKey != w.PartitionKey || g.ExplicitHashKey != w.ExplicitHashKey {
			t.Errorf("sub-record %d = {%q %q %q}, want {%q %q %q}", i,
				g.Data, g.PartitionKey, g.ExplicitHashKey, w.Data, w.PartitionKey, w.ExplicitHashKey)
		}
	}
}
