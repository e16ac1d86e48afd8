package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const contentType = "application/vnd.apache.parquet"

// upload is f's uploader goroutine. It receives f's parts until the file is
// rolled: a file of one part is sent with PutObject; otherwise a multipart
// upload is created with the first part and each part is uploaded as it
// comes, up to MaxInFlightUploads calls across the output. After the last
// part it completes the upload, or aborts it if anything failed, and
// resolves f's writes.
func (o *Output) upload(f *file) {
	defer o.uploads.Done()
	if f.seg != nil {
		o.uploadSegmentFile(f)
		return
	}
	start := time.Now()
	u := &multipart{o: o, f: f}
	var (
		err  error
		etag string
		size int64
	)
	for p := range f.stream.parts {
		size += int64(len(*p.buf))
		switch {
		case p.err != nil:
			u.setErr(p.err)
		case u.err() != nil:
			// Given up: drain the rest so the writer never blocks.
		case p.last && p.num == 1:
			etag, err = o.putObject(f.key, *p.buf)
			u.setErr(err)
		default:
			u.part(p)
			continue // the part goroutine recycles the buffer
		}
		o.recycle(p.buf)
	}
	u.wg.Wait()
	parts := 0
	if u.id != "" {
		parts = len(u.done)
		if u.err() == nil {
			etag, err = u.complete()
			u.setErr(err)
		}
		if u.err() != nil {
			u.abort()
		}
	}
	err = u.err()
	res := UploadResult{Key: f.key, Rows: f.rows, Bytes: size, Parts: parts, ETag: etag, Err: err}
	if err != nil {
		o.stats.failedFiles.Add(1)
		o.failMu.Lock()
		if o.failed == nil {
			o.failed = err
		}
		o.failMu.Unlock()
		o.log.Error("giving up on a file; checkpoints will not pass its rows",
			"key", f.key, "rows", f.rows, "writes", len(f.writes), "err", err)
	} else {
		o.stats.files.Add(1)
		o.stats.bytes.Add(size)
		o.log.Debug("file uploaded", "key", f.key, "rows", f.rows, "bytes", size, "parts", parts,
			"duration", time.Since(start))
	}
	if o.opts.OnUpload != nil {
		o.opts.OnUpload(res)
	}
	o.acks.resolve(f.writes, err)
}

func (o *Output) recycle(buf *[]byte) {
	*buf = (*buf)[:0]
	o.bufs.Put(buf)
}

// multipart is the state of one file's multipart upload.
type multipart struct {
	o  *Output
	f  *file
	id string // UploadId, once created
	wg sync.WaitGroup

	mu    sync.Mutex
	done  []types.CompletedPart
	first error
}

func (u *multipart) err() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.first
}

func (u *multipart) setErr(err error) {
	if err == nil {
		return
	}
	u.mu.Lock()
	if u.first == nil {
		u.first = err
		u.f.failed.Store(true)
	}
	u.mu.Unlock()
}

// part creates the upload if needed, waits for a call slot and uploads p in
// a goroutine of its own.
func (u *multipart) part(p part) {
	o := u.o
	if u.id == "" {
		err := o.call(fmt.Sprintf("CreateMultipartUpload %s", u.f.key), func(ctx context.Context) error {
			out, err := o.opts.Client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
				Bucket:            aws.String(o.opts.Bucket),
				Key:               aws.String(u.f.key),
				ContentType:       aws.String(contentType),
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
			})
			if err == nil {
				u.id = aws.ToString(out.UploadId)
			}
			return err
		})
		if err != nil {
			u.setErr(err)
			o.recycle(p.buf)
			return
		}
	}
	if err := o.acquire(); err != nil {
		u.setErr(fmt.Errorf("s3: UploadPart %s part %d: %w", u.f.key, p.num, err))
		o.recycle(p.buf)
		return
	}
	u.wg.Add(1)
	go func() { // owned by upload, which waits for it
		defer u.wg.Done()
		defer o.release()
		defer o.recycle(p.buf)
		data := *p.buf
		var cp types.CompletedPart
		err := o.retry(fmt.Sprintf("UploadPart %s part %d", u.f.key, p.num), func(ctx context.Context) error {
			out, err := o.opts.Client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket:            aws.String(o.opts.Bucket),
				Key:               aws.String(u.f.key),
				UploadId:          aws.String(u.id),
				PartNumber:        aws.Int32(int32(p.num)),
				Body:              bytes.NewReader(data),
				ContentLength:     aws.Int64(int64(len(data))),
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
			})
			if err == nil {
				cp = types.CompletedPart{PartNumber: aws.Int32(int32(p.num)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
			}
			return err
		})
		if err != nil {
			u.setErr(err)
			return
		}
		o.stats.parts.Add(1)
		u.mu.Lock()
		u.done = append(u.done, cp)
		u.mu.Unlock()
	}()
}

func (u *multipart) complete() (string, error) {
	o := u.o
	slices.SortFunc(u.done, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	var etag string
	err := o.call(fmt.Sprintf("CompleteMultipartUpload %s", u.f.key), func(ctx context.Context) error {
		out, err := o.opts.Client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(o.opts.Bucket),
			Key:             aws.String(u.f.key),
			UploadId:        aws.String(u.id),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: u.done},
		})
		if err == nil {
			etag = aws.ToString(out.ETag)
		}
		return err
	})
	return etag, err
}

// abort discards the upload's parts (S3 keeps, and bills, them otherwise).
// It is tried briefly even when Close gave up; a failure is only logged: a
// bucket lifecycle rule (AbortIncompleteMultipartUpload) is the backstop.
func (u *multipart) abort() {
	o := u.o
	timeout := 10 * time.Second
	if o.ctx.Err() != nil {
		timeout = 2 * time.Second // Close is out of time already
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := o.opts.Client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(o.opts.Bucket),
		Key:      aws.String(u.f.key),
		UploadId: aws.String(u.id),
	})
	o.stats.calls.Add(1)
	if err != nil {
		o.log.Warn("AbortMultipartUpload failed; the parts stay until a lifecycle rule removes them",
			"key", u.f.key, "upload_id", u.id, "err", err)
	}
}

func (o *Output) putObject(key string, data []byte) (string, error) {
	var etag string
	err := o.call("PutObject "+key, func(ctx context.Context) error {
		out, err := o.opts.Client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(o.opts.Bucket),
			Key:           aws.String(key),
			Body:          bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))),
			ContentType:   aws.String(contentType),
		})
		if err == nil {
			etag = aws.ToString(out.ETag)
		}
		return err
	})
	return etag, err
}

// call runs fn in a call slot, with retries.
func (o *Output) call(what string, fn func(context.Context) error) error {
	if err := o.acquire(); err != nil {
		return fmt.Errorf("s3: %s: %w", what, err)
	}
	defer o.release()
	return o.retry(what, fn)
}

var errAborted = errors.New("output aborted by Close")

func (o *Output) acquire() error {
	select {
	case o.sem <- struct{}{}:
		return nil
	case <-o.ctx.Done():
		return errAborted
	}
}

func (o *Output) release() { <-o.sem }

// retry calls fn until it succeeds, RetryTimeout has passed or Close gave
// up, sleeping with exponential backoff and full jitter in between. Every
// error is retried (a 403 too: credentials rotate); the budget is what
// bounds it. The error wraps fn's last error.
func (o *Output) retry(what string, fn func(context.Context) error) error {
	deadline := time.Now().Add(o.opts.RetryTimeout)
	for attempt := 1; ; attempt++ {
		o.stats.calls.Add(1)
		// A hung connection must not outlast the retry budget; a part
		// upload needs time, so an attempt gets at least a minute.
		ctx, cancel := context.WithTimeout(o.ctx, max(o.opts.RetryTimeout, time.Minute))
		err := fn(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if o.ctx.Err() != nil {
			return fmt.Errorf("s3: %s: %w (%w)", what, errAborted, err)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("s3: %s: still failing after %d attempts in %s: %w", what, attempt, o.opts.RetryTimeout, err)
		}
		o.log.Warn("S3 call failed; retrying", "call", what, "attempt", attempt, "err", err)
		o.stats.retries.Add(1)
		if o.opts.OnRetry != nil {
			o.opts.OnRetry(what, attempt, err)
		}
		ceil := o.opts.RetryBase << min(attempt-1, 20)
		if ceil > o.opts.RetryMaxDelay || ceil <= 0 {
			ceil = o.opts.RetryMaxDelay
		}
		d := min(rand.N(ceil)+time.Millisecond, time.Until(deadline))
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-o.ctx.Done():
			t.Stop()
			return fmt.Errorf("s3: %s: %w (%w)", what, errAborted, err)
		}
	}
}

// uploadSegmentFile is the uploader of an exactly-once file. Its key is
// known only when the segment is sealed, so it holds the parts until then
// (and until the segment's wall-time end, if any, is recorded), then writes
// the object in one PutObject or a multipart upload.
func (o *Output) uploadSegmentFile(f *file) {
	start := time.Now()
	u := &multipart{o: o, f: f}
	var parts []part
	var size int64
	for p := range f.stream.parts {
		size += int64(len(*p.buf))
		if p.err != nil {
			u.setErr(p.err)
		}
		parts = append(parts, p)
	}
	if u.err() == nil {
		select {
		case <-f.seg.ready:
			u.setErr(f.seg.getErr())
		case <-o.ctx.Done():
			u.setErr(fmt.Errorf("s3: %s: %w", f.key, errAborted))
		}
	}
	var etag string
	switch {
	case u.err() != nil:
		for _, p := range parts {
			o.recycle(p.buf)
		}
	case len(parts) == 1:
		var err error
		etag, err = o.putObject(f.key, *parts[0].buf)
		u.setErr(err)
		o.recycle(parts[0].buf)
	default:
		for _, p := range parts {
			if u.err() != nil {
				o.recycle(p.buf)
				continue
			}
			u.part(p)
		}
		u.wg.Wait()
		if u.id != "" && u.err() == nil {
			var err error
			etag, err = u.complete()
			u.setErr(err)
		}
		if u.id != "" && u.err() != nil {
			u.abort()
		}
	}
	err := u.err()
	f.bytes = size
	nparts := 0
	if u.id != "" {
		nparts = len(u.done)
	}
	if err == nil {
		o.stats.files.Add(1)
		o.stats.bytes.Add(size)
		o.log.Debug("file uploaded", "key", f.key, "rows", f.rows, "bytes", size, "parts", nparts,
			"duration", time.Since(start))
	} else if !errors.Is(err, ErrShardReleased) {
		o.stats.failedFiles.Add(1)
	}
	if o.opts.OnUpload != nil {
		o.opts.OnUpload(UploadResult{Key: f.key, Rows: f.rows, Bytes: size, Parts: nparts, ETag: etag, Err: err})
	}
	o.segmentFileDone(f, err)
}
