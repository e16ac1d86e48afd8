package ingest

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DeadLetter is one line (or multi-line record) the agent could not send,
// as a line of the dead-letter file.
type DeadLetter struct {
	Reason string    `json:"reason"`
	Flow   string    `json:"flow"`
	Source string    `json:"source"` // file path or s3://bucket/key
	Offset int64     `json:"offset"` // of its first byte
	Line   int64     `json:"line"`   // number of its last line
	Time   time.Time `json:"time"`
	Raw    string    `json:"raw_base64"`
}

// deadLetters appends envelopes to the dead-letter file. Writes are
// buffered; Sync makes them durable, and the checkpoint store calls it
// before every checkpoint write, so a checkpoint never passes a dead
// letter that could still be lost.
type deadLetters struct {
	mu    sync.Mutex
	f     *os.File
	w     *bufio.Writer
	dirty bool
	count int64
}

func openDeadLetters(path string) (*deadLetters, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("agent: dead-letter: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("agent: dead-letter: %w", err)
	}
	return &deadLetters{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (d *deadLetters) write(e DeadLetter, raw []byte) error {
	e.Raw = base64.StdEncoding.EncodeToString(raw)
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("agent: dead-letter: encode: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("agent: dead-letter: write: %w", err)
	}
	d.dirty = true
	d.count++
	return nil
}

// Sync flushes and fsyncs what was written.
func (d *deadLetters) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.dirty {
		return nil
	}
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("agent: dead-letter: flush: %w", err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("agent: dead-letter: sync: %w", err)
	}
	d.dirty = false
	return nil
}

func (d *deadLetters) Close() error {
	err := d.Sync()
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	return err
}
