package kpl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/middleware"
)

// CorruptMarker starts the Data of every record that RewriteRecords put in
// place of a record it could not pass on: CorruptMarker, a reason, a NUL
// byte, then the original bytes. It starts with NUL, so it can never be the
// KPL magic (which starts with 0xF3), nor the start of JSON or CSV text.
const CorruptMarker = "\x00SFKPLBAD\x00"

// Reason codes: the first word of every reason a marked record carries. The
// text after the code is detail for humans and may change.
const (
	// ReasonCorruptAggregate: magic and MD5 valid, content not a valid
	// AggregatedRecord. The raw bytes are the whole aggregate.
	ReasonCorruptAggregate = "corrupt_kpl_aggregate"
	// ReasonNestedAggregate: a sub-record of a valid aggregate is itself an
	// aggregate. The KPL never nests; it is not expanded (the KCL would
	// expand it, and drop the whole batch if it were corrupt). The raw bytes
	// are the sub-record's.
	ReasonNestedAggregate = "nested_kpl_aggregate"
	// ReasonMarkerCollision: a record (or sub-record) from the stream already
	// starts with CorruptMarker. It is wrapped like the others so that
	// ParseCorrupt never mistakes stream data for a marker; the raw bytes are
	// the record's, intact.
	ReasonMarkerCollision = "kpl_marker_collision"
)

// ParseCorrupt splits a record written by RewriteRecords in place of a bad
// one into its reason (starting with one of the Reason* codes) and the
// original bytes (a sub-slice of data). ok is false for every other record.
func ParseCorrupt(data []byte) (reason string, raw []byte, ok bool) {
	if !bytes.HasPrefix(data, []byte(CorruptMarker)) {
		return "", nil, false
	}
	rest := data[len(CorruptMarker):]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(rest[:i]), rest[i+1:], true
}

// markCorrupt builds the Data of a marked record.
func markCorrupt(code, detail string, raw []byte) []byte {
	// The reason ends at the first NUL: keep NULs out of it.
	detail = strings.ReplaceAll(detail, "\x00", `\x00`)
	b := make([]byte, 0, len(CorruptMarker)+len(code)+2+len(detail)+1+len(raw))
	b = append(b, CorruptMarker...)
	b = append(b, code...)
	b = append(b, ": "...)
	b = append(b, detail...)
	b = append(b, 0)
	return append(b, raw...)
}

// RewriteRecords returns the records of one GetRecords response with every
// KPL aggregate expanded and every bad record replaced by one marked record,
// so that no returned record is an aggregate (no magic with a matching MD5):
// a de-aggregator that runs afterwards, like the KCL's, passes all of them
// through unchanged and cannot fail.
//
//   - A plain record is kept as it is (the same types.Record value).
//   - A valid aggregate becomes its sub-records, in order and next to each
//     other, each a types.Record with the aggregate's SequenceNumber,
//     ApproximateArrivalTimestamp and EncryptionType and the sub-record's
//     PartitionKey (ExplicitHashKey has no place in a types.Record). Sub-record
//     i of an aggregate is always output i of that aggregate, on every read,
//     so a sub-sequence number counted per sequence number is stable across
//     replays. A sub-record that is itself an aggregate, or starts with
//     CorruptMarker, is replaced in its place by a marked record.
//   - A corrupt aggregate becomes exactly one marked record (its
//     PartitionKey and the other fields kept) whose Data is CorruptMarker,
//     reason, NUL, original bytes; see ParseCorrupt.
//   - A plain record that starts with CorruptMarker is marked the same way
//     (ReasonMarkerCollision), so marked records are unambiguous.
//
// The input slice is returned as is, without allocating, when it needs no
// change; otherwise a new slice is returned and the input is not modified.
// Sub-record Data alias the aggregate's Data.
func RewriteRecords(recs []types.Record) []types.Record {
	// out stays nil while every record passes as it is, so the common
	// batch without aggregates costs no allocation and each record's MD5 is
	// computed once.
	var out []types.Record
	for i, r := range recs {
		subs, isAgg, err := Deaggregate(r.Data)
		collision := !isAgg && bytes.HasPrefix(r.Data, []byte(CorruptMarker))
		if out == nil {
			if !isAgg && !collision {
				continue
			}
			out = make([]types.Record, i, len(recs)+len(subs))
			copy(out, recs[:i])
		}
		switch {
		case collision:
			r.Data = markCorrupt(ReasonMarkerCollision, "record starts with the corrupt-aggregate marker", r.Data)
			out = append(out, r)
		case !isAgg:
			out = append(out, r)
		case err != nil:
			var ce *CorruptError
			detail := err.Error()
			if errors.As(err, &ce) {
				detail = ce.Detail
			}
			r.Data = markCorrupt(ReasonCorruptAggregate, detail, r.Data)
			out = append(out, r)
		default:
			out = appendSubRecords(out, r, subs)
		}
	}
	if out == nil {
		return recs
	}
	return out
}

// appendSubRecords appends the sub-records of aggregate agg.
func appendSubRecords(out []types.Record, agg types.Record, subs []SubRecord) []types.Record {
	// One allocation for all the PartitionKey pointers of the aggregate,
	// rather than one per sub-record. The strings themselves are shared
	// with Deaggregate's key table.
	keys := make([]string, len(subs))
	for i := range subs {
		s := &subs[i]
		keys[i] = s.PartitionKey
		r := types.Record{
			Data:                        s.Data,
			PartitionKey:                &keys[i],
			SequenceNumber:              agg.SequenceNumber,
			ApproximateArrivalTimestamp: agg.ApproximateArrivalTimestamp,
			EncryptionType:              agg.EncryptionType,
		}
		switch {
		case IsAggregate(s.Data):
			r.Data = markCorrupt(ReasonNestedAggregate,
				fmt.Sprintf("sub-record %d of %d is itself a KPL aggregate; not expanded", i, len(subs)), s.Data)
		case bytes.HasPrefix(s.Data, []byte(CorruptMarker)):
			r.Data = markCorrupt(ReasonMarkerCollision,
				fmt.Sprintf("sub-record %d of %d starts with the corrupt-aggregate marker", i, len(subs)), s.Data)
		}
		out = append(out, r)
	}
	return out
}

// middlewareID names the middleware in the GetRecords stack.
const middlewareID = "shardflow.kpl.SafeDeaggregation"

// WithSafeDeaggregation returns a Kinesis client option that applies
// RewriteRecords to the Records of every GetRecords response, before the
// caller (the KCL) sees them. Other operations are not touched. Applying it
// twice adds the middleware once.
//
// It is an Initialize-step middleware: the Initialize step wraps all the
// others, so when the next handler returns, the response has been
// deserialized into *kinesis.GetRecordsOutput and retries are over; the
// rewrite runs once per call, on the output the caller gets.
func WithSafeDeaggregation() func(*kinesis.Options) {
	return func(o *kinesis.Options) {
		o.APIOptions = append(o.APIOptions, addSafeDeaggregation)
	}
}

// addSafeDeaggregation adds the middleware to a GetRecords stack. Client
// APIOptions run for every operation's stack; the stack ID is the operation
// name.
func addSafeDeaggregation(stack *middleware.Stack) error {
	if stack.ID() != "GetRecords" {
		return nil
	}
	if _, ok := stack.Initialize.Get(middlewareID); ok {
		return nil
	}
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc(middlewareID, safeDeaggregation), middleware.After)
}

func safeDeaggregation(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
	middleware.InitializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleInitialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	if o, ok := out.Result.(*kinesis.GetRecordsOutput); ok && o != nil {
		o.Records = RewriteRecords(o.Records)
	}
	return out, md, nil
}
