package examples_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"
	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/pipelinetest"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/pipeline"
)

// example is one example pipeline made the test's own.
type example struct {
	s   *pipelinetest.Stack
	cfg *pipeline.Config
	// prefix is where each Firehose output (by output name) lands in S3.
	prefix map[string]string
	dead   string // dead-letter file
}

// load reads examples/<file> as a user would and renames what the test must
// own: the pipeline, its stream, delivery streams, S3 prefixes, Redis keys
// and lease table; lease and idle times get shorter. prepare may change the
// config further before the delivery streams are created.
func load(t *testing.T, file string, shards int32, prepare ...func(*pipeline.Config)) *example {
	t.Helper()
	s := pipelinetest.New(t, shards)
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	deadDir := t.TempDir()
	cfg, err := pipeline.Parse(raw, s.Lookup(map[string]string{
		"SHARDFLOW_EXAMPLES_DIR": ".", "SHARDFLOW_DEAD_LETTER_DIR": deadDir, "SHARDFLOW_OPS_LISTEN": "127.0.0.1:0",
	}))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	e := &example{s: s, cfg: cfg, prefix: map[string]string{}, dead: cfg.DeadLetter.File}
	if !strings.HasPrefix(e.dead, deadDir) {
		t.Fatalf("%s: dead_letter.file %s does not use ${SHARDFLOW_DEAD_LETTER_DIR}", file, e.dead)
	}
	defaultTable := "shardflow-" + cfg.Name
	cfg.Name = s.Name
	cfg.Source.Stream = s.Stream
	if cfg.Source.Checkpoints.Type == "dynamodb" {
		cfg.Source.Checkpoints.Table = "shardflow-" + s.Name
		t.Cleanup(func() {
			_, _ = s.Env.DynamoDB(t).DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(cfg.Source.Checkpoints.Table)})
		})
		_ = defaultTable
	}
	cfg.Redis.KeyPrefix = "sf-" + s.Name
	t.Cleanup(func() { deleteRedisKeys(t, s.Env.RedisURL, "sf-"+s.Name+":*") })
	for i := range cfg.Transforms {
		if rl := cfg.Transforms[i].RedisLookup; rl != nil {
			rl.KeyPrefix = "sf-" + s.Name + ":" + rl.KeyPrefix
		}
	}
	cfg.Source.LeaseDuration = pipeline.Duration(4 * time.Second)
	cfg.Source.ShardSyncInterval = pipeline.Duration(250 * time.Millisecond)
	cfg.Source.IdleTimeBetweenReads = pipeline.Duration(200 * time.Millisecond)
	cfg.Source.CheckpointInterval = pipeline.Duration(200 * time.Millisecond)
	for i := range cfg.Windows {
		w := &cfg.Windows[i]
		w.IdleTimeout = pipeline.Duration(5 * time.Second) // > lease_duration
		w.FlushInterval = pipeline.Duration(250 * time.Millisecond)
		w.EmitInterval = pipeline.Duration(250 * time.Millisecond)
	}
	for _, f := range prepare {
		f(cfg)
	}
	own := func(o *pipeline.OutputConfig, name string) {
		switch {
		case o.Firehose != nil:
			o.Firehose.DeliveryStream = s.Delivery(t, name)
			e.prefix[name] = o.Firehose.DeliveryStream + "/"
		case o.S3 != nil:
			o.S3.Bucket = s.Env.S3Bucket
			o.S3.Prefix = s.Name + "/" + o.S3.Prefix
			e.prefix[name] = o.S3.Prefix
		}
	}
	for i := range cfg.Outputs {
		own(&cfg.Outputs[i], cfg.Outputs[i].Name)
	}
	for i := range cfg.Windows {
		own(&cfg.Windows[i].Output, cfg.Windows[i].Name)
	}
	return e
}

// put puts the events of gen's config into the example's stream.
func (e *example) put(t *testing.T, gen workload.Config, aggregate int) []workload.Event {
	t.Helper()
	if _, err := produce.Put(context.Background(), e.s.Env.Kinesis(t), workload.New(gen),
		produce.Options{Stream: e.s.Stream, Count: gen.Total, Aggregate: aggregate}); err != nil {
		t.Fatal(err)
	}
	return generate(gen)
}

// generate returns gen's events as the pipeline sees them.
func generate(gen workload.Config) []workload.Event {
	g := workload.New(gen)
	events := make([]workload.Event, gen.Total)
	for i := range events {
		events[i] = g.Next()
		// The events' JSON carries milliseconds.
		events[i].TS = events[i].TS.Truncate(time.Millisecond)
	}
	return events
}

// rows reads the NDJSON rows under an output's prefix.
func (e *example) rows(t *testing.T, output string) []map[string]any {
	t.Helper()
	c := e.s.Env.S3(t)
	var out []map[string]any
	list, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(e.s.Env.S3Bucket), Prefix: aws.String(e.prefix[output])})
	if err != nil {
		t.Logf("list: %v", err)
		return nil
	}
	for _, o := range list.Contents {
		obj, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.s.Env.S3Bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(obj.Body)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("%s: %v: %s", aws.ToString(o.Key), err, sc.Text())
			}
			out = append(out, row)
		}
		obj.Body.Close()
	}
	return out
}

// waitEvents waits until every event arrived in output, and checks each
// arrived once; it returns the rows by event_id.
func (e *example) waitEvents(t *testing.T, output string, events []workload.Event) map[string]map[string]any {
	t.Helper()
	var byID map[string]map[string]any
	var rows []map[string]any
	pipelinetest.WaitFor(t, fmt.Sprintf("%d events in %s", len(events), output), 90*time.Second, func() bool {
		rows = e.rows(t, output)
		return len(rows) >= len(events)
	})
	byID = map[string]map[string]any{}
	for _, r := range rows {
		id, _ := r["event_id"].(string)
		if byID[id] != nil {
			t.Fatalf("event %s arrived twice", id)
		}
		byID[id] = r
	}
	for _, ev := range events {
		if byID[ev.ID()] == nil {
			t.Fatalf("event %s did not arrive", ev.ID())
		}
	}
	if len(rows) != len(events) {
		t.Fatalf("%d rows, want %d", len(rows), len(events))
	}
	return byID
}

func (e *example) noDeadLetters(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile(e.dead); err == nil && len(b) > 0 {
		t.Fatalf("dead letters: %s", b)
	}
}

func deleteRedisKeys(t *testing.T, redisURL, pattern string) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Error(err)
		return
	}
	rc := redis.NewClient(opts)
	defer rc.Close()
	ctx := context.Background()
	iter := rc.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		rc.Del(ctx, iter.Val())
	}
}

// quiet is a generator config whose few late events are late by at most
// 1 ms, so that no event is late for a window with a few seconds of
// max_out_of_orderness.
func quiet(seed uint64, n int, start time.Time, span time.Duration, users int) workload.Config {
	return workload.Config{Seed: seed, Total: n, Start: start, Span: span, Users: users, MaxLateness: time.Millisecond}
}

// TestClicks: examples/clicks.yaml — Redis lookup (seeded for half the
// users), derive, Firehose NDJSON, and the per-country minute window.
func TestClicks(t *testing.T) {
	t.Parallel()
	const n, users = 1000, 200
	e := load(t, "clicks.yaml", 2, func(c *pipeline.Config) {
		c.Windows[0].MaxOutOfOrderness = pipeline.Duration(time.Second) // the example's 30 s would wait 30 s more
	})
	opts, _ := redis.ParseURL(e.s.Env.RedisURL)
	rc := redis.NewClient(opts)
	defer rc.Close()
	lookupPrefix := e.cfg.Transforms[0].RedisLookup.KeyPrefix
	for u := 0; u < users/2; u++ {
		rc.HSet(context.Background(), fmt.Sprintf("%suser:u-%d", lookupPrefix, u), "plan", "pro")
	}
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	gen := quiet(1, n, start, 50*time.Second, users)
	events := generate(gen)
	// Two halves, the second put once the first is delivered: its users
	// are then in the lookup's cache.
	g := workload.New(gen)
	r := pipelinetest.Run(t, e.cfg, "w1")
	if _, err := produce.Put(context.Background(), e.s.Env.Kinesis(t), g, produce.Options{Stream: e.s.Stream, Count: n / 2}); err != nil {
		t.Fatal(err)
	}
	e.waitEvents(t, "events", events[:n/2])
	if _, err := produce.Put(context.Background(), e.s.Env.Kinesis(t), g, produce.Options{Stream: e.s.Stream, Count: n - n/2}); err != nil {
		t.Fatal(err)
	}
	rows := e.waitEvents(t, "events", events)
	firstHalf, distinct := map[int]bool{}, map[int]bool{}
	minHits := 0
	for i, ev := range events {
		distinct[ev.UserID] = true
		if i < n/2 {
			firstHalf[ev.UserID] = true
		} else if firstHalf[ev.UserID] && ev.UserID < users/2 {
			minHits++ // found in Redis in the first half, cached for cache_ttl (1m)
		}
	}
	for _, ev := range events {
		row := rows[ev.ID()]
		want := "unknown"
		if ev.UserID < users/2 {
			want = "pro"
		}
		if row["plan"] != want || row["price_cents"] != ev.Price*100 {
			t.Fatalf("event %s (user %d): plan %v, price_cents %v; want %s, %v", ev.ID(), ev.UserID, row["plan"], row["price_cents"], want, ev.Price*100)
		}
	}
	perCountry := map[string]float64{}
	for _, ev := range events {
		perCountry[ev.Country]++
	}
	var win []map[string]any
	pipelinetest.WaitFor(t, "the minute's window rows", 90*time.Second, func() bool {
		win = e.rows(t, "per_country")
		return sumOnce(win, "clicks") >= n
	})
	for _, w := range win {
		if w["clicks"] != perCountry[w["country"].(string)] || w["window_start"] != start.Format("2006-01-02T15:04:05.000000Z") {
			t.Fatalf("window row %v: want clicks %v for window %s", w, perCountry[w["country"].(string)], start)
		}
	}
	if got := pipelinetest.Scrape(t, r.P, "shardflow_lookup_cache_lookups_total", ""); got != n {
		t.Errorf("lookup_cache_lookups_total = %v, want one per event (%d)", got, n)
	}
	if hits := pipelinetest.Scrape(t, r.P, "shardflow_lookup_cache_hits_total", ""); hits < float64(minHits) || hits > float64(n-len(distinct)) {
		t.Errorf("lookup_cache_hits_total = %v, want %d to %d (second-half rows of cached users; each user is fetched at least once)", hits, minHits, n-len(distinct))
	}
	if wm := pipelinetest.Scrape(t, r.P, "shardflow_window_watermark_timestamp_seconds", `op="per_country"`); wm < float64(start.Add(time.Minute).Unix()) {
		t.Errorf("watermark gauge = %v, want past the window's end %d", wm, start.Add(time.Minute).Unix())
	}
	r.Stop()
	e.noDeadLetters(t)
}

// sumOnce sums field over rows, counting each row_id once.
func sumOnce(rows []map[string]any, field string) float64 {
	seen := map[any]bool{}
	var sum float64
	for _, r := range rows {
		if seen[r["row_id"]] {
			continue
		}
		seen[r["row_id"]] = true
		v, _ := r[field].(float64)
		sum += v
	}
	return sum
}

// TestStaticTable: examples/static-table.yaml — every event carries its
// country's name and region from the CSV, "unknown" for the countries the
// file lacks, and the derived flag.
func TestStaticTable(t *testing.T) {
	t.Parallel()
	const n = 800
	e := load(t, "static-table.yaml", 2)
	table := map[string][2]string{}
	f, err := os.Open("data/countries.csv")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ",")
		table[parts[0]] = [2]string{parts[1], parts[2]}
	}
	f.Close()
	events := e.put(t, quiet(2, n, time.Time{}, time.Minute, 1000), 0)
	r := pipelinetest.Run(t, e.cfg, "w1")
	rows := e.waitEvents(t, "events", events)
	missed := 0
	for _, ev := range events {
		want, ok := table[ev.Country]
		if !ok {
			want = [2]string{"unknown", "unknown"}
			missed++
		}
		row := rows[ev.ID()]
		if row["country_name"] != want[0] || row["region"] != want[1] || row["is_eu_region"] != (want[1] == "Europe") {
			t.Fatalf("event in %s: %v %v %v, want %v", ev.Country, row["country_name"], row["region"], row["is_eu_region"], want)
		}
	}
	if missed == 0 {
		t.Fatal("no event of a country missing from the table: on_miss untested")
	}
	r.Stop()
	e.noDeadLetters(t)
}

// TestS3ParquetForAthena: examples/s3-parquet-athena.yaml — Parquet files
// under dt=/hr= of each row's event time (the events span an hour
// boundary), every event once, the files' columns those of
// athena/clicks_parquet.sql, and the S3 output metrics.
func TestS3ParquetForAthena(t *testing.T) {
	t.Parallel()
	const n = 1500
	e := load(t, "s3-parquet-athena.yaml", 2, func(c *pipeline.Config) {
		c.Outputs[0].S3.RollInterval = pipeline.Duration(time.Second)
	})
	start := time.Date(2026, 11, 22, 10, 59, 40, 0, time.UTC)
	events := e.put(t, quiet(3, n, start, 40*time.Second, 1000), 0)
	r := pipelinetest.Run(t, e.cfg, "w1")
	var files []parquetFile
	pipelinetest.WaitFor(t, "every event in Parquet", 90*time.Second, func() bool {
		files = readParquet(t, e.s.Env.S3(t), e.s.Env.S3Bucket, e.prefix["lake"])
		rows := 0
		for _, f := range files {
			rows += len(f.ids)
		}
		return rows >= n
	})
	time.Sleep(time.Second) // let the upload hooks of the last file run
	objects := pipelinetest.Scrape(t, r.P, "shardflow_s3_objects_total", `output="lake"`)
	s3rows := pipelinetest.Scrape(t, r.P, "shardflow_s3_rows_total", `output="lake"`)
	r.Stop()
	seen := map[string]int{}
	hours := map[string]bool{}
	for _, f := range files {
		m := regexp.MustCompile(`/dt=(\d{4}-\d{2}-\d{2})/hr=(\d{2})/[^/]+\.parquet$`).FindStringSubmatch(f.key)
		if m == nil {
			t.Fatalf("key %s is not <prefix>dt=YYYY-MM-DD/hr=HH/<file>.parquet", f.key)
		}
		hours[m[2]] = true
		for i, id := range f.ids {
			seen[id]++
			if ts := f.ts[i].UTC(); ts.Format("2006-01-02") != m[1] || ts.Format("15") != m[2] {
				t.Fatalf("row %s with ts %s is in %s", id, ts, f.key)
			}
		}
		checkColumns(t, f)
	}
	for _, ev := range events {
		if seen[ev.ID()] != 1 {
			t.Fatalf("event %s is in %d rows, want 1", ev.ID(), seen[ev.ID()])
		}
	}
	if len(seen) != n || !hours["10"] || !hours["11"] {
		t.Fatalf("%d distinct rows (want %d), hours %v (want 10 and 11)", len(seen), n, hours)
	}
	if objects != float64(len(files)) || s3rows != n {
		t.Errorf("s3_objects_total %v, s3_rows_total %v; want %d files, %d rows", objects, s3rows, len(files), n)
	}
	e.noDeadLetters(t)
}

type parquetFile struct {
	key    string
	schema *parquet.Schema
	ids    []string
	ts     []time.Time
}

func readParquet(t *testing.T, c *s3.Client, bucket, prefix string) []parquetFile {
	t.Helper()
	list, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Logf("list: %v", err)
		return nil
	}
	var out []parquetFile
	for _, o := range list.Contents {
		// Query engines skip names starting with _ or . (the output's
		// manifests and shard heads live under _shardflow/).
		if k := aws.ToString(o.Key); !strings.HasSuffix(k, ".parquet") || strings.Contains(k, "/_") {
			continue
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
			t.Fatalf("%s: %v", aws.ToString(o.Key), err)
		}
		pf := parquetFile{key: aws.ToString(o.Key), schema: f.Schema()}
		idCol, tsCol := -1, -1
		for i, col := range f.Schema().Columns() {
			switch col[0] {
			case "event_id":
				idCol = i
			case "ts":
				tsCol = i
			}
		}
		buf := make([]parquet.Row, 256)
		for _, rg := range f.RowGroups() {
			rows := rg.Rows()
			for {
				k, err := rows.ReadRows(buf)
				for _, row := range buf[:k] {
					for _, v := range row {
						switch v.Column() {
						case idCol:
							pf.ids = append(pf.ids, string(v.ByteArray()))
						case tsCol:
							pf.ts = append(pf.ts, time.UnixMicro(v.Int64()))
						}
					}
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			rows.Close()
		}
		if len(pf.ids) != len(pf.ts) {
			t.Fatalf("%s: %d ids, %d timestamps", pf.key, len(pf.ids), len(pf.ts))
		}
		out = append(out, pf)
	}
	return out
}

// checkColumns compares a file's columns with athena/clicks_parquet.sql:
// same names in the same order, and types Athena reads as declared.
func checkColumns(t *testing.T, f parquetFile) {
	t.Helper()
	ddl, err := os.ReadFile("athena/clicks_parquet.sql")
	if err != nil {
		t.Fatal(err)
	}
	body := string(ddl)
	body = body[strings.Index(body, "CREATE EXTERNAL TABLE"):]
	body = body[strings.Index(body, "(")+1 : strings.Index(body, "PARTITIONED BY")]
	body = body[:strings.LastIndex(body, ")")]
	var want [][2]string
	for _, line := range strings.Split(body, ",") {
		fields := strings.Fields(line)
		if len(fields) == 2 {
			want = append(want, [2]string{fields[0], fields[1]})
		}
	}
	fields := f.schema.Fields()
	if len(fields) != len(want) {
		t.Fatalf("%s has %d columns, the DDL %d", f.key, len(fields), len(want))
	}
	for i, fl := range fields {
		lt := ""
		if l := fl.Type().LogicalType(); l != nil {
			lt = l.String()
		}
		var got string
		switch k := fl.Type().Kind(); {
		case lt == "STRING":
			got = "string"
		case lt == "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)":
			got = "timestamp"
		case k == parquet.Double && lt == "":
			got = "double"
		case k == parquet.Int64 && lt == "":
			got = "bigint"
		case k == parquet.Boolean:
			got = "boolean"
		default:
			got = fmt.Sprintf("%v/%s", k, lt)
		}
		if fl.Name() != want[i][0] || got != want[i][1] {
			t.Fatalf("%s column %d is %s %s, the DDL says %s %s", f.key, i, fl.Name(), got, want[i][0], want[i][1])
		}
	}
}

// TestCSVToRedshift: examples/csv-redshift.yaml through the delivery stream
// of redshift/delivery-stream.json (created with the AWS CLI) into the
// table of redshift/clicks.sql, on firehose-local and PostgreSQL.
func TestCSVToRedshift(t *testing.T) {
	t.Parallel()
	const n = 1000
	e := load(t, "csv-redshift.yaml", 2)
	ctx := context.Background()
	dbURL := e.s.Env.PostgresDB(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	ddl, err := os.ReadFile("redshift/clicks.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, string(ddl)); err != nil {
		t.Fatalf("redshift/clicks.sql: %v", err)
	}

	// The delivery stream exactly as documented (its 60 s buffer, the
	// smallest the AWS CLI accepts, makes this test take a minute).
	stream := e.s.Name + "-rs"
	spec, err := os.ReadFile("redshift/delivery-stream.json")
	if err != nil {
		t.Fatal(err)
	}
	filled := os.Expand(string(spec), func(k string) string {
		return map[string]string{
			"DELIVERY_STREAM": stream, "ACCOUNT_ID": "000000000000", "FIREHOSE_ROLE": "firehose-local",
			"JDBC_URL":      "jdbc:redshift://local.abc123.us-east-1.redshift.amazonaws.com:5439/" + strings.TrimPrefix(u.Path, "/"),
			"REDSHIFT_USER": "firehose", "REDSHIFT_PASSWORD": "Passw0rd!", "BUCKET": e.s.Env.S3Bucket,
		}[k]
	})
	var doc map[string]any
	if err := json.Unmarshal([]byte(filled), &doc); err != nil {
		t.Fatalf("delivery-stream.json: %v", err)
	}
	specFile := filepath.Join(t.TempDir(), "delivery-stream.json")
	if err := os.WriteFile(specFile, []byte(filled), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/aws", "--endpoint-url", e.s.Env.FirehoseEndpoint, "--region", e.s.Env.Region, "--output", "json",
		"firehose", "create-delivery-stream", "--cli-input-json", "file://"+specFile)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_PAGER=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aws firehose create-delivery-stream: %v\n%s", err, out)
	}
	fh := e.s.Env.Firehose(t)
	t.Cleanup(func() {
		_, _ = fh.DeleteDeliveryStream(context.Background(), &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String(stream)})
	})
	pipelinetest.WaitFor(t, "the Redshift delivery stream ACTIVE", 30*time.Second, func() bool {
		out, err := fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(stream)})
		return err == nil && out.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive
	})
	e.cfg.Outputs[0].Firehose.DeliveryStream = stream

	events := e.put(t, quiet(4, n, time.Time{}, time.Minute, 1000), 0)
	r := pipelinetest.Run(t, e.cfg, "w1")
	var total, distinct int
	pipelinetest.WaitFor(t, "every event in the table", 150*time.Second, func() bool {
		err := db.QueryRow(ctx, "SELECT count(*), count(DISTINCT event_id) FROM clicks").Scan(&total, &distinct)
		return err == nil && total >= n
	})
	r.Stop()
	if total != n || distinct != n {
		t.Fatalf("%d rows (%d distinct), want %d", total, distinct, n)
	}
	for _, ev := range events[:50] {
		var country, ua string
		var price float64
		var cents int64
		var ts time.Time
		if err := db.QueryRow(ctx, "SELECT country, price, price_cents, ts, user_agent FROM clicks WHERE event_id = $1", ev.ID()).Scan(&country, &price, &cents, &ts, &ua); err != nil {
			t.Fatal(err)
		}
		if country != ev.Country || price != ev.Price || cents != int64(math.Round(ev.Price*100)) || !ts.Equal(ev.TS) || ua != ev.UserAgent {
			t.Fatalf("row %s = (%s %v %d %v %q), want (%s %v %d %v %q)", ev.ID(), country, price, cents, ts, ua,
				ev.Country, ev.Price, int64(math.Round(ev.Price*100)), ev.TS, ev.UserAgent)
		}
	}
	e.noDeadLetters(t)
}

// TestHoppingAndSessionWindows: examples/windows-hopping-session.yaml —
// every click counts in size/slide = 3 hopping windows of its page, with
// the per-window counts a plain computation gives; every user's clicks
// (all within 20 s, less than the 30 s gap) form one session with the
// right count, revenue, landing and exit page.
func TestHoppingAndSessionWindows(t *testing.T) {
	t.Parallel()
	const n, users = 600, 40
	e := load(t, "windows-hopping-session.yaml", 2)
	start := time.Now().UTC().Add(-time.Hour).Truncate(10 * time.Second)
	events := e.put(t, quiet(5, n, start, 20*time.Second, users), 0)
	r := pipelinetest.Run(t, e.cfg, "w1")

	type key struct{ start, page string }
	wantViews := map[key]float64{}
	for _, ev := range events {
		first := ev.TS.Truncate(10 * time.Second).Add(-20 * time.Second)
		for w := first; !w.After(ev.TS); w = w.Add(10 * time.Second) {
			if ev.TS.Before(w.Add(30 * time.Second)) {
				wantViews[key{w.Format("2006-01-02T15:04:05.000000Z"), ev.Page}]++
			}
		}
	}
	var hop []map[string]any
	pipelinetest.WaitFor(t, "every hopping window", 120*time.Second, func() bool {
		hop = e.rows(t, "page_views_30s")
		return sumOnce(hop, "views") >= 3*n
	})
	got := map[key]float64{}
	for _, row := range hop {
		got[key{row["window_start"].(string), row["page"].(string)}] = row["views"].(float64)
	}
	if len(got) != len(wantViews) {
		t.Fatalf("%d hopping (window, page) rows, want %d", len(got), len(wantViews))
	}
	for k, v := range wantViews {
		if got[k] != v {
			t.Fatalf("views of %s in the window from %s = %v, want %v", k.page, k.start, got[k], v)
		}
	}

	type session struct {
		clicks              float64
		revenue             float64
		first, last         time.Time
		landing, exit, user string
	}
	want := map[string]*session{}
	for _, ev := range events {
		u := fmt.Sprintf("u-%d", ev.UserID)
		s := want[u]
		if s == nil {
			s = &session{first: ev.TS, last: ev.TS, landing: ev.Page, exit: ev.Page, user: u}
			want[u] = s
		}
		s.clicks++
		s.revenue += ev.Price
		if ev.TS.Before(s.first) || ev.TS.Equal(s.first) && ev.Page < s.landing {
			s.first, s.landing = ev.TS, ev.Page
		}
		if ev.TS.After(s.last) || ev.TS.Equal(s.last) && ev.Page < s.exit {
			s.last, s.exit = ev.TS, ev.Page
		}
	}
	var sess []map[string]any
	pipelinetest.WaitFor(t, "every session", 120*time.Second, func() bool {
		sess = e.rows(t, "sessions")
		return sumOnce(sess, "clicks") >= n
	})
	r.Stop()
	seen := map[string]bool{}
	for _, row := range sess {
		u := row["user_id"].(string)
		if seen[u] {
			continue // a re-emission carries the same row
		}
		seen[u] = true
		s := want[u]
		if s == nil {
			t.Fatalf("session of unknown user %s", u)
		}
		if row["clicks"] != s.clicks || math.Abs(row["revenue"].(float64)-s.revenue) > 1e-6 ||
			row["landing_page"] != s.landing || row["exit_page"] != s.exit ||
			row["window_start"] != s.first.Format("2006-01-02T15:04:05.000000Z") ||
			row["window_end"] != s.last.Add(30*time.Second).Format("2006-01-02T15:04:05.000000Z") {
			t.Fatalf("session row %v, want %+v", row, *s)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%d sessions, want one per user (%d)", len(seen), len(want))
	}
	e.noDeadLetters(t)
}

// TestDynamoDBLeases: examples/dynamodb-leases.yaml — every event once,
// and the KCL lease table holds a checkpoint for each shard.
func TestDynamoDBLeases(t *testing.T) {
	t.Parallel()
	const n = 800
	e := load(t, "dynamodb-leases.yaml", 2)
	events := e.put(t, quiet(6, n, time.Time{}, time.Minute, 1000), 0)
	r := pipelinetest.Run(t, e.cfg, "w1")
	e.waitEvents(t, "events", events)
	pipelinetest.WaitFor(t, "every record checkpointed", 20*time.Second, func() bool {
		return pipelinetest.Scrape(t, r.P, "shardflow_records_acked_total", "") == n
	})
	time.Sleep(500 * time.Millisecond)
	r.Stop()
	out, err := e.s.Env.DynamoDB(t).Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(e.cfg.Source.Checkpoints.Table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var shards []string
	for _, item := range out.Items {
		if kind, ok := item["Kind"].(*ddbtypes.AttributeValueMemberS); ok {
			// not a lease: the store's epoch (a live worker's heartbeat
			// would be "worker", but the worker stopped)
			if kind.Value != "epoch" {
				t.Fatalf("item of kind %q left after the worker stopped: %v", kind.Value, item)
			}
			continue
		}
		cp, _ := item["Checkpoint"].(*ddbtypes.AttributeValueMemberS)
		id, _ := item["ShardID"].(*ddbtypes.AttributeValueMemberS)
		if cp == nil || cp.Value == "" || id == nil {
			t.Fatalf("lease item without a checkpoint: %v", item)
		}
		shards = append(shards, id.Value)
	}
	sort.Strings(shards)
	if len(shards) != 2 {
		t.Fatalf("lease table has %v, want both shards", shards)
	}
	e.noDeadLetters(t)
}

// TestKPLInput: examples/kpl-input.yaml — events packed 25 to a KPL
// aggregate arrive once each.
func TestKPLInput(t *testing.T) {
	t.Parallel()
	const n = 1000
	e := load(t, "kpl-input.yaml", 2)
	events := e.put(t, quiet(7, n, time.Time{}, time.Minute, 1000), 25)
	r := pipelinetest.Run(t, e.cfg, "w1")
	e.waitEvents(t, "events", events)
	pipelinetest.WaitFor(t, "every record acked", 20*time.Second, func() bool {
		return pipelinetest.Scrape(t, r.P, "shardflow_records_acked_total", "") >= n/25
	})
	r.Stop()
	e.noDeadLetters(t)
}
