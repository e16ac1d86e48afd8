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

// objectKey names an object as Firehose does: the evaluated prefix (its
// timestamps are the oldest record's arrival, UTC; a prefix without a
// timestamp expression got yyyy/MM/dd/HH/ appended), then
// <name>-<version>-YYYY-MM-DD-HH-MM-SS-<id> and the extension.
func objectKey(t *s3Target, name string, oldest time.Time, id string) string {
	var b strings.Builder
	b.WriteString(t.keyPrefix.eval(oldest, ""))
	b.WriteString(objectName(name, oldest, id))
	b.WriteString(t.extension())
	return b.String()
}

// objectName is the part of a key after the prefix, without extension.
func objectName(stream string, oldest time.Time, id string) string {
	return stream + "-" + versionID + "-" + oldest.UTC().Format("2006-01-02-15-04-05") + "-" + id
}

// upload writes b as one object, and its backup copy when S3BackupMode is
// Enabled. Only the stream's goroutine calls it, so b is not shared while
// it runs.
func (s *Server) upload(ctx context.Context, st *stream, b *batch) error {
	if b.body == nil {
		var body []byte
		var err error
		if b.errType == "" && st.dest.conv != nil {
			if body, err = st.dest.conv.encodeParquet(b.rows); err != nil {
				return fmt.Errorf("encode Parquet object: %w", err)
			}
		} else if body, err = encode(st.dest.compression, b.data); err != nil {
			return fmt.Errorf("encode %s object: %w", st.dest.compression, err)
		}
		b.body = body
	}
	if bk := st.dest.backup; bk != nil && !b.backedUp {
		if b.backupBody == nil {
			body, err := encode(bk.compression, b.data)
			if err != nil {
				return fmt.Errorf("encode %s backup object: %w", bk.compression, err)
			}
			b.backupBody = body
		}
		if err := s.putObject(ctx, bk.bucket, b.backupKey, b.backupBody); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		b.backedUp = true
	}
	if err := s.putObject(ctx, st.dest.bucket, b.key, b.body); err != nil {
		return err
	}
	s.log.Debug("delivered", "stream", st.name, "key", b.key, "records", b.records, "bytes", len(b.body))
	return nil
}

// putObject writes one object, bounded by uploadTimeout.
func (s *Server) putObject(ctx context.Context, bucket, key string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, uploadTimeout)
	defer cancel()
	_, err := s.cfg.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
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
