package firehoselocal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/parquet-go/parquet-go"

	"github.com/shardflow/shardflow/internal/firehoselocal"
)

// writeTable writes a Glue table definition under dir/db/table.json.
func writeTable(t *testing.T, dir, db, table string, cols ...string) {
	t.Helper()
	var def struct {
		Name              string
		StorageDescriptor struct{ Columns []map[string]string }
	}
	def.Name = table
	for _, c := range cols {
		name, typ, _ := strings.Cut(c, " ")
		def.StorageDescriptor.Columns = append(def.StorageDescriptor.Columns, map[string]string{"Name": name, "Type": typ})
	}
	raw, _ := json.Marshal(def)
	if err := os.MkdirAll(filepath.Join(dir, db), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, db, table+".json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func conversionConfig(prefix, db, table string, deser *types.Deserializer, parq *types.ParquetSerDe) *types.ExtendedS3DestinationConfiguration {
	c := streamConfig(prefix, 64, 60, types.CompressionFormatUncompressed)
	c.ErrorOutputPrefix = aws.String("errors/!{firehose:error-output-type}/")
	c.DataFormatConversionConfiguration = &types.DataFormatConversionConfiguration{
		Enabled:                   aws.Bool(true),
		SchemaConfiguration:       &types.SchemaConfiguration{DatabaseName: aws.String(db), TableName: aws.String(table), RoleARN: aws.String(testRole)},
		InputFormatConfiguration:  &types.InputFormatConfiguration{Deserializer: deser},
		OutputFormatConfiguration: &types.OutputFormatConfiguration{Serializer: &types.Serializer{ParquetSerDe: parq}},
	}
	return c
}

// parquetRows reads a Parquet object with parquet-go (not arrow-go, which
// firehose-local writes with): the schema as "name TYPE" lines and the
// rows as maps (INT96 timestamps as time.Time).
func parquetRows(t *testing.T, data []byte) ([]string, []map[string]any, *parquet.File) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("parquet-go: %v", err)
	}
	var schema []string
	for _, el := range f.Metadata().Schema[1:] {
		schema = append(schema, fmt.Sprintf("%s %s %s", el.Name, el.Type.V, el.RepetitionType.V))
	}
	var rows []map[string]any
	buf := make([]parquet.Row, 64)
	cols := f.Metadata().Schema[1:]
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				m := map[string]any{}
				for _, v := range row {
					if v.IsNull() {
						continue
					}
					col := cols[v.Column()]
					switch col.Type.V.String() {
					case "BYTE_ARRAY":
						m[col.Name] = string(v.ByteArray())
					case "INT96":
						// INT96: nanoseconds of the day, then the Julian day.
						i := v.Int96()
						nanos := int64(i[1])<<32 | int64(i[0])
						m[col.Name] = time.Unix((int64(i[2])-2440588)*86400, nanos).UTC()
					case "INT32":
						m[col.Name] = int64(v.Int32())
					case "INT64":
						m[col.Name] = v.Int64()
					case "DOUBLE":
						m[col.Name] = v.Double()
					case "FLOAT":
						m[col.Name] = float64(v.Float())
					case "BOOLEAN":
						m[col.Name] = v.Boolean()
					}
				}
				rows = append(rows, m)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rr.Close()
	}
	return schema, rows, f
}

// TestFormatConversionOpenX converts JSON to Parquet with the OpenX SerDe
// rules: case-insensitive keys, dots to underscores, a column mapped to
// another key, every documented timestamp form; records that do not
// convert go to format-conversion-failed as the service's error documents.
func TestFormatConversionOpenX(t *testing.T) {
	dir := t.TempDir()
	writeTable(t, dir, "lake", "events", "event_id string", "user_id bigint", "qty int", "price double", "ok boolean",
		"ts timestamp", "day date", "geo_country string", "renamed varchar(10)")
	e := newEnv(t, func(c *firehoselocal.Config) { c.GlueTablesDir = dir })
	deser := &types.Deserializer{OpenXJsonSerDe: &types.OpenXJsonSerDe{
		ConvertDotsInJsonKeysToUnderscores: aws.Bool(true),
		ColumnToJsonKeyMappings:            map[string]string{"renamed": "original"},
	}}
	e.createActive("conv", conversionConfig("parquet/", "lake", "events", deser, &types.ParquetSerDe{Compression: types.ParquetCompressionGzip}))

	good := [][]byte{
		// Two documents in one record, as shardflow packs rows.
		[]byte(`{"EVENT_ID":"e1","user_id":42,"qty":"7","price":19.99,"ok":true,"ts":"2025-01-02T03:04:05.123456789Z","day":"2025-01-02","geo.country":"DE","original":"x"}` + "\n" +
			`{"event_id":"e2","user_id":-1,"ts":"2025-1-2 03:04:05.5","unknown":"ignored"}`),
		[]byte(`{"event_id":"e3","ts":1518033528}`),
		[]byte(`{"event_id":"e4","ts":1518033528123}`),
		[]byte(`{"event_id":"e5","ts":1518033528.25,"ok":"false"}`),
	}
	bad := [][]byte{
		[]byte(`[{"event_id":"e6"}]`),           // an array is not valid input
		[]byte(`{"event_id":"e7","qty":1.5}`),   // not an integer
		[]byte(`{"event_id":"e8","ts":"noon"}`), // not a timestamp
		[]byte(`not json`),
		[]byte(`{"event_id":"e9","qty":3000000000}`), // out of int range
	}
	e.putBatch("conv", append(append([][]byte{}, good...), bad...))
	e.clock.Advance(61 * time.Second)
	keys := e.waitKeys(2)
	var dataKey, errKey string
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, "parquet/2025/01/02/03/conv-1-"):
			dataKey = k
		case strings.HasPrefix(k, "errors/format-conversion-failed/2025/01/02/03/conv-1-"):
			errKey = k
		}
	}
	if dataKey == "" || errKey == "" {
		t.Fatalf("objects %v: want one under parquet/ and one under errors/format-conversion-failed/", keys)
	}
	schema, rows, f := parquetRows(t, e.object(dataKey))
	wantSchema := []string{"event_id BYTE_ARRAY OPTIONAL", "user_id INT64 OPTIONAL", "qty INT32 OPTIONAL", "price DOUBLE OPTIONAL",
		"ok BOOLEAN OPTIONAL", "ts INT96 OPTIONAL", "day INT32 OPTIONAL", "geo_country BYTE_ARRAY OPTIONAL", "renamed BYTE_ARRAY OPTIONAL"}
	if fmt.Sprint(schema) != fmt.Sprint(wantSchema) {
		t.Fatalf("schema %v\nwant %v", schema, wantSchema)
	}
	if codec := f.Metadata().RowGroups[0].Columns[0].MetaData.Codec.String(); codec != "GZIP" {
		t.Errorf("codec %s, want GZIP", codec)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5: %v", len(rows), rows)
	}
	ts := func(i int) time.Time { return rows[i]["ts"].(time.Time).UTC() }
	checks := []struct {
		got, want any
	}{
		{rows[0]["event_id"], "e1"}, {rows[0]["user_id"], int64(42)}, {rows[0]["qty"], int64(7)}, {rows[0]["price"], 19.99},
		{rows[0]["ok"], true}, {ts(0), time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{rows[0]["day"], int64(time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC).Unix() / 86400)},
		{rows[0]["geo_country"], "DE"}, {rows[0]["renamed"], "x"},
		{rows[1]["user_id"], int64(-1)}, {ts(1), time.Date(2025, 1, 2, 3, 4, 5, 500000000, time.UTC)}, {rows[1]["qty"], nil},
		{ts(2), time.Unix(1518033528, 0).UTC()}, {ts(3), time.UnixMilli(1518033528123).UTC()},
		{ts(4), time.Unix(1518033528, 250000000).UTC()}, {rows[4]["ok"], false},
	}
	for i, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("check %d: got %v, want %v", i, c.got, c.want)
		}
	}
	lines := strings.Split(strings.TrimSpace(string(e.object(errKey))), "\n")
	if len(lines) != len(bad) {
		t.Fatalf("%d error documents, want %d", len(lines), len(bad))
	}
	for i, line := range lines {
		var doc struct {
			AttemptsMade     int
			ArrivalTimestamp int64
			LastErrorCode    string
			LastErrorMessage string
			RawData          []byte
			DataCatalogTable struct{ DatabaseName, TableName, VersionId string }
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(doc.RawData, bad[i]) || doc.LastErrorCode != "DataFormatConversion.MalformedData" || doc.LastErrorMessage == "" ||
			doc.ArrivalTimestamp != clockStart.UnixMilli() || doc.DataCatalogTable.TableName != "events" || doc.DataCatalogTable.VersionId != "LATEST" {
			t.Errorf("error document %d: %+v", i, doc)
		}
	}
	if st := e.stats("conv"); st.RecordsFailedConversion != int64(len(bad)) || st.RecordsAccepted != int64(len(good)+len(bad)) {
		t.Errorf("stats %+v", st)
	}
}

// TestFormatConversionHiveAndLimits: the Hive SerDe parses timestamps with
// its TimestampFormats (Joda patterns, millis) or java.sql.Timestamp;
// conversion needs 64 MiB buffers unless AllowSmallBuffers, defaults them
// to 128 MiB, needs UNCOMPRESSED and a table definition.
func TestFormatConversionHiveAndLimits(t *testing.T) {
	dir := t.TempDir()
	writeTable(t, dir, "lake", "t", "id string", "ts timestamp")
	e := newEnv(t, func(c *firehoselocal.Config) { c.GlueTablesDir = dir })
	hive := &types.Deserializer{HiveJsonSerDe: &types.HiveJsonSerDe{TimestampFormats: []string{"dd/MM/yyyy HH:mm:ss", "millis"}}}
	e.createActive("hive", conversionConfig("h/", "lake", "t", hive, &types.ParquetSerDe{}))
	plain := &types.Deserializer{HiveJsonSerDe: &types.HiveJsonSerDe{}}
	e.createActive("hive-default", conversionConfig("hd/", "lake", "t", plain, &types.ParquetSerDe{Compression: types.ParquetCompressionUncompressed}))
	e.putBatch("hive", [][]byte{[]byte(`{"ID":"a","ts":"02/01/2025 03:04:05"}`), []byte(`{"id":"b","ts":1735787045000}`), []byte(`{"id":"c","ts":"2025-01-02T03:04:05Z"}`)})
	e.putBatch("hive-default", [][]byte{[]byte(`{"id":"d","ts":"2025-01-02 03:04:05.25"}`), []byte(`{"id":"e","ts":"2025-01-02T03:04:05Z"}`)})
	e.clock.Advance(61 * time.Second)
	keys := e.waitKeys(4)
	want := map[string]string{
		"h/":  "a=2025-01-02 03:04:05 +0000 UTC b=2025-01-02 03:04:05 +0000 UTC",
		"hd/": "d=2025-01-02 03:04:05.25 +0000 UTC",
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "errors/") {
			if n := strings.Count(string(e.object(k)), "\n"); n != 1 {
				t.Errorf("%s: %d error documents, want 1", k, n)
			}
			continue
		}
		_, rows, f := parquetRows(t, e.object(k))
		var got []string
		for _, r := range rows {
			got = append(got, fmt.Sprintf("%s=%s", r["id"], r["ts"].(time.Time).UTC()))
		}
		p := k[:strings.Index(k, "/")+1]
		if strings.Join(got, " ") != want[p] {
			t.Errorf("%s: %v, want %s", k, got, want[p])
		}
		if p == "hd/" && f.Metadata().RowGroups[0].Columns[0].MetaData.Codec.String() != "UNCOMPRESSED" {
			t.Errorf("%s is compressed", k)
		}
	}

	create := func(name string, c *types.ExtendedS3DestinationConfiguration) error {
		_, err := e.fh.CreateDeliveryStream(context.Background(), &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(name), ExtendedS3DestinationConfiguration: c})
		return err
	}
	small := conversionConfig("s/", "lake", "t", plain, &types.ParquetSerDe{})
	small.BufferingHints.SizeInMBs = aws.Int32(5)
	if err := create("small", small); apiCode(err) != "InvalidArgumentException" || !strings.Contains(err.Error(), "at least 64") {
		t.Errorf("5 MiB with conversion: %v", err)
	}
	gz := conversionConfig("g/", "lake", "t", plain, &types.ParquetSerDe{})
	gz.CompressionFormat = types.CompressionFormatGzip
	if err := create("gz", gz); apiCode(err) != "InvalidArgumentException" || !strings.Contains(err.Error(), "UNCOMPRESSED") {
		t.Errorf("GZIP with conversion: %v", err)
	}
	missing := conversionConfig("m/", "lake", "nope", plain, &types.ParquetSerDe{})
	if err := create("missing", missing); apiCode(err) != "InvalidArgumentException" || !strings.Contains(err.Error(), "lake.nope not found") {
		t.Errorf("missing table: %v", err)
	}
	block := conversionConfig("b/", "lake", "t", plain, &types.ParquetSerDe{BlockSizeBytes: aws.Int32(1 << 20)})
	if err := create("block", block); apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "blockSizeBytes") {
		t.Errorf("1 MiB block size: %v", err)
	}
	def := conversionConfig("d/", "lake", "t", plain, &types.ParquetSerDe{})
	def.BufferingHints = nil
	e.createActive("default-size", def)
	out, err := e.fh.DescribeDeliveryStream(context.Background(), &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("default-size")})
	if err != nil {
		t.Fatal(err)
	}
	ext := out.DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription
	if aws.ToInt32(ext.BufferingHints.SizeInMBs) != 128 || ext.DataFormatConversionConfiguration == nil ||
		aws.ToString(ext.DataFormatConversionConfiguration.SchemaConfiguration.TableName) != "t" {
		t.Errorf("describe: size %d, conversion %+v", aws.ToInt32(ext.BufferingHints.SizeInMBs), ext.DataFormatConversionConfiguration)
	}

	e2 := newEnv(t, func(c *firehoselocal.Config) { c.GlueTablesDir, c.AllowSmallBuffers = dir, true })
	small2 := conversionConfig("s/", "lake", "t", plain, &types.ParquetSerDe{})
	small2.BufferingHints.SizeInMBs = aws.Int32(1)
	e2.createActive("small", small2)
}

func dynamicConfig(prefix, query string, procs ...types.Processor) *types.ExtendedS3DestinationConfiguration {
	c := streamConfig(prefix, 1, 60, types.CompressionFormatUncompressed)
	c.ErrorOutputPrefix = aws.String("errors/!{firehose:error-output-type}/")
	c.DynamicPartitioningConfiguration = &types.DynamicPartitioningConfiguration{Enabled: aws.Bool(true)}
	c.ProcessingConfiguration = &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: append(procs,
		types.Processor{Type: types.ProcessorTypeMetadataExtraction, Parameters: []types.ProcessorParameter{
			{ParameterName: types.ProcessorParameterNameMetadataExtractionQuery, ParameterValue: aws.String(query)},
			{ParameterName: types.ProcessorParameterNameJsonParsingEngine, ParameterValue: aws.String("JQ-1.6")},
		}})}
	return c
}

// TestDynamicPartitioning: JSON deaggregation splits a record of three
// documents; a jq query gives each its partition keys; each partition has
// its own buffer and object; a document without the key goes to
// partitioning-failed; beyond the active-partition limit, to
// activePartitionExceeded.
func TestDynamicPartitioning(t *testing.T) {
	e := newEnv(t, func(c *firehoselocal.Config) { c.ActivePartitionLimit = 2 })
	deagg := types.Processor{Type: types.ProcessorTypeRecordDeAggregation, Parameters: []types.ProcessorParameter{
		{ParameterName: types.ProcessorParameterNameSubRecordType, ParameterValue: aws.String("JSON")}}}
	newline := types.Processor{Type: types.ProcessorTypeAppendDelimiterToRecord}
	e.createActive("dp", dynamicConfig("c=!{partitionKeyFromQuery:customer}/y=!{partitionKeyFromQuery:year}/!{timestamp:HH}/",
		`{customer: .customer_id, year: (.ts | strftime("%Y"))}`, deagg, newline))
	e.putBatch("dp", [][]byte{
		[]byte(`{"customer_id":"acme","ts":1735787045,"n":1}{"customer_id":7,"ts":1735787045,"n":2}` + "\n" + `{"customer_id":"acme","ts":1735787046,"n":3}`),
		[]byte(`{"ts":1735787045,"n":4}`),                       // no customer_id: null key
		[]byte(`{"customer_id":"third","ts":1735787045,"n":5}`), // a third partition: over the limit of 2
		[]byte(`[{"customer_id":"acme"}]`),                      // not JSON objects
	})
	e.clock.Advance(61 * time.Second)
	keys := e.waitKeys(4)
	got := map[string]string{}
	for _, k := range keys {
		p := k[:strings.LastIndex(k, "/")+1]
		got[p] = string(e.object(k))
	}
	if got["c=acme/y=2025/03/"] != `{"customer_id":"acme","ts":1735787045,"n":1}`+"\n"+`{"customer_id":"acme","ts":1735787046,"n":3}`+"\n" ||
		got["c=7/y=2025/03/"] != `{"customer_id":7,"ts":1735787045,"n":2}`+"\n" {
		t.Fatalf("partition objects: %v", got)
	}
	docs := func(prefix string) []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(got[prefix]), "\n") {
			var d struct {
				ErrorCode string
				RawData   []byte
			}
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatalf("%s: %v", prefix, err)
			}
			out = append(out, d.ErrorCode+" "+string(d.RawData))
		}
		sort.Strings(out)
		return out
	}
	if d := docs("errors/partitioning-failed/2025/01/02/03/"); len(d) != 2 || !strings.Contains(d[0], `[{"customer_id":"acme"}]`) || !strings.Contains(d[1], `{"ts":1735787045,"n":4}`) {
		t.Errorf("partitioning-failed: %v", d)
	}
	if d := docs("errors/activePartitionExceeded/2025/01/02/03/"); len(d) != 1 || !strings.HasPrefix(d[0], "DynamicPartitioning.ActivePartitionExceeded ") {
		t.Errorf("activePartitionExceeded: %v", d)
	}

	for name, c := range map[string]*types.ExtendedS3DestinationConfiguration{
		"no key in prefix": dynamicConfig("static/", `{a: .a}`),
		"bad jq":           dynamicConfig("a=!{partitionKeyFromQuery:a}/", `{a: .a`),
		"zero interval": func() *types.ExtendedS3DestinationConfiguration {
			c := dynamicConfig("a=!{partitionKeyFromQuery:a}/", `{a: .a}`)
			c.BufferingHints.IntervalInSeconds = aws.Int32(0)
			return c
		}(),
		"no error prefix": func() *types.ExtendedS3DestinationConfiguration {
			c := dynamicConfig("a=!{partitionKeyFromQuery:a}/", `{a: .a}`)
			c.ErrorOutputPrefix = nil
			return c
		}(),
	} {
		_, err := e.fh.CreateDeliveryStream(context.Background(), &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("bad"), ExtendedS3DestinationConfiguration: c})
		if apiCode(err) != "InvalidArgumentException" {
			t.Errorf("%s: %v, want InvalidArgumentException", name, err)
		}
	}
}

// TestDynamicPartitioningDelimited: DELIMITED deaggregation splits at the
// base64-encoded delimiter ("####" is IyMjIw==); a boolean key renders as
// jq prints it.
func TestDynamicPartitioningDelimited(t *testing.T) {
	e := newEnv(t)
	deagg := types.Processor{Type: types.ProcessorTypeRecordDeAggregation, Parameters: []types.ProcessorParameter{
		{ParameterName: types.ProcessorParameterNameSubRecordType, ParameterValue: aws.String("DELIMITED")},
		{ParameterName: types.ProcessorParameterNameDelimiter, ParameterValue: aws.String("IyMjIw==")}}}
	e.createActive("delim", dynamicConfig("vip=!{partitionKeyFromQuery:vip}/", `{vip: .vip}`, deagg))
	e.putBatch("delim", [][]byte{[]byte(`{"vip":true,"n":1}####{"vip":false,"n":2}####{"vip":true,"n":3}`)})
	e.clock.Advance(61 * time.Second)
	got := map[string]string{}
	for _, k := range e.waitKeys(2) {
		got[k[:strings.Index(k, "/")+1]] = string(e.object(k))
	}
	if got["vip=true/"] != `{"vip":true,"n":1}{"vip":true,"n":3}` || got["vip=false/"] != `{"vip":false,"n":2}` {
		t.Fatalf("objects: %v", got)
	}
}
