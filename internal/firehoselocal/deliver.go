package firehoselocal

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// uploadTimeout bounds one PutObject so that a hung S3 endpoint cannot stall
// a stream's goroutine (and so Close) forever.
const uploadTimeout = 30 * time.Second

// objectKey names an object as Firehose does when the prefix has no
// !{timestamp} expression: the prefix, then the oldest record's arrival hour
// (UTC) as YYYY/MM/DD/HH/, then <name>-<version>-YYYY-MM-DD-HH-MM-SS-<id>
// and the extension.
func objectKey(d *destination, name string, oldest time.Time, id string) string {
	t := oldest.UTC()
	var b strings.Builder
	b.WriteString(d.prefix)
	b.WriteString(t.Format("2006/01/02/15/"))
	b.WriteString(name)
	b.WriteString("-" + versionID + "-")
	b.WriteString(t.Format("2006-01-02-15-04-05"))
	b.WriteString("-" + id)
	b.WriteString(d.extension())
	return b.String()
}

// upload writes b as one object. Only the stream's goroutine calls it, so b
// is not shared while it runs.
func (s *Server) upload(ctx context.Context, st *stream, b *batch) error {
	if b.body == nil {
		body, err := encode(st.dest.compression, b.data)
		if err != nil {
			return fmt.Errorf("encode %s object: %w", st.dest.compression, err)
		}
		b.body = body
	}
	ctx, cancel := context.WithTimeout(ctx, uploadTimeout)
	defer cancel()
	_, err := s.cfg.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(st.dest.bucket),
		Key:           aws.String(b.key),
		Body:          bytes.NewReader(b.body),
		ContentLength: aws.Int64(int64(len(b.body))),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", st.dest.bucket, b.key, err)
	}
	s.log.Debug("delivered", "stream", st.name, "key", b.key, "records", b.records, "bytes", len(b.body))
	return nil
}

func encode(compression string, data []byte) ([]byte, error) {
	if compression != "GZIP" {
		return data, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
