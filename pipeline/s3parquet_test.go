package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/pipeline"
)

// TestPipelineWritesParquetToS3AndFirehose: one pipeline, two outputs — the
// Firehose NDJSON path and the direct Parquet-to-S3 output. Every event
// arrives exactly once in each; the Parquet files are read back with
// parquet-go (not arrow-go) from Hive-style dt=/hr= keys.
func TestPipelineWritesParquetToS3AndFirehose(t *testing.T) {
	const events = 2000
	s := newStack(t, 2)
	ctx := context.Background()
	want := map[string]bool{}
	gen := workload.New(workload.Config{Seed: 31, Total: events})
	for range events {
		e := gen.Next()
		want[e.ID()] = true
	}
	if _, err := produce.Put(ctx, s.env.Kinesis(t), workload.New(workload.Config{Seed: 31, Total: events}),
		produce.Options{Stream: s.stream, Count: events}); err != nil {
		t.Fatal(err)
	}
	prefix := s.name + "-parquet/"
	yaml := strings.Replace(s.yaml("redis", ""), "outputs:\n", fmt.Sprintf(`outputs:
  - name: lake
    s3: {bucket: %s, prefix: %s, compression: zstd, roll_interval: 1s}
`, s.env.S3Bucket, prefix), 1)
	cfg, err := pipeline.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	_, stop := runPipeline(t, cfg, "lake")
	res := s.waitDelivered(t, events, 60*time.Second)
	s3c := s.env.S3(t)
	var got map[string]int
	var files int
	waitFor(t, "every event in Parquet files", 60*time.Second, func() bool {
		got, files = readParquetIDs(t, s3c, s.env.S3Bucket, prefix)
		return len(got) >= events
	})
	stop()
	checkExactlyOnce(t, res, want)
	got, files = readParquetIDs(t, s3c, s.env.S3Bucket, prefix)
	rows := 0
	for id, n := range got {
		rows += n
		if !want[id] {
			t.Fatalf("unexpected id %s in Parquet", id)
		}
	}
	t.Logf("parquet: %d files, %d rows, %d distinct", files, rows, len(got))
	if rows != events || len(got) != events {
		t.Fatalf("parquet has %d rows (%d distinct), want exactly %d", rows, len(got), events)
	}
}

// readParquetIDs reads every Parquet object under prefix with parquet-go and
// counts event_id values; keys must be Hive-style.
func readParquetIDs(t *testing.T, c *s3.Client, bucket, prefix string) (map[string]int, int) {
	t.Helper()
	ids := map[string]int{}
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, o := range out.Contents {
		key := aws.ToString(o.Key)
		if strings.Contains(key, "/_shardflow/") {
			continue // the exactly-once output's heads and manifests
		}
		files++
		if !strings.Contains(key, "/dt=") || !strings.Contains(key, "/hr=") || !strings.HasSuffix(key, ".parquet") {
			t.Fatalf("key %s is not <prefix>dt=YYYY-MM-DD/hr=HH/…parquet", key)
		}
		obj, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		col := -1
		for i, el := range f.Metadata().Schema[1:] {
			if el.Name == "event_id" {
				col = i
			}
		}
		if col < 0 {
			t.Fatalf("%s has no event_id column", key)
		}
		buf := make([]parquet.Row, 256)
		for _, rg := range f.RowGroups() {
			rows := rg.Rows()
			for {
				n, err := rows.ReadRows(buf)
				for _, row := range buf[:n] {
					for _, v := range row {
						if v.Column() == col {
							ids[string(v.ByteArray())]++
						}
					}
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
			}
			rows.Close()
		}
	}
	return ids, files
}
