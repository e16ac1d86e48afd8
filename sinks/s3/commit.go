package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Exactly-once bookkeeping lives under <prefix>_shardflow/, which Hive,
// Athena, Glue crawlers and DuckDB's hive partitioning skip (a path segment
// starting with '_' is hidden to them):
//
//	<prefix>_shardflow/shards/<shard>.json                 the shard's head
//	<prefix>_shardflow/manifests/<shard>/<first>-<last>.json  one per committed segment
const metaDir = "_shardflow/"

// head is a shard's resume point. Committed is the last position of the
// last segment whose objects and manifest are all written, contiguously
// from the shard's start; every row at or before it is durable and a new
// owner skips it. Cuts are segment ends chosen by wall time (a quiet shard,
// a drain) for segments not committed yet: a replay ends its segments at
// them too, so that it writes the same objects.
type head struct {
	Shard     string   `json:"shard"`
	Committed string   `json:"committed,omitempty"`
	Cuts      []string `json:"cuts,omitempty"`
}

func (o *Output) headKey(shard string) string {
	return o.prefix + metaDir + "shards/" + shard + ".json"
}

func (o *Output) manifestKey(s *segment) string {
	return o.prefix + metaDir + "manifests/" + s.chain.shard + "/" + s.first.String() + "-" + s.last.String() + ".json"
}

// loadHead reads a shard's head; a missing head is a shard never written.
func (o *Output) loadHead(shard string) (committed position, cuts []position, err error) {
	key := o.headKey(shard)
	var body []byte
	err = o.call("GetObject "+key, func(ctx context.Context) error {
		out, err := o.opts.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.opts.Bucket), Key: aws.String(key)})
		if err != nil {
			if isNotFound(err) {
				body = nil
				return nil
			}
			return err
		}
		defer out.Body.Close()
		body, err = io.ReadAll(out.Body)
		return err
	})
	if err != nil || body == nil {
		return position{}, nil, err
	}
	var h head
	if err := json.Unmarshal(body, &h); err != nil {
		return position{}, nil, fmt.Errorf("s3: %s is not a shardflow head: %w", key, err)
	}
	if h.Shard != shard {
		return position{}, nil, fmt.Errorf("s3: %s names shard %q, want %q", key, h.Shard, shard)
	}
	if h.Committed != "" {
		if committed, err = parsePosition(h.Committed); err != nil {
			return position{}, nil, fmt.Errorf("s3: %s: %w", key, err)
		}
	}
	for _, c := range h.Cuts {
		p, err := parsePosition(c)
		if err != nil {
			return position{}, nil, fmt.Errorf("s3: %s: %w", key, err)
		}
		cuts = append(cuts, p)
	}
	slices.SortFunc(cuts, position.cmp)
	return committed, cuts, nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")
}

// writeHead stores the chain's head as it is now. Caller holds c.headMu,
// which serializes a shard's head writes.
func (o *Output) writeHeadLocked(c *chain) error {
	h := head{Shard: c.shard}
	if !c.headCommitted.isZero() {
		h.Committed = c.headCommitted.String()
	}
	for _, p := range c.headCuts {
		h.Cuts = append(h.Cuts, p.String())
	}
	body, err := json.Marshal(h)
	if err != nil {
		return err
	}
	_, err = o.putSmall(o.headKey(c.shard), body, "application/json")
	return err
}

// recordCut adds a wall-time segment end to the head before any object of
// that segment is written.
func (o *Output) recordCut(c *chain, cut position) error {
	c.headMu.Lock()
	defer c.headMu.Unlock()
	if cut.cmp(c.headCommitted) <= 0 || slices.ContainsFunc(c.headCuts, func(p position) bool { return p.cmp(cut) == 0 }) {
		return nil
	}
	c.headCuts = append(c.headCuts, cut)
	slices.SortFunc(c.headCuts, position.cmp)
	return o.writeHeadLocked(c)
}

// manifest is a committed segment's list of objects, in the format
// Redshift's COPY ... MANIFEST reads (entries with content_length, which
// COPY needs for Parquet).
type manifest struct {
	Entries []manifestEntry `json:"entries"`
	Meta    manifestMeta    `json:"meta"`
}

type manifestEntry struct {
	URL       string       `json:"url"`
	Mandatory bool         `json:"mandatory"`
	Meta      manifestMeta `json:"meta"`
}

type manifestMeta struct {
	ContentLength int64 `json:"content_length"`
	RecordCount   int64 `json:"record_count"`
}

// commit writes s's manifest, then moves the head past s. s's objects are
// all written, and so is every earlier segment of its shard.
func (o *Output) commit(s *segment) error {
	files := append([]*file(nil), s.uploaded...)
	sort.Slice(files, func(i, j int) bool { return files[i].key < files[j].key })
	var m manifest
	for _, f := range files {
		m.Entries = append(m.Entries, manifestEntry{
			URL: "s3://" + o.opts.Bucket + "/" + f.key, Mandatory: true,
			Meta: manifestMeta{ContentLength: f.bytes, RecordCount: f.rows},
		})
		m.Meta.ContentLength += f.bytes
		m.Meta.RecordCount += f.rows
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := o.putSmall(o.manifestKey(s), body, "application/json"); err != nil {
		return err
	}
	c := s.chain
	c.headMu.Lock()
	defer c.headMu.Unlock()
	if s.last.cmp(c.headCommitted) > 0 {
		c.headCommitted = s.last
	}
	c.headCuts = slices.DeleteFunc(c.headCuts, func(p position) bool { return p.cmp(c.headCommitted) <= 0 })
	return o.writeHeadLocked(c)
}

// putSmall writes a small object in one PutObject, with retries.
func (o *Output) putSmall(key string, body []byte, ctype string) (string, error) {
	var etag string
	err := o.call("PutObject "+key, func(ctx context.Context) error {
		out, err := o.opts.Client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(o.opts.Bucket),
			Key:           aws.String(key),
			Body:          bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))),
			ContentType:   aws.String(ctype),
		})
		if err == nil {
			etag = aws.ToString(out.ETag)
		}
		return err
	})
	return etag, err
}
