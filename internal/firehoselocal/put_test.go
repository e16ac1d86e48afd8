package firehoselocal_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
)

func TestPutRecordBatch500(t *testing.T) {
	e := newEnv(t)
	e.createActive("s", streamConfig("", 128, 900, types.CompressionFormatUncompressed))
	out := e.putBatch("s", records(500, 100))
	if aws.ToBool(out.Encrypted) {
		t.Error("Encrypted = true, want false")
	}
	if len(out.RequestResponses) != 500 {
		t.Fatalf("RequestResponses = %d, want 500", len(out.RequestResponses))
	}
	seen := map[string]bool{}
	for i, r := range out.RequestResponses {
		id := aws.ToString(r.RecordId)
		if len(id) < 100 || r.ErrorCode != nil || seen[id] {
			t.Fatalf("entry %d = {RecordId %q ErrorCode %v}, want a long unique RecordId and no error", i, id, r.ErrorCode)
		}
		seen[id] = true
	}
	if st := e.stats("s"); st.RecordsAccepted != 500 || st.BytesAccepted != 500*100 {
		t.Errorf("stats = %+v, want 500 records / 50000 bytes accepted", st)
	}
}

func TestPutRecordBatchLimits(t *testing.T) {
	e := newEnv(t)
	e.createActive("s", streamConfig("", 128, 900, types.CompressionFormatUncompressed))
	ctx := context.Background()

	_, err := e.fh.PutRecordBatch(ctx, batchInput("s", records(501, 1)))
	if apiCode(err) != "ValidationException" ||
		!strings.Contains(err.Error(), "at 'records' failed to satisfy constraint: Member must have length less than or equal to 500") {
		t.Errorf("501 records: %v, want ValidationException on 'records'", err)
	}

	tooBig := append(records(1, 10), make([]byte, 1_024_001))
	_, err = e.fh.PutRecordBatch(ctx, batchInput("s", tooBig))
	want := "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1024001 cap=1024001]' at 'records.2.member.data' failed to satisfy constraint: Member must have length less than or equal to 1024000"
	if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), want) {
		t.Errorf("1,024,001-byte record: %v, want ValidationException %q", err, want)
	}

	_, err = e.fh.PutRecordBatch(ctx, batchInput("s", records(5, 1_000_000)))
	var invalid *types.InvalidArgumentException
	if !errors.As(err, &invalid) || invalid.ErrorMessage() != "Records size exceeds 4 MB limit" {
		t.Errorf("5 x 1,000,000 bytes: %T %v, want InvalidArgumentException \"Records size exceeds 4 MB limit\"", err, err)
	}

	_, err = e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("s"), Record: &types.Record{Data: make([]byte, 1_024_001)}})
	if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "at 'record.data'") {
		t.Errorf("PutRecord 1,024,001 bytes: %v, want ValidationException on 'record.data'", err)
	}

	if st := e.stats("s"); st.RecordsAccepted != 0 {
		t.Fatalf("rejected calls accepted %d records", st.RecordsAccepted)
	}

	// The limits themselves are allowed: 4 records of exactly 1,024,000
	// bytes (4,096,000 <= 4 MiB), and PutRecord of 1,024,000 bytes.
	e.putBatch("s", records(4, 1_024_000))
	if _, err := e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("s"), Record: &types.Record{Data: make([]byte, 1_024_000)}}); err != nil {
		t.Errorf("PutRecord of 1,024,000 bytes: %v", err)
	}
	if st := e.stats("s"); st.RecordsAccepted != 5 || st.BytesAccepted != 5*1_024_000 {
		t.Errorf("stats = %+v, want 5 records of 1,024,000 bytes", st)
	}
}

func TestPutRecordReturnsRecordID(t *testing.T) {
	e := newEnv(t)
	e.createActive("s", streamConfig("", 1, 900, types.CompressionFormatUncompressed))
	out, err := e.fh.PutRecord(context.Background(), &firehose.PutRecordInput{DeliveryStreamName: aws.String("s"), Record: &types.Record{Data: []byte("hello")}})
	if err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	if len(aws.ToString(out.RecordId)) < 100 || aws.ToBool(out.Encrypted) {
		t.Errorf("PutRecord = {RecordId %q Encrypted %v}", aws.ToString(out.RecordId), aws.ToBool(out.Encrypted))
	}
	if st := e.stats("s"); st.RecordsAccepted != 1 || st.BufferedBytes != 5 {
		t.Errorf("stats = %+v, want 1 record, 5 bytes buffered", st)
	}
}
