package s3

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shardflow/shardflow/sinks/encode"
)

// file is one open Parquet file. Its fields are guarded by Output.mu until
// it is rolled; after that only its uploader goroutine reads it.
type file struct {
	key    string
	hour   int64
	opened time.Time
	pw     *encode.ParquetWriter
	stream *partStream
	rows   int64
	// writes have rows in this file, each once, in Write order.
	writes []*pendingWrite
	// failed is set by the uploader when it gave up: Write then rolls the
	// file and opens a new one rather than add rows that cannot land.
	failed atomic.Bool

	// Exactly-once only: the segment the file belongs to, the positions of
	// its first and last rows, the rows not yet handed to pw (retained
	// slices, fewer than a canonical chunk), and, once uploaded, its size.
	seg         *segment
	first, last position
	pending     []arrow.RecordBatch
	pendingRows int
	bytes       int64
}

// openLocked opens the file of partition hour, rolling the oldest open file
// first when MaxOpenFiles are open, and starts its uploader.
func (o *Output) openLocked(hour int64) (*file, error) {
	if len(o.open) >= o.opts.MaxOpenFiles {
		var oldest *file
		for _, f := range o.open {
			if oldest == nil || f.opened.Before(oldest.opened) {
				oldest = f
			}
		}
		o.rollLocked(oldest, nil)
	}
	now := o.opts.Now()
	f := &file{
		key:    o.objectKey(hour, now),
		hour:   hour,
		opened: now,
		stream: &partStream{size: o.opts.PartSize, parts: make(chan part, 1), bufs: &o.bufs},
	}
	pw, err := encode.NewParquet(f.stream, o.opts.Schema, encode.ParquetOptions{
		Compression:   o.opts.Compression,
		RowGroupRows:  o.opts.RowGroupRows,
		RowGroupBytes: o.opts.RowGroupBytes,
		Allocator:     o.opts.Allocator,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: starting %s: %w", f.key, err)
	}
	f.pw = pw
	o.open[hour] = f
	o.uploads.Add(1)
	go o.upload(f)
	return f, nil
}

func (f *file) addWrite(q *ackQueue, pw *pendingWrite) {
	if n := len(f.writes); n > 0 && f.writes[n-1] == pw {
		return
	}
	f.writes = append(f.writes, pw)
	q.hold(pw)
}

// size estimates the file's size: bytes handed to the stream plus the row
// group still buffered.
func (f *file) size() int64 { return f.pw.BytesWritten() + f.pw.BufferedBytes() }

// rollLocked closes f's Parquet writer (writing the last row group and the
// footer into the stream) and finishes the stream, which lets the uploader
// complete the upload; with cause != nil the upload is abandoned instead and
// f's writes fail with cause.
func (o *Output) rollLocked(f *file, cause error) {
	delete(o.open, f.hour)
	if err := f.pw.Close(); err != nil && cause == nil {
		cause = fmt.Errorf("s3: finishing %s: %w", f.key, err)
	}
	f.stream.finish(cause)
}

// part is one piece of a file for the uploader. The last part carries the
// file's fate: err != nil abandons the upload.
type part struct {
	num  int     // 1-based
	buf  *[]byte // from Output.bufs; the uploader puts it back
	last bool
	err  error
}

// partStream is the io.Writer under a file's Parquet writer. It cuts the
// bytes into parts of exactly size bytes (the last one shorter) and hands
// them to the uploader, blocking while the uploader is behind. A full part
// is held back until more bytes arrive, so the last part is never empty.
type partStream struct {
	size  int
	buf   []byte
	bp    *[]byte
	num   int
	parts chan part
	bufs  *sync.Pool
	done  bool
}

func (s *partStream) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if s.bp != nil && len(s.buf) == s.size {
			s.send(false, nil)
		}
		if s.bp == nil {
			s.bp = s.bufs.Get().(*[]byte)
			s.buf = (*s.bp)[:0]
		}
		k := min(len(p), s.size-len(s.buf))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

func (s *partStream) send(last bool, err error) {
	s.num++
	*s.bp = s.buf
	s.parts <- part{num: s.num, buf: s.bp, last: last, err: err}
	s.bp, s.buf = nil, nil
}

// finish sends the last part (or only the error) and closes the stream.
func (s *partStream) finish(err error) {
	if s.done {
		return
	}
	s.done = true
	if s.bp == nil {
		s.bp = s.bufs.Get().(*[]byte)
		s.buf = (*s.bp)[:0]
	}
	s.send(true, err)
	close(s.parts)
}
