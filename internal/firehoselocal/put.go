package firehoselocal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// Data plane limits (API model and PutRecordBatch documentation).
const (
	maxRecordBytes   = 1_024_000 // per record, after base64 decoding
	maxBatchRecords  = 500
	maxRequestBytes  = 4 << 20 // sum of decoded record data per PutRecordBatch
	throttledCode    = "ServiceUnavailableException"
	throttledMessage = "Slow down."
)

func (s *Server) putRecord(ctx context.Context, body []byte) (any, error) {
	var in putRecordInput
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	var v violations
	checkStreamName(&v, "deliveryStreamName", in.DeliveryStreamName)
	switch {
	case in.Record == nil:
		v.null("record")
	case in.Record.Data == nil:
		v.null("record.data")
	case len(*in.Record.Data) > maxRecordBytes:
		v.add(blobValue(len(*in.Record.Data)), "record.data", fmt.Sprintf("Member must have length less than or equal to %d", maxRecordBytes))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.activeStream(*in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	if err := st.injectCallFaults(ctx); err != nil {
		return nil, err
	}

	st.mu.Lock()
	if err := st.acceptingLocked(s); err != nil {
		st.mu.Unlock()
		return nil, err
	}
	throttled := st.throttleLocked()
	if !throttled {
		st.appendLocked(*in.Record.Data, s.cfg.Now())
	}
	st.mu.Unlock()
	if throttled {
		return nil, serviceUnavailable(throttledMessage)
	}
	return putRecordOutput{RecordId: newRecordID()}, nil
}

func (s *Server) putRecordBatch(ctx context.Context, body []byte) (any, error) {
	var in putRecordBatchInput
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	var v violations
	checkStreamName(&v, "deliveryStreamName", in.DeliveryStreamName)
	total := 0
	switch {
	case in.Records == nil:
		v.null("records")
	case len(*in.Records) < 1:
		v.add("'[]'", "records", "Member must have length greater than or equal to 1")
	case len(*in.Records) > maxBatchRecords:
		v.add(fmt.Sprintf("'[%d records]'", len(*in.Records)), "records",
			fmt.Sprintf("Member must have length less than or equal to %d", maxBatchRecords))
	default:
		for i, r := range *in.Records {
			path := fmt.Sprintf("records.%d.member.data", i+1) // the service counts from 1
			switch {
			case r.Data == nil:
				v.null(path)
			case len(*r.Data) > maxRecordBytes:
				v.add(blobValue(len(*r.Data)), path, fmt.Sprintf("Member must have length less than or equal to %d", maxRecordBytes))
			default:
				total += len(*r.Data)
			}
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.activeStream(*in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	if total > maxRequestBytes {
		return nil, invalidArgument("Records size exceeds 4 MB limit")
	}
	if err := st.injectCallFaults(ctx); err != nil {
		return nil, err
	}

	records := *in.Records
	out := putRecordBatchOutput{RequestResponses: make([]putRecordBatchResponseEntry, len(records))}
	now := s.cfg.Now()
	st.mu.Lock()
	if err := st.acceptingLocked(s); err != nil {
		st.mu.Unlock()
		return nil, err
	}
	for i, r := range records {
		if st.throttleLocked() {
			out.RequestResponses[i] = putRecordBatchResponseEntry{ErrorCode: throttledCode, ErrorMessage: throttledMessage}
			out.FailedPutCount++
			continue
		}
		st.appendLocked(*r.Data, now)
		out.RequestResponses[i].RecordId = newRecordID()
	}
	st.mu.Unlock()
	return out, nil
}

// newRecordID returns an opaque id as long as the service's (which encode
// shard and sequence information; clients must treat them as opaque).
func newRecordID() string {
	var b [168]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.StdEncoding.EncodeToString(b[:])
}
