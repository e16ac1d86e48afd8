package firehoselocal_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/shardflow/shardflow/internal/firehoselocal"
	"github.com/shardflow/shardflow/internal/testenv"
)

// testCluster is a Redshift cluster endpoint as a real configuration names
// one; firehose-local maps it to its PostgreSQL server.
const testCluster = "jdbc:redshift://examplecluster.abc123xyz789.us-east-1.redshift.amazonaws.com:5439/"

// redshiftEnv is env plus a throwaway database on the local stack's
// PostgreSQL, which firehose-local loads into.
type redshiftEnv struct {
	*env
	database string
	db       *pgx.Conn
}

func newRedshiftEnv(t *testing.T) *redshiftEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local stack's PostgreSQL (make up); skipped with -short")
	}
	dbURL := testenv.Load(t).PostgresDB(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("database URL %q: %v", dbURL, err)
	}
	e := newEnv(t, func(c *firehoselocal.Config) { c.RedshiftPostgresURL = dbURL })
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", u.Redacted(), err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return &redshiftEnv{env: e, database: strings.TrimPrefix(u.Path, "/"), db: conn}
}

func (e *redshiftEnv) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *redshiftEnv) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// redshiftConfig stages under "stage/" with 1 MiB / 0 s hints (flush on the
// next tick) and retries loads for 60 s.
func (e *redshiftEnv) redshiftConfig(table, columns, options string, compression types.CompressionFormat) *types.RedshiftDestinationConfiguration {
	c := &types.RedshiftDestinationConfiguration{
		RoleARN:        aws.String(testRole),
		ClusterJDBCURL: aws.String(testCluster + e.database),
		CopyCommand:    &types.CopyCommand{DataTableName: aws.String(table), CopyOptions: aws.String(options)},
		Username:       aws.String("firehose"),
		Password:       aws.String("Passw0rd!"),
		RetryOptions:   &types.RedshiftRetryOptions{DurationInSeconds: aws.Int32(60)},
		S3Configuration: &types.S3DestinationConfiguration{
			BucketARN:         aws.String("arn:aws:s3:::" + testBucket),
			RoleARN:           aws.String(testRole),
			Prefix:            aws.String("stage/"),
			BufferingHints:    &types.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
			CompressionFormat: compression,
		},
	}
	if columns != "" {
		c.CopyCommand.DataTableColumns = aws.String(columns)
	}
	return c
}

func (e *env) createRedshift(name string, c *types.RedshiftDestinationConfiguration) {
	e.t.Helper()
	if _, err := e.fh.CreateDeliveryStream(context.Background(), &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName:               aws.String(name),
		RedshiftDestinationConfiguration: c,
	}); err != nil {
		e.t.Fatalf("CreateDeliveryStream %s: %v", name, err)
	}
	e.waitStatus(name, types.DeliveryStreamStatusActive)
}

// putRows sends rows in PutRecordBatch calls of up to 500 records.
func (e *env) putRows(name string, rows [][]byte) {
	e.t.Helper()
	for len(rows) > 0 {
		n := min(len(rows), 500)
		e.putBatch(name, rows[:n])
		rows = rows[n:]
	}
}

func (e *env) waitLoaded(name string, rows int64) firehoselocal.StreamStats {
	e.t.Helper()
	return e.waitStats(name, fmt.Sprintf("%d rows loaded", rows), func(st firehoselocal.StreamStats) bool {
		return st.RowsLoaded >= rows && st.ObjectsPendingLoad == 0 && st.BufferedBytes == 0
	})
}

// keysUnder lists the bucket's keys that start with prefix.
func (e *env) keysUnder(prefix string) []string {
	e.t.Helper()
	out, err := e.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String(prefix)})
	if err != nil {
		e.t.Fatalf("ListObjectsV2 %s: %v", prefix, err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	sort.Strings(keys)
	return keys
}

type manifestJSON struct {
	Entries []struct {
		URL       string `json:"url"`
		Mandatory *bool  `json:"mandatory"`
	} `json:"entries"`
}

// manifestURLs reads the manifests under prefix and returns every entry's
// URL, checking that each is mandatory.
func (e *env) manifestURLs(prefix string) (manifests, urls []string) {
	e.t.Helper()
	manifests = e.keysUnder(prefix)
	for _, k := range manifests {
		var m manifestJSON
		if err := json.Unmarshal(e.object(k), &m); err != nil {
			e.t.Fatalf("manifest %s: %v", k, err)
		}
		for _, en := range m.Entries {
			if en.Mandatory == nil || !*en.Mandatory {
				e.t.Errorf("manifest %s: entry %s is not mandatory", k, en.URL)
			}
			urls = append(urls, en.URL)
		}
	}
	sort.Strings(urls)
	return manifests, urls
}

// stagedURLs are the s3:// URLs of the objects staged under stage/YYYY/.
func (e *env) stagedURLs() []string {
	var out []string
	for _, k := range e.keysUnder("stage/2") {
		out = append(out, "s3://"+testBucket+"/"+k)
	}
	return out
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

func TestRedshiftCSV(t *testing.T) {
	e := newRedshiftEnv(t)
	e.exec(`CREATE TABLE events (id int PRIMARY KEY, name varchar(64), ts timestamp, score double precision, note varchar(8))`)
	e.createRedshift("csv", e.redshiftConfig("events", "", "CSV TIMEFORMAT 'auto'", types.CompressionFormatUncompressed))

	const n = 1200
	rows := make([][]byte, n)
	for i := range rows {
		score, note := fmt.Sprintf("%d.5", i), "n"
		if i%10 == 0 {
			score = "" // an empty numeric field is NULL
		}
		if i%2 == 0 {
			note = "" // an empty VARCHAR field is an empty string
		}
		rows[i] = fmt.Appendf(nil, "%d,\"name %d, \"\"quoted\"\"\",2025-01-02T03:04:%02dZ,%s,%s\n", i, i, i%60, score, note)
	}
	e.putRows("csv", rows)
	st := e.waitLoaded("csv", n)
	if st.RowsLoaded != n || st.LoadsFailed != 0 {
		t.Errorf("stats = %+v, want %d rows loaded and no failed load", st, n)
	}
	if got := e.count("events"); got != n {
		t.Fatalf("events holds %d rows, want %d", got, n)
	}
	var sum int
	var nullScores, emptyNotes int
	if err := e.db.QueryRow(context.Background(), `SELECT sum(id), count(*) FILTER (WHERE score IS NULL),
		count(*) FILTER (WHERE note = '') FROM events`).Scan(&sum, &nullScores, &emptyNotes); err != nil {
		t.Fatalf("aggregate: %v", err)
	}
	if sum != n*(n-1)/2 || nullScores != n/10 || emptyNotes != n/2 {
		t.Errorf("sum(id) %d, NULL scores %d, empty notes %d; want %d, %d, %d", sum, nullScores, emptyNotes, n*(n-1)/2, n/10, n/2)
	}
	var name, note string
	var ts time.Time
	var score float64
	if err := e.db.QueryRow(context.Background(), `SELECT name, ts, score, note FROM events WHERE id = 7`).Scan(&name, &ts, &score, &note); err != nil {
		t.Fatalf("row 7: %v", err)
	}
	if name != `name 7, "quoted"` || !ts.Equal(time.Date(2025, 1, 2, 3, 4, 7, 0, time.UTC)) || score != 7.5 || note != "n" {
		t.Errorf("row 7 = %q %v %v %q", name, ts, score, note)
	}

	// Every staged object is listed, once, in a manifest under
	// stage/manifests/, named like the staged objects.
	manifests, urls := e.manifestURLs("stage/manifests/")
	if staged := e.stagedURLs(); len(staged) == 0 || !slices.Equal(urls, staged) {
		t.Errorf("manifests list %v, want the staged objects %v", urls, staged)
	}
	re := regexp.MustCompile(`^stage/manifests/2025/01/02/03/csv-1-2025-01-02-03-04-05-` + uuidPattern + `$`)
	for _, m := range manifests {
		if !re.MatchString(m) {
			t.Errorf("manifest key %q does not match %s", m, re)
		}
	}
	if len(e.keysUnder("stage/errors/")) != 0 {
		t.Errorf("errors manifests written for a successful load: %v", e.keysUnder("stage/errors/"))
	}
}

// TestRedshiftCSVOptions loads GZIP objects with another delimiter, NULL
// AS, IGNOREHEADER and a column list, and keeps a backup copy.
func TestRedshiftCSVOptions(t *testing.T) {
	e := newRedshiftEnv(t)
	e.exec(`CREATE TABLE piped (id int, name text, extra text DEFAULT 'dflt')`)
	c := e.redshiftConfig("piped", "id, name", `CSV DELIMITER AS '|' NULL AS '\N' IGNOREHEADER 1 GZIP COMPUPDATE OFF`, types.CompressionFormatGzip)
	c.S3Configuration.BufferingHints.IntervalInSeconds = aws.Int32(60) // one object, header first
	c.S3BackupMode = types.RedshiftS3BackupModeEnabled
	c.S3BackupConfiguration = &types.S3DestinationConfiguration{
		BucketARN: aws.String("arn:aws:s3:::" + testBucket), RoleARN: aws.String(testRole), Prefix: aws.String("backup/"),
	}
	e.createRedshift("piped", c)

	rows := [][]byte{[]byte("id|name\n")}
	for i := range 300 {
		name := fmt.Sprintf("n%d", i)
		if i%3 == 0 {
			name = `\N`
		}
		rows = append(rows, fmt.Appendf(nil, "%d|%s\n", i, name))
	}
	e.putRows("piped", rows)
	e.clock.Advance(time.Minute)
	e.waitLoaded("piped", 300)
	if got := e.count("piped"); got != 300 {
		t.Fatalf("piped holds %d rows, want 300", got)
	}
	var nulls, defaults int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE name IS NULL), count(*) FILTER (WHERE extra = 'dflt') FROM piped`).Scan(&nulls, &defaults); err != nil {
		t.Fatalf("aggregate: %v", err)
	}
	if nulls != 100 || defaults != 300 {
		t.Errorf("%d NULL names, %d default extras; want 100 and 300", nulls, defaults)
	}

	d, err := e.fh.DescribeDeliveryStream(context.Background(), &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("piped")})
	if err != nil {
		t.Fatalf("DescribeDeliveryStream: %v", err)
	}
	if r := d.DeliveryStreamDescription.Destinations[0].RedshiftDestinationDescription; r.S3BackupMode != types.RedshiftS3BackupModeEnabled ||
		r.S3BackupDescription == nil || aws.ToString(r.S3BackupDescription.Prefix) != "backup/" {
		t.Errorf("described backup = %s, %+v", r.S3BackupMode, r.S3BackupDescription)
	}

	staged := e.keysUnder("stage/2025/")
	if len(staged) != 1 || !strings.HasSuffix(staged[0], ".gz") {
		t.Fatalf("staged objects %v, want one .gz", staged)
	}
	backup := e.keysUnder("backup/")
	if len(backup) != 1 || !regexp.MustCompile(`^backup/2025/01/02/03/piped-1-2025-01-02-03-04-05-`+uuidPattern+`$`).MatchString(backup[0]) {
		t.Fatalf("backup objects %v, want one uncompressed object named like Firehose's", backup)
	}
	if got, want := e.object(backup[0]), gunzip(t, e.object(staged[0])); !bytes.Equal(got, want) || !bytes.Equal(got, concat(rows)) {
		t.Errorf("backup holds %d bytes, staged object %d, records %d: want all equal", len(got), len(want), len(concat(rows)))
	}
}

func TestRedshiftJSON(t *testing.T) {
	e := newRedshiftEnv(t)
	e.exec(`CREATE TABLE j (id bigint, name text, ts timestamptz, attrs text, flag boolean, never text)`)
	e.exec(`CREATE TABLE jz (LIKE j)`)
	const n = 400
	rows := make([][]byte, n)
	for i := range rows {
		switch {
		case i%4 == 1:
			rows[i] = fmt.Appendf(nil, `{"id":%d,"Name":"upper %d","ts":%d}`, i, i, 1735787045+i)
		case i%4 == 2:
			rows[i] = fmt.Appendf(nil, `{"id":%d,"name":null,"flag":false}`, i)
		default:
			rows[i] = fmt.Appendf(nil, `{"id":%d,"name":"n \"%d\"","ts":%d,"attrs":{"k":[1, 2]},"flag":true,"extra":"ignored"}`, i, i, 1735787045+i)
		}
	}

	// JSON 'auto': concatenated objects (no delimiter), keys matched
	// exactly, so "Name" does not fill name.
	e.createRedshift("json", e.redshiftConfig("j", "", `JSON 'auto' TIMEFORMAT 'epochsecs'`, types.CompressionFormatUncompressed))
	// 'auto ignorecase', GZIP, one record per line.
	cz := e.redshiftConfig("jz", "", `json 'auto ignorecase' gzip timeformat 'epochsecs'`, types.CompressionFormatGzip)
	cz.ProcessingConfiguration = appendDelimiter()
	e.createRedshift("jsongz", cz)
	e.putRows("json", rows)
	e.putRows("jsongz", rows)
	e.waitLoaded("json", n)
	e.waitLoaded("jsongz", n)

	for _, table := range []string{"j", "jz"} {
		if got := e.count(table); got != n {
			t.Fatalf("%s holds %d rows, want %d", table, got, n)
		}
		var name, attrs *string
		var ts time.Time
		var flag *bool
		if err := e.db.QueryRow(context.Background(), `SELECT name, ts, attrs, flag FROM `+table+` WHERE id = 4`).Scan(&name, &ts, &attrs, &flag); err != nil {
			t.Fatalf("%s row 4: %v", table, err)
		}
		if aws.ToString(name) != `n "4"` || !ts.Equal(time.Unix(1735787049, 0)) || aws.ToString(attrs) != `{"k":[1,2]}` || !aws.ToBool(flag) {
			t.Errorf("%s row 4 = %v %v %v %v", table, aws.ToString(name), ts, aws.ToString(attrs), flag)
		}
		var upper *string
		if err := e.db.QueryRow(context.Background(), `SELECT name FROM `+table+` WHERE id = 5`).Scan(&upper); err != nil {
			t.Fatalf("%s row 5: %v", table, err)
		}
		switch {
		case table == "j" && upper != nil: // 'auto' matches keys case-sensitively
			t.Errorf("j row 5 name = %q, want NULL: \"Name\" is not \"name\" under JSON 'auto'", *upper)
		case table == "jz" && aws.ToString(upper) != "upper 5": // 'auto ignorecase'
			t.Errorf("jz row 5 name = %v, want \"upper 5\"", upper)
		}
		var nullNames, nevers int
		if err := e.db.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE id % 4 = 2 AND name IS NULL AND flag = false), count(never) FROM `+table).Scan(&nullNames, &nevers); err != nil {
			t.Fatalf("%s aggregate: %v", table, err)
		}
		if nullNames != n/4 || nevers != 0 {
			t.Errorf("%s: %d rows with JSON null names, %d values for a column no key names; want %d and 0", table, nullNames, nevers, n/4)
		}
	}
	if _, urls := e.manifestURLs("stage/manifests/"); len(urls) == 0 {
		t.Error("no manifest written")
	}
}

// TestRedshiftRetriesUntilTableExists: COPY into a missing table fails and
// is retried; once the table exists (within RetryOptions) it succeeds.
func TestRedshiftRetriesUntilTableExists(t *testing.T) {
	e := newRedshiftEnv(t)
	e.createRedshift("late", e.redshiftConfig("late", "", "CSV", types.CompressionFormatUncompressed))
	rows := make([][]byte, 250)
	for i := range rows {
		rows[i] = fmt.Appendf(nil, "%d,row %d\n", i, i)
	}
	e.putBatch("late", rows)
	st := e.waitStats("late", "a failed COPY", func(st firehoselocal.StreamStats) bool { return st.LoadAttemptsFailed >= 1 })
	if !strings.Contains(st.LastLoadError, `relation "late" does not exist`) || st.RowsLoaded != 0 || st.ObjectsPendingLoad != 1 {
		t.Fatalf("after the first COPY = %+v, want it failed on the missing table with the object pending", st)
	}
	e.exec(`CREATE TABLE late (id int, label text)`)
	st = e.waitLoaded("late", 250)
	if st.LoadsSucceeded != 1 || st.LoadsFailed != 0 || st.ObjectsSkipped != 0 {
		t.Errorf("stats = %+v, want one successful load and none skipped", st)
	}
	if got := e.count("late"); got != 250 {
		t.Errorf("late holds %d rows, want 250", got)
	}
	code, body := getURL(t, e.url+"/_local/streams")
	var all map[string]map[string]any
	if err := json.Unmarshal(body, &all); code != 200 || err != nil {
		t.Fatalf("/_local/streams = %d %s: %v", code, body, err)
	}
	if c := all["late"]; c["rows_loaded"] != float64(250) || c["loads_failed"] != float64(0) || c["loads_succeeded"] != float64(1) ||
		c["objects_pending_load"] != float64(0) || c["load_attempts_failed"].(float64) < 1 {
		t.Errorf("/_local/streams late = %v", c)
	}
	// One load, one manifest, written once however many attempts.
	if manifests, urls := e.manifestURLs("stage/manifests/"); len(manifests) != 1 || !slices.Equal(urls, e.stagedURLs()) {
		t.Errorf("manifests %v listing %v, want one listing the staged object", manifests, urls)
	}
}

// TestRedshiftGivesUpAfterRetryDuration: a COPY that keeps failing is
// retried for RetryOptions.DurationInSeconds, then its objects are listed
// in an errors manifest, nothing is loaded (COPY is all or nothing) and the
// stream goes on with the next objects.
func TestRedshiftGivesUpAfterRetryDuration(t *testing.T) {
	e := newRedshiftEnv(t)
	e.exec(`CREATE TABLE strict (id int)`)
	c := e.redshiftConfig("strict", "", "CSV", types.CompressionFormatUncompressed)
	c.RetryOptions.DurationInSeconds = aws.Int32(1)
	e.createRedshift("strict", c)

	start := time.Now()
	e.putBatch("strict", [][]byte{[]byte("1\n"), []byte("two\n"), []byte("3\n")})
	st := e.waitStats("strict", "a skipped load", func(st firehoselocal.StreamStats) bool { return st.LoadsFailed == 1 })
	if took := time.Since(start); took < time.Second {
		t.Errorf("gave up after %v, before the 1 s retry duration", took)
	}
	if st.LoadAttemptsFailed < 2 || st.ObjectsSkipped != 1 || st.ObjectsPendingLoad != 0 || st.RowsLoaded != 0 ||
		!strings.Contains(st.LastLoadError, "invalid input syntax for type integer") {
		t.Errorf("stats = %+v, want several failed attempts, 1 object skipped, no rows", st)
	}
	if got := e.count("strict"); got != 0 {
		t.Errorf("strict holds %d rows after a failed COPY, want 0", got)
	}
	staged := e.stagedURLs()
	errManifests, skipped := e.manifestURLs("stage/errors/manifests/")
	if len(errManifests) != 1 || !slices.Equal(skipped, staged) {
		t.Fatalf("errors manifests %v listing %v, want one listing %v", errManifests, skipped, staged)
	}
	re := regexp.MustCompile(`^stage/errors/manifests/2025/01/02/03/strict-1-2025-01-02-03-04-05-` + uuidPattern + `$`)
	if !re.MatchString(errManifests[0]) {
		t.Errorf("errors manifest key %q does not match %s", errManifests[0], re)
	}
	// The load's own manifest has the same name under manifests/.
	if m := e.keysUnder("stage/manifests/"); len(m) != 1 || strings.TrimPrefix(m[0], "stage/manifests/") != strings.TrimPrefix(errManifests[0], "stage/errors/manifests/") {
		t.Errorf("manifests %v, want one named like %s", m, errManifests[0])
	}

	// The stream carries on.
	e.putBatch("strict", [][]byte{[]byte("4\n")})
	st = e.waitStats("strict", "the next load", func(st firehoselocal.StreamStats) bool { return st.LoadsSucceeded == 1 })
	if st.RowsLoaded != 1 || e.count("strict") != 1 {
		t.Errorf("after the next put: stats %+v, %d rows; want 1 row loaded", st, e.count("strict"))
	}
}

// TestRedshiftGzipWithoutCopyOption: GZIP objects loaded without GZIP in
// CopyOptions fail as Redshift's COPY would; RetryOptions 0 gives up after
// the first attempt.
func TestRedshiftGzipWithoutCopyOption(t *testing.T) {
	e := newRedshiftEnv(t)
	e.exec(`CREATE TABLE z (id int)`)
	c := e.redshiftConfig("z", "", "CSV", types.CompressionFormatGzip)
	c.RetryOptions.DurationInSeconds = aws.Int32(0)
	e.createRedshift("z", c)
	e.putBatch("z", [][]byte{[]byte("1\n")})
	st := e.waitStats("z", "a skipped load", func(st firehoselocal.StreamStats) bool { return st.LoadsFailed == 1 })
	if st.LoadAttemptsFailed != 1 || !strings.Contains(st.LastLoadError, "is gzip-compressed but CopyOptions has no GZIP") {
		t.Errorf("stats = %+v, want one attempt failing on the missing GZIP option", st)
	}
	if len(e.keysUnder("stage/errors/manifests/")) != 1 {
		t.Errorf("errors manifests: %v", e.keysUnder("stage/errors/manifests/"))
	}
}

// TestRedshiftCloseAbandonsFailingLoad: Close's deadline ends a load still
// being retried; Close says so, and the objects are listed under errors/.
func TestRedshiftCloseAbandonsFailingLoad(t *testing.T) {
	e := newRedshiftEnv(t)
	e.createRedshift("stuck", e.redshiftConfig("missing", "", "CSV", types.CompressionFormatUncompressed))
	e.putBatch("stuck", [][]byte{[]byte("1\n")})
	e.waitStats("stuck", "a failed COPY", func(st firehoselocal.StreamStats) bool { return st.LoadAttemptsFailed >= 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := e.srv.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 objects staged in S3 but not loaded into PostgreSQL") {
		t.Errorf("Close = %v, want it to report the unloaded object", err)
	}
	if _, urls := e.manifestURLs("stage/errors/manifests/"); !slices.Equal(urls, e.stagedURLs()) {
		t.Errorf("errors manifests list %v, want the staged objects", urls)
	}
}

// TestRedshiftDescribe needs no PostgreSQL: nothing connects before data.
func TestRedshiftDescribe(t *testing.T) {
	e := newEnv(t, func(c *firehoselocal.Config) { c.RedshiftPostgresURL = "postgres://postgres@127.0.0.1:1/unused" })
	c := (&redshiftEnv{database: "dev"}).redshiftConfig("public.events", "id,name", "CSV GZIP", types.CompressionFormatGzip)
	c.RetryOptions = nil
	e.createRedshift("desc", c)
	d, err := e.fh.DescribeDeliveryStream(context.Background(), &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("desc")})
	if err != nil {
		t.Fatalf("DescribeDeliveryStream: %v", err)
	}
	dst := d.DeliveryStreamDescription.Destinations[0]
	r := dst.RedshiftDestinationDescription
	if r == nil || dst.ExtendedS3DestinationDescription != nil || dst.S3DestinationDescription != nil {
		t.Fatalf("destination = %+v, want only a RedshiftDestinationDescription", dst)
	}
	if aws.ToString(r.ClusterJDBCURL) != testCluster+"dev" || aws.ToString(r.RoleARN) != testRole || aws.ToString(r.Username) != "firehose" ||
		aws.ToString(r.CopyCommand.DataTableName) != "public.events" || aws.ToString(r.CopyCommand.DataTableColumns) != "id,name" ||
		aws.ToString(r.CopyCommand.CopyOptions) != "CSV GZIP" || aws.ToInt32(r.RetryOptions.DurationInSeconds) != 3600 ||
		r.S3BackupMode != types.RedshiftS3BackupModeDisabled || r.S3BackupDescription != nil {
		t.Errorf("RedshiftDestinationDescription = %+v", r)
	}
	s3d := r.S3DestinationDescription
	if s3d == nil || aws.ToString(s3d.Prefix) != "stage/" || s3d.CompressionFormat != types.CompressionFormatGzip ||
		aws.ToInt32(s3d.BufferingHints.SizeInMBs) != 1 || aws.ToInt32(s3d.BufferingHints.IntervalInSeconds) != 0 {
		t.Errorf("S3DestinationDescription = %+v", s3d)
	}
	body, err := json.Marshal(r)
	if err != nil || strings.Contains(string(body), "Passw0rd") {
		t.Errorf("description carries the password: %s", body)
	}
}

func TestRedshiftCreateErrors(t *testing.T) {
	e := newEnv(t, func(c *firehoselocal.Config) { c.RedshiftPostgresURL = "postgres://postgres@127.0.0.1:1/unused" })
	base := func() *types.RedshiftDestinationConfiguration {
		return (&redshiftEnv{database: "dev"}).redshiftConfig("t", "", "CSV", types.CompressionFormatUncompressed)
	}
	with := func(f func(*types.RedshiftDestinationConfiguration)) *types.RedshiftDestinationConfiguration {
		c := base()
		f(c)
		return c
	}
	cases := []struct {
		name    string
		c       *types.RedshiftDestinationConfiguration
		code    string
		message string
	}{
		{"postgres JDBC URL", with(func(c *types.RedshiftDestinationConfiguration) {
			c.ClusterJDBCURL = aws.String("jdbc:postgresql://127.0.0.1:5432/dev")
		}), "ValidationException", "at 'redshiftDestinationConfiguration.clusterJDBCURL' failed to satisfy constraint: Member must satisfy regular expression pattern: jdbc:(redshift|postgresql)://"},
		{"short password", with(func(c *types.RedshiftDestinationConfiguration) { c.Password = aws.String("abc") }),
			"ValidationException", "Value '*** Sensitive Data Redacted ***' at 'redshiftDestinationConfiguration.password'"},
		{"retry too long", with(func(c *types.RedshiftDestinationConfiguration) { c.RetryOptions.DurationInSeconds = aws.Int32(7201) }),
			"ValidationException", "at 'redshiftDestinationConfiguration.retryOptions.durationInSeconds' failed to satisfy constraint: Member must have value less than or equal to 7200"},
		{"staging bucket ARN", with(func(c *types.RedshiftDestinationConfiguration) { c.S3Configuration.BucketARN = aws.String("bucket") }),
			"ValidationException", "at 'redshiftDestinationConfiguration.s3Configuration.bucketARN'"},
		{"zip", with(func(c *types.RedshiftDestinationConfiguration) {
			c.S3Configuration.CompressionFormat = types.CompressionFormatZip
		}),
			"InvalidArgumentException", "Compression format ZIP is not supported for the Amazon Redshift destination"},
		{"snappy", with(func(c *types.RedshiftDestinationConfiguration) {
			c.S3Configuration.CompressionFormat = types.CompressionFormatSnappy
		}),
			"InvalidArgumentException", "Compression format Snappy is not supported"},
		{"prefix expression", with(func(c *types.RedshiftDestinationConfiguration) {
			c.S3Configuration.Prefix = aws.String("!{timestamp:yyyy}/")
			c.S3Configuration.ErrorOutputPrefix = aws.String("e/!{firehose:error-output-type}/")
		}), "InvalidArgumentException", "Prefix cannot contain expressions when the destination is Amazon Redshift"},
		{"error prefix", with(func(c *types.RedshiftDestinationConfiguration) {
			c.S3Configuration.ErrorOutputPrefix = aws.String("errors/")
		}),
			"InvalidArgumentException", "ErrorOutputPrefix must be null when the destination is Amazon Redshift"},
		{"text format", with(func(c *types.RedshiftDestinationConfiguration) {
			c.CopyCommand.CopyOptions = aws.String("DELIMITER '|'")
		}),
			"InvalidArgumentException", "CopyOptions without CSV or JSON 'auto' (Redshift's default pipe-delimited text format) is not supported by firehose-local"},
		{"CSV and JSON", with(func(c *types.RedshiftDestinationConfiguration) {
			c.CopyCommand.CopyOptions = aws.String("CSV JSON 'auto'")
		}),
			"InvalidArgumentException", "CSV and JSON cannot be used together"},
		{"CSV option with JSON", with(func(c *types.RedshiftDestinationConfiguration) {
			c.CopyCommand.CopyOptions = aws.String("JSON 'auto' IGNOREHEADER 1")
		}),
			"InvalidArgumentException", "IGNOREHEADER cannot be used with JSON"},
		{"jsonpaths", with(func(c *types.RedshiftDestinationConfiguration) {
			c.CopyCommand.CopyOptions = aws.String("JSON 's3://b/paths.json'")
		}),
			"InvalidArgumentException", "CopyOptions JSON 's3://b/paths.json'"},
		{"unemulated option", with(func(c *types.RedshiftDestinationConfiguration) {
			c.CopyCommand.CopyOptions = aws.String("CSV TRUNCATECOLUMNS")
		}),
			"InvalidArgumentException", "CopyOptions TRUNCATECOLUMNS is not supported by firehose-local"},
		{"unknown option", with(func(c *types.RedshiftDestinationConfiguration) {
			c.CopyCommand.CopyOptions = aws.String("CSV FROBNICATE")
		}),
			"InvalidArgumentException", `CopyOptions "FROBNICATE"`},
		{"bad columns", with(func(c *types.RedshiftDestinationConfiguration) { c.CopyCommand.DataTableColumns = aws.String("a,,b") }),
			"InvalidArgumentException", "DataTableColumns"},
		{"lambda", with(func(c *types.RedshiftDestinationConfiguration) {
			c.ProcessingConfiguration = &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []types.Processor{{Type: types.ProcessorTypeLambda}}}
		}), "InvalidArgumentException", "Processor type(s) Lambda are not supported"},
		{"backup without configuration", with(func(c *types.RedshiftDestinationConfiguration) { c.S3BackupMode = types.RedshiftS3BackupModeEnabled }),
			"InvalidArgumentException", "S3BackupConfiguration is required when S3BackupMode is Enabled"},
		{"no password", with(func(c *types.RedshiftDestinationConfiguration) { c.Password = nil }),
			"InvalidArgumentException", "Username and Password are required"},
		{"secrets manager", with(func(c *types.RedshiftDestinationConfiguration) {
			c.SecretsManagerConfiguration = &types.SecretsManagerConfiguration{Enabled: aws.Bool(true), SecretARN: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:s")}
		}), "InvalidArgumentException", "SecretsManagerConfiguration is not supported by firehose-local"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.fh.CreateDeliveryStream(context.Background(), &firehose.CreateDeliveryStreamInput{
				DeliveryStreamName: aws.String("bad"), RedshiftDestinationConfiguration: tc.c,
			})
			if apiCode(err) != tc.code || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("CreateDeliveryStream = %v, want %s containing %q", err, tc.code, tc.message)
			}
		})
	}

	_, err := e.fh.CreateDeliveryStream(context.Background(), &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("two"), RedshiftDestinationConfiguration: base(),
		ExtendedS3DestinationConfiguration: streamConfig("", 1, 60, types.CompressionFormatUncompressed),
	})
	if !strings.Contains(fmt.Sprint(err), "Exactly one destination configuration must be specified, found ExtendedS3DestinationConfiguration and RedshiftDestinationConfiguration") {
		t.Errorf("two destinations: %v", err)
	}

	// Without a PostgreSQL server configured, Redshift is refused.
	plain := newEnv(t)
	_, err = plain.fh.CreateDeliveryStream(context.Background(), &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("nopg"), RedshiftDestinationConfiguration: base(),
	})
	var invalid *types.InvalidArgumentException
	if !errors.As(err, &invalid) || !strings.Contains(invalid.ErrorMessage(), "-redshift-postgres-url") {
		t.Errorf("without RedshiftPostgresURL: %v, want InvalidArgumentException naming -redshift-postgres-url", err)
	}
}

func TestRedshiftPostgresURLValidated(t *testing.T) {
	for _, bad := range []string{"mysql://127.0.0.1/x", "postgres:///nohost", "::"} {
		if _, err := firehoselocal.New(firehoselocal.Config{S3: newS3Client("http://127.0.0.1:1"), RedshiftPostgresURL: bad}); err == nil {
			t.Errorf("RedshiftPostgresURL %q accepted", bad)
		}
	}
}

// TestRedshiftOddPrefix: manifests carry keys as they are (not URL-encoded)
// and the loader reads them back as such.
func TestRedshiftOddPrefix(t *testing.T) {
	e := newRedshiftEnv(t)
	e.exec(`CREATE TABLE odd (id int)`)
	c := e.redshiftConfig("odd", "", "CSV", types.CompressionFormatUncompressed)
	c.S3Configuration.Prefix = aws.String("we+ird %20?#=/")
	e.createRedshift("odd", c)
	e.putBatch("odd", [][]byte{[]byte("1\n"), []byte("2\n")})
	e.waitLoaded("odd", 2)
	if got := e.count("odd"); got != 2 {
		t.Errorf("odd holds %d rows, want 2", got)
	}
	if _, urls := e.manifestURLs("we+ird %20?#=/manifests/"); len(urls) != 1 || !strings.HasPrefix(urls[0], "s3://"+testBucket+"/we+ird %20?#=/2025/") {
		t.Errorf("manifest lists %v", urls)
	}
}
