package delivered

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Object is one delivered S3 object.
type Object struct {
	Key  string
	Size int64
	Rows int
}

// Result summarises the rows under a prefix.
type Result struct {
	Objects []Object
	Rows    int
	// IDs counts rows per id value; an id seen twice is a duplicate.
	IDs map[string]int
	// BadLines are lines that were not JSON objects with the id field.
	BadLines int
	// Sample holds the first few rows, as delivered.
	Sample []string
}

// Duplicates is the number of rows beyond the first for each id.
func (r *Result) Duplicates() int { return r.Rows - r.BadLines - len(r.IDs) }

// Collect reads every object under prefix in bucket and counts its NDJSON
// rows by idField.
func Collect(ctx context.Context, c *s3.Client, bucket, prefix, idField string, sample int) (*Result, error) {
	res := &Result{IDs: map[string]int{}}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("delivered: list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			res.Objects = append(res.Objects, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)})
		}
	}
	sort.Slice(res.Objects, func(i, j int) bool { return res.Objects[i].Key < res.Objects[j].Key })
	for i := range res.Objects {
		o := &res.Objects[i]
		if err := res.readObject(ctx, c, bucket, o, idField, sample); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (r *Result) readObject(ctx context.Context, c *s3.Client, bucket string, o *Object, idField string, sample int) error {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.Key)})
	if err != nil {
		return fmt.Errorf("delivered: get s3://%s/%s: %w", bucket, o.Key, err)
	}
	defer out.Body.Close()
	var body io.Reader = out.Body
	if strings.HasSuffix(o.Key, ".gz") {
		zr, err := gzip.NewReader(out.Body)
		if err != nil {
			return fmt.Errorf("delivered: gunzip s3://%s/%s: %w", bucket, o.Key, err)
		}
		body = zr
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 1<<20), 2<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		o.Rows++
		r.Rows++
		if len(r.Sample) < sample {
			r.Sample = append(r.Sample, string(line))
		}
		var row map[string]json.RawMessage
		var id string
		if json.Unmarshal(line, &row) != nil || json.Unmarshal(row[idField], &id) != nil {
			r.BadLines++
			continue
		}
		r.IDs[id]++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("delivered: read s3://%s/%s: %w", bucket, o.Key, err)
	}
	return nil
}
