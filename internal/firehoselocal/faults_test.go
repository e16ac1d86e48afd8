package firehoselocal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/shardflow/shardflow/internal/firehoselocal"
)

// throttledIndexes runs one 500-record batch against a fresh stream with
// ThrottleFraction 0.2 and the given seed, checks the response's
// consistency and that exactly the accepted records reach S3, and returns
// the throttled indexes.
func throttledIndexes(t *testing.T, seed int64) []int {
	t.Helper()
	e := newEnv(t)
	e.createActive("t", streamConfig("", 128, 900, types.CompressionFormatUncompressed))
	if err := e.srv.SetFaults("t", firehoselocal.Faults{ThrottleFraction: 0.2, Seed: seed}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	recs := records(500, 20)
	out, err := e.fh.PutRecordBatch(context.Background(), batchInput("t", recs))
	if err != nil {
		t.Fatalf("PutRecordBatch: %v", err)
	}
	if len(out.RequestResponses) != len(recs) {
		t.Fatalf("RequestResponses = %d, want %d", len(out.RequestResponses), len(recs))
	}
	var failed []int
	var accepted [][]byte
	for i, r := range out.RequestResponses {
		if r.ErrorCode != nil {
			if aws.ToString(r.ErrorCode) != "ServiceUnavailableException" || aws.ToString(r.ErrorMessage) != "Slow down." || r.RecordId != nil {
				t.Fatalf("entry %d = %+v, want ServiceUnavailableException \"Slow down.\" without RecordId", i, r)
			}
			failed = append(failed, i)
			continue
		}
		if aws.ToString(r.RecordId) == "" {
			t.Fatalf("entry %d has neither RecordId nor ErrorCode", i)
		}
		accepted = append(accepted, recs[i])
	}
	if int(aws.ToInt32(out.FailedPutCount)) != len(failed) {
		t.Fatalf("FailedPutCount = %d, but %d entries carry an ErrorCode", aws.ToInt32(out.FailedPutCount), len(failed))
	}
	// 0.2 of 500 is 100; anything far off means the fraction is ignored.
	if len(failed) < 50 || len(failed) > 150 {
		t.Fatalf("%d of 500 records throttled at fraction 0.2", len(failed))
	}
	if st := e.stats("t"); st.RecordsThrottled != int64(len(failed)) || st.RecordsAccepted != int64(len(accepted)) {
		t.Errorf("stats = %+v, want %d throttled and %d accepted", st, len(failed), len(accepted))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	keys := e.keys()
	if len(keys) != 1 {
		t.Fatalf("objects = %v, want 1", keys)
	}
	if got := e.object(keys[0]); !bytes.Equal(got, concat(accepted)) {
		t.Errorf("delivered %d bytes, want exactly the %d accepted records in order (%d bytes)", len(got), len(accepted), len(concat(accepted)))
	}
	return failed
}

func TestThrottleFraction(t *testing.T) {
	a := throttledIndexes(t, 42)
	b := throttledIndexes(t, 42)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different throttled records: %v vs %v", a, b)
	}
	if c := throttledIndexes(t, 43); slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 throttled the same records")
	}
}

func TestPutRecordThrottled(t *testing.T) {
	e := newEnv(t)
	e.createActive("t", streamConfig("", 1, 900, types.CompressionFormatUncompressed))
	if err := e.srv.SetFaults("t", firehoselocal.Faults{ThrottleFraction: 1, Seed: 1}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	_, err := newFirehoseClient(e.url, noRetry).PutRecord(context.Background(), &firehose.PutRecordInput{DeliveryStreamName: aws.String("t"), Record: &types.Record{Data: []byte("x")}})
	var unavailable *types.ServiceUnavailableException
	if !errors.As(err, &unavailable) || unavailable.ErrorMessage() != "Slow down." {
		t.Fatalf("PutRecord = %v, want ServiceUnavailableException \"Slow down.\"", err)
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusServiceUnavailable {
		t.Errorf("status = %v, want 503", err)
	}
	if st := e.stats("t"); st.RecordsAccepted != 0 || st.RecordsThrottled != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFailCallFraction(t *testing.T) {
	e := newEnv(t)
	e.createActive("f", streamConfig("", 1, 900, types.CompressionFormatUncompressed))
	if err := e.srv.SetFaults("f", firehoselocal.Faults{FailCallFraction: 1, Seed: 7}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	fh := newFirehoseClient(e.url, noRetry)
	codes := map[string]int{}
	for range 20 {
		_, err := fh.PutRecordBatch(context.Background(), batchInput("f", records(3, 5)))
		var re *smithyhttp.ResponseError
		if !errors.As(err, &re) {
			t.Fatalf("PutRecordBatch = %v, want a failed call", err)
		}
		var unavailable *types.ServiceUnavailableException
		switch {
		case errors.As(err, &unavailable) && re.HTTPStatusCode() == 503:
			codes["ServiceUnavailableException"]++
		case apiCode(err) == "InternalFailure" && re.HTTPStatusCode() == 500:
			codes["InternalFailure"]++
		default:
			t.Fatalf("failed call = %v (status %d), want 503 ServiceUnavailableException or 500 InternalFailure", err, re.HTTPStatusCode())
		}
	}
	if codes["ServiceUnavailableException"] == 0 || codes["InternalFailure"] == 0 {
		t.Errorf("failure kinds over 20 calls = %v, want both", codes)
	}
	if st := e.stats("f"); st.CallsFailed != 20 || st.RecordsAccepted != 0 {
		t.Errorf("stats = %+v, want 20 failed calls and nothing accepted", st)
	}
	// Clearing the faults restores service.
	if err := e.srv.SetFaults("f", firehoselocal.Faults{}); err != nil {
		t.Fatalf("clear faults: %v", err)
	}
	e.putBatch("f", records(3, 5))
}

func TestLatency(t *testing.T) {
	e := newEnv(t)
	e.createActive("l", streamConfig("", 1, 900, types.CompressionFormatUncompressed))
	if err := e.srv.SetFaults("l", firehoselocal.Faults{Latency: 150 * time.Millisecond}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	start := time.Now()
	e.putBatch("l", records(1, 5))
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("call took %v, want at least the injected 150ms", took)
	}
}

func TestSetFaultsErrors(t *testing.T) {
	e := newEnv(t)
	if err := e.srv.SetFaults("nope", firehoselocal.Faults{}); err == nil {
		t.Error("SetFaults on an unknown stream succeeded")
	}
	e.createActive("s", streamConfig("", 1, 900, types.CompressionFormatUncompressed))
	if err := e.srv.SetFaults("s", firehoselocal.Faults{ThrottleFraction: 1.5}); err == nil {
		t.Error("ThrottleFraction 1.5 accepted")
	}
}

func TestLocalEndpoints(t *testing.T) {
	e := newEnv(t)
	e.createActive("s", streamConfig("", 1, 900, types.CompressionFormatUncompressed))
	e.putBatch("s", records(2, 20))

	if code, body := getURL(t, e.url+"/healthz"); code != http.StatusOK || !strings.Contains(string(body), "ok") {
		t.Errorf("/healthz = %d %q", code, body)
	}

	resp, err := http.Post(e.url+"/_local/faults?stream=s", "application/json",
		strings.NewReader(`{"throttle_fraction":0.25,"fail_call_fraction":0.5,"latency_ms":20,"seed":9}`))
	if err != nil {
		t.Fatalf("POST /_local/faults: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /_local/faults = %d", resp.StatusCode)
	}
	f, err := e.srv.Faults("s")
	if err != nil {
		t.Fatalf("Faults: %v", err)
	}
	if want := (firehoselocal.Faults{ThrottleFraction: 0.25, FailCallFraction: 0.5, Latency: 20 * time.Millisecond, Seed: 9}); f != want {
		t.Errorf("faults after POST = %+v, want %+v", f, want)
	}
	code, body := getURL(t, e.url+"/_local/faults?stream=s")
	if code != http.StatusOK || !strings.Contains(string(body), `"throttle_fraction": 0.25`) {
		t.Errorf("GET /_local/faults = %d %s", code, body)
	}
	if code, _ := getURL(t, e.url+"/_local/faults?stream=nope"); code != http.StatusNotFound {
		t.Errorf("GET faults of an unknown stream = %d, want 404", code)
	}

	code, body = getURL(t, e.url+"/_local/streams")
	if code != http.StatusOK {
		t.Fatalf("/_local/streams = %d", code)
	}
	var stats map[string]map[string]any
	if err := json.Unmarshal(body, &stats); err != nil {
		t.Fatalf("/_local/streams body %s: %v", body, err)
	}
	s := stats["s"]
	for _, k := range []string{"records_accepted", "bytes_accepted", "records_throttled", "calls_failed", "objects_delivered", "bytes_delivered", "buffered_bytes"} {
		if _, ok := s[k]; !ok {
			t.Errorf("/_local/streams lacks %s: %s", k, body)
		}
	}
	if s["records_accepted"] != float64(2) || s["buffered_bytes"] != float64(40) || s["status"] != "ACTIVE" {
		t.Errorf("/_local/streams = %s, want 2 records and 40 bytes buffered, ACTIVE", body)
	}
}
