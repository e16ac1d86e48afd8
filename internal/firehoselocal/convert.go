package firehoselocal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Record format conversion (DataFormatConversionConfiguration): JSON input,
// Parquet output. See the package documentation for the rules.

const (
	minConversionBufferMiB = 64
	// defaultConversionBufferMiB is the service's size hint when format
	// conversion is on and no BufferingHints are given.
	defaultConversionBufferMiB = 128
	minBlockSizeBytes          = 64 << 20
	defaultBlockSizeBytes      = 256 << 20
	minPageSizeBytes           = 64 << 10
	defaultPageSizeBytes       = 1 << 20
	conversionErrorType        = "format-conversion-failed"
	malformedDataCode          = "DataFormatConversion.MalformedData"
)

// conversion is a validated DataFormatConversionConfiguration.
type conversion struct {
	cols   []glueCol
	schema *arrow.Schema
	// Deserializer: OpenX (caseInsensitive, dots, mappings) or Hive.
	openX             bool
	caseInsensitive   bool
	dotsToUnderscores bool
	mappings          map[string]string // glueCol → JSON key
	hiveFormats       []hiveTimestampFormat
	// Serializer (ParquetSerDe).
	compression compress.Compression
	blockSize   int64
	pageSize    int64
	dictionary  bool
	pageV2      bool
	// For error documents.
	catalog dataCatalogTable
}

type hiveTimestampFormat struct {
	millis bool
	layout string // Go layout
}

type dataCatalogTable struct {
	CatalogID    *string `json:"catalogId"`
	DatabaseName string  `json:"databaseName"`
	TableName    string  `json:"tableName"`
	Region       *string `json:"region"`
	VersionID    string  `json:"versionId"`
	CatalogArn   *string `json:"catalogArn"`
}

// buildConversion validates c (present and enabled) for an S3 target.
func buildConversion(c *dataFormatConversionConfiguration, t *s3Target, cfg *Config, hintsGiven bool) (*conversion, error) {
	sc := c.SchemaConfiguration
	if sc == nil || sc.DatabaseName == nil || sc.TableName == nil || sc.RoleARN == nil {
		return nil, invalidArgument("DataFormatConversionConfiguration: SchemaConfiguration with RoleARN, DatabaseName and TableName is required when format conversion is enabled")
	}
	in, out := c.InputFormatConfiguration, c.OutputFormatConfiguration
	if in == nil || in.Deserializer == nil || (in.Deserializer.OpenXJsonSerDe == nil) == (in.Deserializer.HiveJsonSerDe == nil) {
		return nil, invalidArgument("DataFormatConversionConfiguration: InputFormatConfiguration needs exactly one deserializer (OpenXJsonSerDe or HiveJsonSerDe)")
	}
	if out == nil || out.Serializer == nil || (out.Serializer.ParquetSerDe == nil) == (out.Serializer.OrcSerDe == nil) {
		return nil, invalidArgument("DataFormatConversionConfiguration: OutputFormatConfiguration needs exactly one serializer (ParquetSerDe or OrcSerDe)")
	}
	if out.Serializer.OrcSerDe != nil {
		return nil, unsupported("OrcSerDe (firehose-local converts to Parquet only)")
	}
	if sc.VersionId != nil && *sc.VersionId != "LATEST" {
		return nil, unsupported("SchemaConfiguration VersionId " + *sc.VersionId + " (the table definition file is always the latest version)")
	}
	if t.compression != "UNCOMPRESSED" {
		return nil, invalidArgument("CompressionFormat must be UNCOMPRESSED when data format conversion is enabled; the serializer compresses (ParquetSerDe Compression)")
	}
	if !hintsGiven {
		t.sizeMiB = defaultConversionBufferMiB
	}
	if t.sizeMiB < minConversionBufferMiB && !cfg.AllowSmallBuffers {
		return nil, invalidArgument("BufferingHints.SizeInMBs must be at least %d when data format conversion is enabled (firehose-local -allow-small-buffers lifts this for local development)", minConversionBufferMiB)
	}
	cols, err := loadTable(cfg.GlueTablesDir, *sc.DatabaseName, *sc.TableName)
	if err != nil {
		return nil, err
	}
	conv := &conversion{cols: cols, caseInsensitive: true, compression: compress.Codecs.Snappy,
		blockSize: defaultBlockSizeBytes, pageSize: defaultPageSizeBytes}
	conv.catalog = dataCatalogTable{CatalogID: sc.CatalogId, DatabaseName: *sc.DatabaseName, TableName: *sc.TableName,
		Region: sc.Region, VersionID: "LATEST"}
	if ox := in.Deserializer.OpenXJsonSerDe; ox != nil {
		conv.openX = true
		if ox.CaseInsensitive != nil {
			conv.caseInsensitive = *ox.CaseInsensitive
		}
		conv.dotsToUnderscores = ox.ConvertDotsInJsonKeysToUnderscores != nil && *ox.ConvertDotsInJsonKeysToUnderscores
		conv.mappings = map[string]string{}
		for col, key := range ox.ColumnToJsonKeyMappings {
			conv.mappings[strings.ToLower(col)] = key
		}
	} else {
		for _, f := range in.Deserializer.HiveJsonSerDe.TimestampFormats {
			hf, err := parseJodaFormat(f)
			if err != nil {
				return nil, err
			}
			conv.hiveFormats = append(conv.hiveFormats, hf)
		}
	}
	ps := out.Serializer.ParquetSerDe
	if ps.Compression != nil {
		switch *ps.Compression {
		case "SNAPPY":
		case "GZIP":
			conv.compression = compress.Codecs.Gzip
		case "UNCOMPRESSED":
			conv.compression = compress.Codecs.Uncompressed
		}
	}
	if ps.BlockSizeBytes != nil {
		conv.blockSize = int64(*ps.BlockSizeBytes)
	}
	if ps.PageSizeBytes != nil {
		conv.pageSize = int64(*ps.PageSizeBytes)
	}
	conv.dictionary = ps.EnableDictionaryCompression != nil && *ps.EnableDictionaryCompression
	conv.pageV2 = ps.WriterVersion != nil && *ps.WriterVersion == "V2"
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.name, Type: arrowType(c.typ), Nullable: true}
	}
	conv.schema = arrow.NewSchema(fields, nil)
	return conv, nil
}

// checkConversion records model constraint violations of a
// DataFormatConversionConfiguration at path.
func checkConversion(v *violations, path string, c *dataFormatConversionConfiguration) {
	if c == nil || c.OutputFormatConfiguration == nil || c.OutputFormatConfiguration.Serializer == nil {
		return
	}
	ps := c.OutputFormatConfiguration.Serializer.ParquetSerDe
	if ps == nil {
		return
	}
	at := path + ".outputFormatConfiguration.serializer.parquetSerDe."
	if ps.BlockSizeBytes != nil && *ps.BlockSizeBytes < minBlockSizeBytes {
		v.add(quoted(*ps.BlockSizeBytes), at+"blockSizeBytes", fmt.Sprintf("Member must have value greater than or equal to %d", minBlockSizeBytes))
	}
	if ps.PageSizeBytes != nil && *ps.PageSizeBytes < minPageSizeBytes {
		v.add(quoted(*ps.PageSizeBytes), at+"pageSizeBytes", fmt.Sprintf("Member must have value greater than or equal to %d", minPageSizeBytes))
	}
	if ps.Compression != nil && *ps.Compression != "UNCOMPRESSED" && *ps.Compression != "GZIP" && *ps.Compression != "SNAPPY" {
		v.add(quoted(*ps.Compression), at+"compression", "Member must satisfy enum value set: [UNCOMPRESSED, GZIP, SNAPPY]")
	}
	if ps.WriterVersion != nil && *ps.WriterVersion != "V1" && *ps.WriterVersion != "V2" {
		v.add(quoted(*ps.WriterVersion), at+"writerVersion", "Member must satisfy enum value set: [V1, V2]")
	}
}

func arrowType(t hiveType) arrow.DataType {
	switch t {
	case hiveTinyint:
		return arrow.PrimitiveTypes.Int8
	case hiveSmallint:
		return arrow.PrimitiveTypes.Int16
	case hiveInt:
		return arrow.PrimitiveTypes.Int32
	case hiveBigint:
		return arrow.PrimitiveTypes.Int64
	case hiveFloat:
		return arrow.PrimitiveTypes.Float32
	case hiveDouble:
		return arrow.PrimitiveTypes.Float64
	case hiveBoolean:
		return arrow.FixedWidthTypes.Boolean
	case hiveTimestamp:
		return &arrow.TimestampType{Unit: arrow.Nanosecond}
	case hiveDate:
		return arrow.FixedWidthTypes.Date32
	}
	return arrow.BinaryTypes.String
}

// convertRecord deserializes one record: one or more JSON objects, one
// after another (an array is not valid input, as on the service). Every
// object becomes a row; a record with any object that does not convert
// fails as a whole.
func (c *conversion) convertRecord(data []byte) ([][]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var rows [][]any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the record is not valid JSON: %v", err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("the record holds a JSON %s, not an object (arrays of documents are not valid input)", jsonKind(v))
		}
		row, err := c.convertObject(obj)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errors.New("the record holds no JSON object")
	}
	return rows, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}

// convertObject maps one JSON object to a row: keys to columns as the
// deserializer does, values to the columns' types.
func (c *conversion) convertObject(obj map[string]any) ([]any, error) {
	byKey := make(map[string]any, len(obj))
	for k, v := range obj {
		nk := k
		if c.openX && c.dotsToUnderscores {
			nk = strings.ReplaceAll(nk, ".", "_")
		}
		if c.caseInsensitive {
			nk = strings.ToLower(nk)
		}
		if _, dup := byKey[nk]; !dup {
			byKey[nk] = v
		}
	}
	row := make([]any, len(c.cols))
	for i, col := range c.cols {
		key := col.name
		if m, ok := c.mappings[col.name]; ok {
			key = m
			if c.caseInsensitive {
				key = strings.ToLower(key)
			}
		}
		v, ok := byKey[key]
		if !ok || v == nil {
			continue
		}
		cv, err := c.convertValue(col, v)
		if err != nil {
			return nil, fmt.Errorf("glueCol %s (%s): %v", col.name, hiveTypeName(col.typ), err)
		}
		row[i] = cv
	}
	return row, nil
}

func hiveTypeName(t hiveType) string {
	return [...]string{"", "string", "tinyint", "smallint", "int", "bigint", "float", "double", "boolean", "timestamp", "date"}[t]
}

func (c *conversion) convertValue(col glueCol, v any) (any, error) {
	switch col.typ {
	case hiveString:
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		b, _ := json.Marshal(v)
		return string(b), nil
	case hiveTinyint, hiveSmallint, hiveInt, hiveBigint:
		n, err := integerOf(v)
		if err != nil {
			return nil, err
		}
		lo, hi := intRange(col.typ)
		if n < lo || n > hi {
			return nil, fmt.Errorf("%d is out of range", n)
		}
		return n, nil
	case hiveFloat, hiveDouble:
		f, err := floatOf(v)
		if err != nil {
			return nil, err
		}
		return f, nil
	case hiveBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, err := strconv.ParseBool(strings.ToLower(x)); err == nil && (strings.EqualFold(x, "true") || strings.EqualFold(x, "false")) {
				return b, nil
			}
		}
		return nil, fmt.Errorf("%v is not a boolean", v)
	case hiveTimestamp:
		if c.openX {
			return openXTimestamp(v)
		}
		return c.hiveTimestamp(v)
	case hiveDate:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%v is not a date string", v)
		}
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a date (yyyy-MM-dd)", s)
		}
		return int32(d.Unix() / 86400), nil
	}
	return nil, fmt.Errorf("unknown glueCol type")
}

func intRange(t hiveType) (int64, int64) {
	switch t {
	case hiveTinyint:
		return math.MinInt8, math.MaxInt8
	case hiveSmallint:
		return math.MinInt16, math.MaxInt16
	case hiveInt:
		return math.MinInt32, math.MaxInt32
	}
	return math.MinInt64, math.MaxInt64
}

func integerOf(v any) (int64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, fmt.Errorf("%v is not an integer", v)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return n, nil
}

func floatOf(v any) (float64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, fmt.Errorf("%v is not a number", v)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return f, nil
}

// sqlTimestamp is java.sql.Timestamp.valueOf's format:
// yyyy-[M]M-[d]d HH:mm:ss[.f...], fraction up to 9 digits.
var sqlTimestamp = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$`)

func parseSQLTimestamp(s string) (time.Time, bool) {
	m := sqlTimestamp.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	n := make([]int, 6)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	ns := 0
	if m[7] != "" {
		frac := m[7] + strings.Repeat("0", 9-len(m[7]))
		ns, _ = strconv.Atoi(frac)
	}
	t := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], ns, time.UTC)
	if t.Month() != time.Month(n[1]) || t.Day() != n[2] || n[3] > 23 || n[4] > 59 || n[5] > 59 {
		return time.Time{}, false
	}
	return t, true
}

// isoTimestamp is yyyy-MM-dd'T'HH:mm:ss[.S]'Z' with up to 9 fraction digits.
var isoTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$`)

// openXTimestamp accepts what the service documents for the OpenX JSON
// SerDe: yyyy-MM-dd'T'HH:mm:ss[.S]'Z', yyyy-[M]M-[d]d HH:mm:ss[.S] (UTC),
// epoch seconds, epoch milliseconds and floating-point epoch seconds. An
// integer of 11 or more digits is milliseconds, a shorter one seconds.
func openXTimestamp(v any) (time.Time, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return time.Time{}, fmt.Errorf("%v is not a timestamp", v)
	}
	if isoTimestamp.MatchString(s) {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC(), nil
		}
	}
	if t, ok := parseSQLTimestamp(s); ok {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n >= 1e11 || n <= -1e11 {
			return time.UnixMilli(n).UTC(), nil
		}
		return time.Unix(n, 0).UTC(), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp the OpenX JSON SerDe reads", s)
}

// hiveTimestamp parses with TimestampFormats when given (Joda patterns or
// millis), else as java.sql.Timestamp.valueOf does.
func (c *conversion) hiveTimestamp(v any) (time.Time, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return time.Time{}, fmt.Errorf("%v is not a timestamp", v)
	}
	if len(c.hiveFormats) == 0 {
		if t, ok := parseSQLTimestamp(s); ok {
			return t, nil
		}
		return time.Time{}, fmt.Errorf("%q is not yyyy-mm-dd hh:mm:ss[.f...] (java.sql.Timestamp; set HiveJsonSerDe TimestampFormats for others)", s)
	}
	for _, f := range c.hiveFormats {
		if f.millis {
			if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
				return time.UnixMilli(n).UTC(), nil
			}
			continue
		}
		if t, err := time.Parse(f.layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q matches none of the TimestampFormats", s)
}

// parseJodaFormat turns a Joda-Time DateTimeFormat pattern into a Go
// layout: y, M (1-3), d, H, h, m, s, S (fraction), a, E (3), Z and ZZ, and
// quoted literals. Other letters are refused as not supported.
func parseJodaFormat(p string) (hiveTimestampFormat, error) {
	if p == "millis" {
		return hiveTimestampFormat{millis: true}, nil
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		ch := p[i]
		if ch == '\'' {
			j := strings.IndexByte(p[i+1:], '\'')
			if j < 0 {
				return hiveTimestampFormat{}, invalidArgument("HiveJsonSerDe TimestampFormats %q: unterminated quote", p)
			}
			if j == 0 {
				b.WriteByte('\'')
			} else {
				b.WriteString(p[i+1 : i+1+j])
			}
			i += j + 2
			continue
		}
		if !isASCIILetter(ch) {
			b.WriteByte(ch)
			i++
			continue
		}
		j := i
		for j < len(p) && p[j] == ch {
			j++
		}
		n := j - i
		var lay string
		switch {
		case ch == 'y' && n == 2:
			lay = "06"
		case ch == 'y':
			lay = "2006"
		case ch == 'M' && n == 1:
			lay = "1"
		case ch == 'M' && n == 2:
			lay = "01"
		case ch == 'M' && n == 3:
			lay = "Jan"
		case ch == 'd' && n == 1:
			lay = "2"
		case ch == 'd' && n == 2:
			lay = "02"
		case ch == 'H' && n <= 2:
			lay = "15"
		case ch == 'h' && n == 1:
			lay = "3"
		case ch == 'h' && n == 2:
			lay = "03"
		case ch == 'm' && n == 1:
			lay = "4"
		case ch == 'm' && n == 2:
			lay = "04"
		case ch == 's' && n == 1:
			lay = "5"
		case ch == 's' && n == 2:
			lay = "05"
		case ch == 'S' && n <= 9:
			lay = strings.Repeat("0", n)
		case ch == 'a' && n == 1:
			lay = "PM"
		case ch == 'E' && n == 3:
			lay = "Mon"
		case ch == 'Z' && n == 1:
			lay = "-0700"
		case ch == 'Z' && n == 2:
			lay = "-07:00"
		default:
			return hiveTimestampFormat{}, unsupported(fmt.Sprintf("The Joda pattern letters %q in HiveJsonSerDe TimestampFormats %q", p[i:j], p))
		}
		b.WriteString(lay)
		i = j
	}
	return hiveTimestampFormat{layout: b.String()}, nil
}

// encodeParquet writes rows as one Parquet file the way the ParquetSerDe
// is configured: every glueCol OPTIONAL, timestamps as INT96 (as Hive's
// Parquet writer, which the service uses, stores them), row groups cut at
// about BlockSizeBytes, pages at PageSizeBytes.
func (c *conversion) encodeParquet(rows [][]any) ([]byte, error) {
	mem := memory.NewGoAllocator()
	rb := array.NewRecordBuilder(mem, c.schema)
	defer rb.Release()
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(mem),
		parquet.WithCompression(c.compression),
		parquet.WithDataPageSize(c.pageSize),
		parquet.WithDictionaryDefault(c.dictionary),
		parquet.WithDataPageVersion(map[bool]parquet.DataPageVersion{false: parquet.DataPageV1, true: parquet.DataPageV2}[c.pageV2]),
		parquet.WithCreatedBy("parquet-mr compatible firehose-local"),
	)
	fw, err := pqarrow.NewFileWriter(c.schema, &buf, props, pqarrow.NewArrowWriterProperties(
		pqarrow.WithAllocator(mem), pqarrow.WithDeprecatedInt96Timestamps(true)))
	if err != nil {
		return nil, err
	}
	const chunk = 8192
	for start := 0; start < len(rows); start += chunk {
		for _, row := range rows[start:min(start+chunk, len(rows))] {
			for i, v := range row {
				appendValue(rb.Field(i), c.cols[i].typ, v)
			}
		}
		rec := rb.NewRecordBatch()
		if start > 0 && fw.RowGroupTotalCompressedBytes() >= c.blockSize {
			if err := fw.NewBufferedRowGroupChecked(); err != nil {
				rec.Release()
				return nil, err
			}
		}
		err := fw.WriteBuffered(rec)
		rec.Release()
		if err != nil {
			return nil, err
		}
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func appendValue(b array.Builder, t hiveType, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch t {
	case hiveString:
		b.(*array.StringBuilder).Append(v.(string))
	case hiveTinyint:
		b.(*array.Int8Builder).Append(int8(v.(int64)))
	case hiveSmallint:
		b.(*array.Int16Builder).Append(int16(v.(int64)))
	case hiveInt:
		b.(*array.Int32Builder).Append(int32(v.(int64)))
	case hiveBigint:
		b.(*array.Int64Builder).Append(v.(int64))
	case hiveFloat:
		b.(*array.Float32Builder).Append(float32(v.(float64)))
	case hiveDouble:
		b.(*array.Float64Builder).Append(v.(float64))
	case hiveBoolean:
		b.(*array.BooleanBuilder).Append(v.(bool))
	case hiveTimestamp:
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(v.(time.Time).UnixNano()))
	case hiveDate:
		b.(*array.Date32Builder).Append(arrow.Date32(v.(int32)))
	}
}

// conversionFailure is the JSON document the service writes under the
// error prefix for a record that did not convert.
type conversionFailure struct {
	AttemptsMade           int              `json:"attemptsMade"`
	ArrivalTimestamp       int64            `json:"arrivalTimestamp"`
	LastErrorCode          string           `json:"lastErrorCode"`
	LastErrorMessage       string           `json:"lastErrorMessage"`
	AttemptEndingTimestamp int64            `json:"attemptEndingTimestamp"`
	RawData                []byte           `json:"rawData"`
	SequenceNumber         string           `json:"sequenceNumber"`
	SubSequenceNumber      int64            `json:"subSequenceNumber"`
	DataCatalogTable       dataCatalogTable `json:"dataCatalogTable"`
}
