package s3feed

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"

	"github.com/shardflow/shardflow/ingest/lines"
	"github.com/shardflow/shardflow/ingest/state"
)

// Options configure a Feed.
type Options struct {
	Flow   string
	Client *s3.Client
	Bucket string
	Prefix string
	// Compression is "auto" (gzip when the key ends in .gz or the object
	// starts with the gzip magic), "gzip" or "none".
	Compression string
	// PollInterval between listings (default 30s).
	PollInterval time.Duration
	// MaxLineBytes cuts longer lines (default 1 MiB).
	MaxLineBytes int
	// LinesPerPoll bounds the lines handed over per Poll (default 4096).
	LinesPerPoll int
	// Once lists the prefix once; Done reports when every object listed
	// was read to its end.
	Once   bool
	Logger *slog.Logger
}

// Handler receives what a Feed reads (the same shape as the tailer's).
type Handler interface {
	Started(o *Object)
	Lines(o *Object, ls []lines.Line) error
	Finished(o *Object) error
}

// Object is one S3 object of the prefix.
type Object struct {
	Key      string
	ETag     string
	Size     int64
	Progress *state.Progress
	Aux      any

	read   bool            // every line was handed over
	resume *state.Position // where to read again after a failed read
}

// Name is how metadata names the object: s3://bucket/key.
func (o *Object) Name(bucket string) string { return "s3://" + bucket + "/" + o.Key }

// Feed reads one flow's prefix.
type Feed struct {
	o      Options
	store  *state.Store
	log    *slog.Logger
	loaded map[string]state.Entry // by key, from the last run
	known  map[string]*Object     // by key, the current version
	queue  []*Object              // listed, not read yet, in key order
	listed time.Time
	first  bool
	cur    *reader
	batch  []lines.Line
}

// reader is the object being read.
type reader struct {
	obj     *Object
	body    io.ReadCloser
	br      *bufio.Reader
	off     int64 // decompressed bytes consumed
	lineNo  int64
	skip    int64 // bytes still to discard (gzip resume)
	long    []byte
	longAt  int64
	longLen int64
}

// New makes a Feed; it takes the flow's checkpoints from store.
func New(o Options, store *state.Store) (*Feed, error) {
	if o.Client == nil || o.Bucket == "" {
		return nil, errors.New("s3feed: a client and a bucket are required")
	}
	switch o.Compression {
	case "":
		o.Compression = "auto"
	case "auto", "gzip", "none":
	default:
		return nil, fmt.Errorf("s3feed: compression %q: want auto, gzip or none", o.Compression)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 30 * time.Second
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 1 << 20
	}
	if o.LinesPerPoll <= 0 {
		o.LinesPerPoll = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	f := &Feed{o: o, store: store, log: o.Logger.With("flow", o.Flow, "bucket", o.Bucket), loaded: map[string]state.Entry{},
		known: map[string]*Object{}, first: true}
	for _, e := range store.Take(o.Flow) {
		if e.Kind == "object" {
			f.loaded[e.Path] = e
		}
	}
	return f, nil
}

// Done reports, in Once mode, that every listed object was read to its end
// (its records may still be in flight).
func (f *Feed) Done() bool {
	return !f.first && f.cur == nil && len(f.queue) == 0
}

// Current returns the object being read, or nil.
func (f *Feed) Current() *Object {
	if f.cur == nil {
		return nil
	}
	return f.cur.obj
}

// Objects returns the objects known from the latest listing.
func (f *Feed) Objects() []*Object {
	out := make([]*Object, 0, len(f.known))
	for _, o := range f.known {
		out = append(out, o)
	}
	return out
}

// Poll lists the prefix when it is time and reads up to LinesPerPoll lines
// of the current object. It reports whether it read anything.
func (f *Feed) Poll(ctx context.Context, now time.Time, h Handler) (bool, error) {
	if f.first || (!f.o.Once && now.Sub(f.listed) >= f.o.PollInterval) {
		if err := f.list(ctx, now, h); err != nil {
			if f.first {
				return false, err
			}
			f.log.Warn("listing failed; will retry", "err", err)
		}
	}
	if f.cur == nil {
		for len(f.queue) > 0 && f.cur == nil {
			o := f.queue[0]
			f.queue = f.queue[1:]
			if err := f.open(ctx, o, h); err != nil {
				f.queue = append([]*Object{o}, f.queue...)
				return false, fmt.Errorf("s3feed: open s3://%s/%s: %w", f.o.Bucket, o.Key, err)
			}
		}
		if f.cur == nil {
			return false, nil
		}
	}
	return true, f.readSome(h)
}

// Close closes the object being read.
func (f *Feed) Close() {
	if f.cur != nil {
		f.cur.body.Close()
		f.cur = nil
	}
}

func (f *Feed) list(ctx context.Context, now time.Time, h Handler) error {
	f.listed = now
	type item struct {
		key, etag string
		size      int64
	}
	var items []item
	in := &s3.ListObjectsV2Input{Bucket: aws.String(f.o.Bucket), Prefix: aws.String(f.o.Prefix)}
	for {
		out, err := f.o.Client.ListObjectsV2(ctx, in)
		if err != nil {
			return fmt.Errorf("s3feed: list s3://%s/%s: %w", f.o.Bucket, f.o.Prefix, err)
		}
		for _, c := range out.Contents {
			k := aws.ToString(c.Key)
			if strings.HasSuffix(k, "/") {
				continue // a "folder"
			}
			items = append(items, item{k, aws.ToString(c.ETag), aws.ToInt64(c.Size)})
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	sort.Slice(items, func(i, j int) bool { return items[i].key < items[j].key })
	listed := make(map[string]bool, len(items))
	for _, it := range items {
		listed[it.key] = true
		if o := f.known[it.key]; o != nil && o.ETag == it.etag {
			continue
		}
		if old := f.known[it.key]; old != nil {
			if f.cur != nil && f.cur.obj == old {
				continue // overwritten while being read: finish this version first
			}
			f.log.Info("object overwritten; reading its new version", "key", it.key)
			f.store.Forget(f.o.Flow, old.Progress)
		}
		o := &Object{Key: it.key, ETag: it.etag, Size: it.size}
		id := state.Identity{Kind: "object", Path: it.key, ETag: it.etag, Size: it.size}
		start := state.Position{}
		done := false
		if e, ok := f.loaded[it.key]; ok && e.ETag == it.etag {
			start, done = e.Position, e.Done
		}
		o.Progress = f.store.Track(f.o.Flow, id, start)
		o.Progress.SetSize(it.size)
		f.known[it.key] = o
		if done {
			o.read = true
			o.Progress.MarkDone()
			continue
		}
		f.queue = append(f.queue, o)
	}
	// Objects gone from the prefix leave the checkpoint once settled.
	for k, o := range f.known {
		if !listed[k] && o.Progress.Settled() && (f.cur == nil || f.cur.obj != o) {
			f.store.Forget(f.o.Flow, o.Progress)
			delete(f.known, k)
			f.dropQueued(o)
		}
	}
	f.first = false
	f.loaded = nil
	return nil
}

func (f *Feed) dropQueued(o *Object) {
	for i, q := range f.queue {
		if q == o {
			f.queue = append(f.queue[:i], f.queue[i+1:]...)
			return
		}
	}
}

func (f *Feed) open(ctx context.Context, o *Object, h Handler) error {
	start := o.Progress.Committed()
	if o.resume != nil {
		start = *o.resume // what was handed over already is in flight
	}
	in := &s3.GetObjectInput{Bucket: aws.String(f.o.Bucket), Key: aws.String(o.Key), IfMatch: aws.String(o.ETag)}
	gz := f.o.Compression == "gzip" || (f.o.Compression == "auto" && strings.HasSuffix(o.Key, ".gz"))
	ranged := start.Offset > 0 && f.o.Compression == "none"
	if ranged {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", start.Offset))
	}
	out, err := f.o.Client.GetObject(ctx, in)
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(out.Body, 64<<10)
	body := out.Body
	if !gz && f.o.Compression == "auto" && !ranged {
		if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			gz = true
		}
	}
	if gz {
		zr, err := gzip.NewReader(br)
		if err != nil {
			out.Body.Close()
			return fmt.Errorf("gunzip: %w", err)
		}
		body = struct {
			io.Reader
			io.Closer
		}{zr, out.Body}
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	r := &reader{obj: o, body: body, br: br, lineNo: start.Lines}
	if ranged {
		r.off = start.Offset
	} else {
		r.skip = start.Offset // re-read from the start, discarding what was delivered
	}
	f.cur = r
	f.log.Info("reading object", "key", o.Key, "offset", start.Offset, "gzip", gz)
	h.Started(o)
	return nil
}

func (f *Feed) readSome(h Handler) error {
	r := f.cur
	if r.skip > 0 {
		n, err := io.CopyN(io.Discard, r.br, r.skip)
		r.off += n
		r.skip -= n
		if err != nil {
			return f.fail(fmt.Errorf("s3feed: s3://%s/%s: skipping the %d delivered bytes: %w", f.o.Bucket, r.obj.Key, r.skip+n, err), nil)
		}
	}
	// Where this call's lines start: a failed read resumes here (the
	// lines before were handed over; this call's are not, on failure).
	from := state.Position{Offset: r.off, Lines: r.lineNo}
	if r.long != nil {
		from = state.Position{Offset: r.longAt, Lines: r.lineNo}
	}
	batch := f.batch[:0]
	var arena []byte
	eof := false
	for len(batch) < f.o.LinesPerPoll {
		chunk, err := r.br.ReadSlice('\n')
		start := r.off
		r.off += int64(len(chunk))
		switch {
		case errors.Is(err, bufio.ErrBufferFull) || (err == nil && r.long != nil) || len(chunk) > f.o.MaxLineBytes+1:
			// A line longer than the read buffer (or than MaxLineBytes):
			// gather its start, up to MaxLineBytes, until its end.
			if r.long == nil {
				r.long, r.longAt, r.longLen = make([]byte, 0, min(len(chunk)*2, f.o.MaxLineBytes+2)), start, 0
			}
			r.longLen += int64(len(chunk))
			if room := f.o.MaxLineBytes + 2 - len(r.long); room > 0 {
				r.long = append(r.long, chunk[:min(len(chunk), room)]...)
			}
			if err == nil { // its end
				data := r.long
				total := r.longLen - 1 // without the line break
				if bytes.HasSuffix(chunk, []byte("\r\n")) || (len(chunk) == 1 && bytes.HasSuffix(data[:len(data)-1], []byte("\r"))) {
					total--
				}
				trunc := total > int64(f.o.MaxLineBytes)
				data = data[:min(int64(len(data)), total, int64(f.o.MaxLineBytes))]
				r.lineNo++
				batch = append(batch, lines.Line{Data: data, Offset: r.longAt, End: r.off, Number: r.lineNo, Truncated: trunc})
				r.long = nil
			}
			continue
		case err == nil:
			data := chunk[:len(chunk)-1]
			if len(data) > 0 && data[len(data)-1] == '\r' {
				data = data[:len(data)-1]
			}
			// ReadSlice's bytes are overwritten by the next read: copy.
			off := len(arena)
			arena = append(arena, data...)
			r.lineNo++
			batch = append(batch, lines.Line{Data: arena[off:len(arena):len(arena)], Offset: start, End: r.off, Number: r.lineNo})
			continue
		case errors.Is(err, io.EOF):
			if len(chunk) > 0 || r.long != nil {
				data, at, total := chunk, start, int64(len(chunk))
				if r.long != nil {
					if room := f.o.MaxLineBytes + 1 - len(r.long); room > 0 {
						r.long = append(r.long, chunk[:min(len(chunk), room)]...)
					}
					data, at, total = r.long, r.longAt, r.longLen+int64(len(chunk))
				}
				trunc := total > int64(f.o.MaxLineBytes)
				if len(data) > f.o.MaxLineBytes {
					data = data[:f.o.MaxLineBytes]
				}
				r.lineNo++
				batch = append(batch, lines.Line{Data: append([]byte(nil), data...), Offset: at, End: r.off, Number: r.lineNo, Truncated: trunc})
				r.long = nil
			}
			eof = true
		default:
			return f.fail(fmt.Errorf("s3feed: read s3://%s/%s at %d: %w", f.o.Bucket, r.obj.Key, r.off, err), &from)
		}
		break
	}
	// (Lines in a moved arena still point at the old array, whose bytes
	// are never written again.)
	f.batch = batch[:0]
	if len(batch) > 0 {
		if err := h.Lines(r.obj, batch); err != nil {
			return err
		}
	}
	if eof {
		r.body.Close()
		f.cur = nil
		r.obj.read = true
		r.obj.Progress.Skip(state.Position{Offset: r.off, Lines: r.lineNo})
		r.obj.Progress.MarkDone()
		f.log.Info("object read", "key", r.obj.Key, "lines", r.lineNo, "bytes", r.off)
		return h.Finished(r.obj)
	}
	return nil
}

// fail abandons the object being read after an error: it is opened again
// and read on from resume (the end of the last line handed over; nil: its
// committed position).
func (f *Feed) fail(err error, resume *state.Position) error {
	r := f.cur
	r.body.Close()
	f.cur = nil
	r.obj.resume = resume
	f.log.Warn("reading object failed; it will be read again from its checkpoint", "key", r.obj.Key, "err", err)
	f.queue = append([]*Object{r.obj}, f.queue...)
	return nil
}

// ReadLine reads line n (1-based) of an object again, from its start: a
// CSV header when reading resumes after it.
func (f *Feed) ReadLine(ctx context.Context, o *Object, n int64) ([]byte, error) {
	out, err := f.o.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.o.Bucket), Key: aws.String(o.Key), IfMatch: aws.String(o.ETag)})
	if err != nil {
		return nil, fmt.Errorf("s3feed: get s3://%s/%s: %w", f.o.Bucket, o.Key, err)
	}
	defer out.Body.Close()
	br := bufio.NewReaderSize(out.Body, 64<<10)
	var r io.Reader = br
	gz := f.o.Compression == "gzip" || (f.o.Compression == "auto" && strings.HasSuffix(o.Key, ".gz"))
	if magic, _ := br.Peek(2); f.o.Compression == "auto" && len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz = true
	}
	if gz {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("s3feed: gunzip s3://%s/%s: %w", f.o.Bucket, o.Key, err)
		}
		r = zr
	}
	lr := bufio.NewReaderSize(io.LimitReader(r, 4<<20), 64<<10)
	for i := int64(1); ; i++ {
		line, err := lr.ReadBytes('\n')
		if i == n && (err == nil || (errors.Is(err, io.EOF) && len(line) > 0)) {
			return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'}), nil
		}
		if err != nil {
			return nil, fmt.Errorf("s3feed: s3://%s/%s: line %d not found: %w", f.o.Bucket, o.Key, n, err)
		}
	}
}
