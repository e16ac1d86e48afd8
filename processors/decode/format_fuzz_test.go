package decode

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FuzzDecodeFormats feeds arbitrary records to a decoder of every non-JSON
// format (cloudwatch_logs both as they are and gzip-compressed, so that
// the envelope reader sees arbitrary JSON). It must never panic, every
// line of a text record must be a row, a dead letter or a skip, and no
// Arrow memory may be left behind.
func FuzzDecodeFormats(f *testing.F) {
	for _, c := range formatBenchCases(f) {
		f.Add([]byte(c.records(1)[0].Data))
	}
	f.Add([]byte(cloudTrailEnvelope(`{"eventVersion":"1.03","userIdentity":{"type":"Root"}}`, `x`)))
	f.Add([]byte(`{"messageType":"CONTROL_MESSAGE","logEvents":[]}`))
	f.Add([]byte("a,b\n\n\"c\"\"\",d\r\n"))
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	type dec struct {
		d    *Decoder
		text bool
		gzip bool
	}
	var decs []dec
	for _, c := range formatBenchCases(f) {
		d, err := NewFormat(mem, c.fields, c.format)
		if err != nil {
			f.Fatal(err)
		}
		text := c.format.Type != CloudWatchLogs
		decs = append(decs, dec{d, text, false})
		if !text {
			d2, _ := NewFormat(mem, c.fields, c.format)
			decs = append(decs, dec{d2, false, true})
		}
	}
	lenient, err := NewFormat(mem, []Field{{Name: "a", Type: String, Nullable: true}, {Name: "b", Type: Int64, Nullable: true}},
		Format{Type: CSV, CSV: CSVOptions{Header: true, Columns: []string{"a", "b"}}})
	if err != nil {
		f.Fatal(err)
	}
	decs = append(decs, dec{lenient, true, false})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, dc := range decs {
			in := data
			if dc.gzip {
				in = gz(t, string(data))
			}
			res := decodeFormat(t, dc.d, in, in)
			if dc.text {
				lines := 0
				if len(in) == 0 {
					lines = 1 // an empty record is one dead letter
				} else {
					lines = bytes.Count(in, []byte("\n"))
					if in[len(in)-1] != '\n' {
						lines++
					}
				}
				skipped := 0
				for _, n := range res.skipped {
					skipped += n
				}
				if got := len(res.rows) + len(res.dead) + skipped; got != 2*lines {
					t.Fatalf("%d rows + %d dead + %d skipped, want %d lines", len(res.rows), len(res.dead), skipped, 2*lines)
				}
			}
		}
		mem.AssertSize(t, 0)
	})
}

// TestApacheFormatProperty generates combined-log records of one to three
// lines, some of them broken in ways that have a known reason, and checks
// every row against the values that were written and every dead letter's
// reason code.
func TestApacheFormatProperty(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	d := newFormat(t, mem, []Field{
		{Name: "client", Type: String},
		{Name: "ts", Type: Timestamp, Path: "time"},
		{Name: "path", Type: String, Nullable: true},
		{Name: "status", Type: Int64},
		{Name: "bytes", Type: Int64, Default: ptr("0")},
		{Name: "ua", Type: String, Path: "user_agent", Nullable: true},
	}, Format{Type: ApacheCombined})
	rng := rand.New(rand.NewPCG(7, 8))
	type want struct {
		row  []any
		code string
	}
	n := 20000
	if testing.Short() {
		n = 3000
	}
	for batch := 0; batch < n/100; batch++ {
		var records [][]byte
		var wants []want
		for range 100 / 2 {
			var lines []string
			for range 1 + rng.IntN(3) {
				tm := time.Unix(rng.Int64N(2e9), 0).UTC()
				client := fmt.Sprintf("10.0.%d.%d", rng.IntN(256), rng.IntN(256))
				path := []string{"/", "/a", "/q?x=1", "/ü"}[rng.IntN(4)]
				status := 100 + rng.IntN(500)
				size := rng.IntN(3) - 1 // -1: "-"
				ua := []string{"-", "curl/8", `say \"hi\"`}[rng.IntN(3)]
				sizeText := fmt.Sprint(size)
				if size < 0 {
					sizeText = "-"
				}
				statusText := fmt.Sprint(status)
				w := want{row: []any{client, micros(tm.UnixMicro()), path, int64(status), int64(max(size, 0)), nil}}
				if ua != "-" {
					w.row[5] = strings.ReplaceAll(ua, `\"`, `"`)
				}
				timeText := tm.Format("02/Jan/2006:15:04:05 -0700")
				switch rng.IntN(10) {
				case 0:
					statusText, w = "2xx", want{code: ReasonTypeMismatch}
				case 1:
					timeText, w = strings.Replace(timeText, "/", "-", 1), want{code: ReasonInvalidTimestamp}
				case 2:
					ua, w = ua+`" extra "`, want{code: ReasonInvalidLine}
				}
				lines = append(lines, fmt.Sprintf(`%s - - [%s] "GET %s HTTP/1.1" %s %s "-" "%s"`, client, timeText, path, statusText, sizeText, ua))
				wants = append(wants, w)
			}
			records = append(records, []byte(strings.Join(lines, "\n")))
		}
		res := decodeFormat(t, d, records...)
		row, dl := 0, 0
		for i, w := range wants {
			if w.code == "" {
				if row >= len(res.rows) || !sameOutcome(outcome{row: res.rows[row]}, outcome{row: w.row}) {
					t.Fatalf("batch %d line %d: row %v, want %v", batch, i, res.rows[min(row, len(res.rows)-1)], w.row)
				}
				row++
				continue
			}
			if dl >= len(res.dead) || ReasonCode(res.dead[dl].Reason) != w.code {
				t.Fatalf("batch %d line %d: dead letters %q, want %s next", batch, i, reasons(res.dead[dl:]), w.code)
			}
			dl++
		}
		if row != len(res.rows) || dl != len(res.dead) {
			t.Fatalf("batch %d: %d rows and %d dead letters, want %d and %d", batch, len(res.rows), len(res.dead), row, dl)
		}
	}
}
