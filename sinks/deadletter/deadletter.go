package deadletter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/metrics"
)

// Envelope is the JSON shape of one dead-letter line.
type Envelope struct {
	Reason      string    `json:"reason"`
	Pipeline    string    `json:"pipeline"`
	Shard       string    `json:"shard"`
	Sequence    string    `json:"sequence"`
	SubSequence int64     `json:"sub_sequence"`
	ArrivalTime time.Time `json:"arrival_time"`
	RawBase64   string    `json:"raw_base64"`
}

// Writer is a flow.DeadLetterOutput writing envelopes to a file or stream.
type Writer struct {
	mu     sync.Mutex
	w      io.Writer
	file   *os.File // nil for streams such as stdout
	closed bool
	count  atomic.Int64
	hooks  metrics.Hooks
}

// WithHooks reports every entry written (after it is synced) to h.
func (d *Writer) WithHooks(h metrics.Hooks) *Writer {
	d.hooks = h
	return d
}

// OpenFile appends to path, creating it and its directory.
func OpenFile(path string) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("deadletter: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("deadletter: %w", err)
	}
	return &Writer{w: f, file: f}, nil
}

// NewStream writes to w (stdout, say); durability is w's.
func NewStream(w io.Writer) *Writer { return &Writer{w: w} }

// encodeLines renders entries as envelope lines; ends[i] is the end of line i.
func encodeLines(entries []flow.DeadLetter) (buf []byte, ends []int32, err error) {
	for _, e := range entries {
		line, err := json.Marshal(Envelope{
			Reason: e.Reason, Pipeline: e.Pipeline, Shard: e.Shard, Sequence: e.SequenceNumber,
			SubSequence: e.SubSequence, ArrivalTime: e.ArrivalTime.UTC(),
			RawBase64: base64.StdEncoding.EncodeToString(e.Raw),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("deadletter: encode: %w", err)
		}
		buf = append(append(buf, line...), '\n')
		ends = append(ends, int32(len(buf)))
	}
	return buf, ends, nil
}

// WriteDeadLetters writes the entries and acks once they are synced.
func (d *Writer) WriteDeadLetters(_ context.Context, entries []flow.DeadLetter, ack flow.Ack) error {
	buf, _, err := encodeLines(entries)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("deadletter: write after close")
	}
	if _, err := d.w.Write(buf); err != nil {
		return fmt.Errorf("deadletter: write: %w", err)
	}
	if d.file != nil {
		if err := d.file.Sync(); err != nil {
			return fmt.Errorf("deadletter: sync: %w", err)
		}
	}
	d.count.Add(int64(len(entries)))
	if d.hooks != nil {
		for _, e := range entries {
			d.hooks.DeadLetter(e.Reason, 1)
		}
	}
	ack(nil)
	return nil
}

// Count is the number of entries written.
func (d *Writer) Count() int64 { return d.count.Load() }

// Close closes the file (streams are left open).
func (d *Writer) Close(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.file != nil {
		return d.file.Close()
	}
	return nil
}
