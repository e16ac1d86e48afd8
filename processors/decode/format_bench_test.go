package decode

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
)

type formatBenchCase struct {
	name    string
	fields  []Field
	format  Format
	rowsPer int // rows per record
	line    func(i int) string
}

// records makes n records; cloudwatch_logs records carry rowsPer events each.
func (c formatBenchCase) records(n int) []flow.SourceRecord {
	recs := make([]flow.SourceRecord, n)
	t0 := time.Date(2026, 11, 22, 4, 50, 48, 0, time.UTC)
	for i := range recs {
		recs[i] = flow.SourceRecord{Data: []byte(c.line(i)), SequenceNumber: fmt.Sprintf("4960%052d", i), ArrivalTime: t0}
	}
	return recs
}

func apacheLine(i int) string {
	return fmt.Sprintf(`10.%d.%d.%d - - [22/Nov/2026:04:%02d:%02d +0000] "GET /products/%d?ref=home HTTP/1.1" %d %d "https://shop.example.com/" `+
		`"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"`,
		i%256, i/256%256, i%200, i/60%60, i%60, i%1000, []int{200, 200, 200, 304, 404, 500}[i%6], 1000+i%50000)
}

func formatBenchCases(tb testing.TB) []formatBenchCase {
	cwEnvelope := func(i, events int) string {
		var sb strings.Builder
		sb.WriteString(`{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/checkout","logStream":"2026/11/22/[$LATEST]0123456789abcdef","subscriptionFilters":["to-kinesis"],"logEvents":[`)
		for e := range events {
			if e > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"id":"3195310660696698337880902507980421114328961542429822%04d","timestamp":%d,"message":"{\"level\":\"info\",\"order\":\"o-%d\",\"ms\":%d}"}`,
				e, 1763787048000+int64(i*events+e), i*events+e, e%300)
		}
		sb.WriteString(`]}`)
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write([]byte(sb.String()))
		w.Close()
		return buf.String()
	}
	return []formatBenchCase{
		{"apache_combined", []Field{
			{Name: "client", Type: String}, {Name: "ts", Type: Timestamp, Path: "time"}, {Name: "method", Type: String, Nullable: true},
			{Name: "path", Type: String, Nullable: true}, {Name: "status", Type: Int64}, {Name: "bytes", Type: Int64, Nullable: true},
			{Name: "referrer", Type: String, Nullable: true}, {Name: "user_agent", Type: String, Nullable: true},
		}, Format{Type: ApacheCombined}, 1, apacheLine},
		{"syslog_rfc5424", []Field{
			{Name: "severity", Type: Int64}, {Name: "time", Type: Timestamp}, {Name: "host", Type: String},
			{Name: "program", Type: String}, {Name: "pid", Type: Int64, Nullable: true}, {Name: "message", Type: String},
		}, Format{Type: Syslog}, 1, func(i int) string {
			return fmt.Sprintf(`<165>1 2026-11-22T04:50:%02d.%03dZ web-%d.example.com checkout %d ID47 - order o-%d placed for customer c-%d`, i%60, i%1000, i%16, 1000+i%9000, i, i%5000)
		}},
		{"syslog_rfc3164", []Field{
			{Name: "time", Type: Timestamp}, {Name: "host", Type: String},
			{Name: "program", Type: String}, {Name: "pid", Type: Int64, Nullable: true}, {Name: "message", Type: String},
		}, Format{Type: Syslog, Now: func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }}, 1, func(i int) string {
			return fmt.Sprintf(`Nov 22 04:50:%02d web-%d sshd[%d]: Accepted publickey for ops from 10.0.%d.%d port %d ssh2`, i%60, i%16, 1000+i%9000, i%256, i%200, 40000+i%20000)
		}},
		{"csv", []Field{
			{Name: "event_id", Type: String}, {Name: "user_id", Type: String}, {Name: "page", Type: String},
			{Name: "country", Type: String}, {Name: "ts", Type: Timestamp}, {Name: "price", Type: Float64},
		}, Format{Type: CSV}, 1, func(i int) string {
			return fmt.Sprintf(`6f1c%04x-9a2b-4c3d-8e4f-%012x,u-%05d,/products/%d,DE,2026-11-22T04:50:%02d.%03dZ,%d.99`, i%65536, i, i%100000, i%1000, i%60, i%1000, i%100)
		}},
		{"regex", []Field{
			{Name: "ts", Type: Timestamp, Path: "time"}, {Name: "level", Type: String}, {Name: "ms", Type: Float64}, {Name: "msg", Type: String},
		}, Format{Type: Regex, Regex: `^(?P<time>\S+) \[(?P<level>[A-Z]+)\] took=(?P<ms>\S+)ms (?P<msg>.*)$`}, 1, func(i int) string {
			return fmt.Sprintf(`2026-11-22T04:50:%02d.%03dZ [INFO] took=%d.5ms request %d done`, i%60, i%1000, i%900, i)
		}},
		{"cloudwatch_logs", []Field{
			{Name: "group", Type: String, Path: "logGroup"}, {Name: "stream", Type: String, Path: "logStream"},
			{Name: "ts", Type: Timestamp, Path: "timestamp"}, {Name: "level", Type: String, Path: "message.level"},
			{Name: "order", Type: String, Path: "message.order"}, {Name: "ms", Type: Int64, Path: "message.ms"},
		}, Format{Type: CloudWatchLogs}, 50, func(i int) string { return cwEnvelope(i, 50) }},
	}
}

// BenchmarkDecodeFormats measures Decode of 1000 records per call for each
// non-JSON format (cloudwatch_logs: 1000 records of 50 events).
func BenchmarkDecodeFormats(b *testing.B) {
	for _, c := range formatBenchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			d, err := NewFormat(memory.NewGoAllocator(), c.fields, c.format)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Release()
			recs := c.records(1000)
			var size int
			for _, r := range recs {
				size += len(r.Data)
			}
			rows := c.rowsPer * len(recs)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			for b.Loop() {
				batch, dead := d.Decode("shard-0", recs)
				if len(dead) != 0 || batch.Rows() != rows {
					b.Fatalf("%d rows, dead letters %v", batch.Rows(), reasons(dead))
				}
				batch.Record.Release()
			}
			runtime.ReadMemStats(&ms1)
			n := float64(b.N) * float64(rows)
			b.ReportMetric(n/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/row")
		})
	}
}
