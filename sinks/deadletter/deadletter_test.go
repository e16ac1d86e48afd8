package deadletter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardflow/shardflow/flow"
)

func TestFileEnvelopesCarryEverythingAndAckAfterSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dead.ndjson")
	w, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 5, 0, 0, 0, time.FixedZone("x", 3600))
	raw := []byte("{\"broken\": \x00\xff")
	acked := 0
	err = w.WriteDeadLetters(context.Background(), []flow.DeadLetter{
		{Reason: "invalid_json: x", Pipeline: "p", Shard: "shardId-1", SequenceNumber: "42", SubSequence: 3, ArrivalTime: at, Raw: raw},
		{Reason: "missing_field: y", Pipeline: "p", Shard: "shardId-2", SequenceNumber: "43", Raw: []byte("{}")},
	}, func(err error) {
		if err != nil {
			t.Errorf("ack error: %v", err)
		}
		acked++
	})
	if err != nil || acked != 1 {
		t.Fatalf("write err=%v acked=%d", err, acked)
	}
	if w.Count() != 2 {
		t.Fatalf("Count = %d", w.Count())
	}
	// Read back before Close: the ack promised the bytes are on disk.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var got []Envelope
	for sc.Scan() {
		var e Envelope
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, e)
	}
	if len(got) != 2 {
		t.Fatalf("%d lines, want 2", len(got))
	}
	e := got[0]
	dec, _ := base64.StdEncoding.DecodeString(e.RawBase64)
	if e.Reason != "invalid_json: x" || e.Shard != "shardId-1" || e.Sequence != "42" || e.SubSequence != 3 ||
		!e.ArrivalTime.Equal(at) || e.ArrivalTime.Location() != time.UTC || !bytes.Equal(dec, raw) {
		t.Fatalf("envelope = %+v (raw %q)", e, dec)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteDeadLetters(context.Background(), nil, func(error) {}); err == nil {
		t.Fatal("write after close accepted")
	}
	// Reopening appends.
	w2, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = w2.WriteDeadLetters(context.Background(), []flow.DeadLetter{{Reason: "r", Raw: []byte("z")}}, func(error) {})
	_ = w2.Close(context.Background())
	data, _ = os.ReadFile(path)
	if n := bytes.Count(data, []byte("\n")); n != 3 {
		t.Fatalf("%d lines after reopen, want 3 (append, not truncate)", n)
	}
}
