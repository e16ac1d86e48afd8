package ingest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardflow/shardflow/ingest/lines"
	"github.com/shardflow/shardflow/ingest/state"
	"github.com/shardflow/shardflow/ingest/tail"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/processors/decode/lineparse"
)

// benchLine is a ~110-byte application log line; benchApache a ~230-byte
// combined-log line.
func benchLine(i int) string {
	return fmt.Sprintf("2026-11-22T04:50:%02d.%03dZ INFO checkout order=o-%d user=u-%d total=%d.99 items=3 latency_ms=%d", i%60, i%1000, i, i%5000, i%100, i%300)
}

func benchApache(i int) string {
	return fmt.Sprintf(`10.%d.%d.%d - - [22/Nov/2026:04:%02d:%02d +0000] "GET /products/%d?ref=home HTTP/1.1" %d %d "https://shop.example.com/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"`,
		i%256, i/256%256, i%200, i/60%60, i%60, i%1000, []int{200, 200, 200, 304, 404, 500}[i%6], 1000+i%50000)
}

func writeBenchFile(tb testing.TB, path string, n int, line func(int) string) int64 {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		w.WriteString(line(i))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	fi, _ := f.Stat()
	f.Close()
	return fi.Size()
}

// countingSink registers and acknowledges every record at once: the cost
// of the agent's reading and line processing without the network.
type countingSink struct {
	prog    *state.Progress
	records int
	bytes   int
}

func (c *countingSink) Record(r lines.Record) error {
	c.prog.Register(r.Pos).Ack()
	c.records++
	c.bytes += len(r.Data)
	return nil
}
func (c *countingSink) Dead(string, []byte, int64, state.Position) error {
	return fmt.Errorf("dead letter")
}
func (c *countingSink) Skip(string, state.Position) {}

type benchHandler struct {
	p    *lines.Processor
	sink *countingSink
	src  lines.Source
}

func (h *benchHandler) Started(f *tail.File) { h.sink.prog = f.Progress }
func (h *benchHandler) Lines(_ *tail.File, ls []lines.Line) error {
	for _, l := range ls {
		if err := h.p.Line(&h.src, l, h.sink, time.Time{}); err != nil {
			return err
		}
	}
	return nil
}
func (h *benchHandler) Finished(*tail.File) error { return nil }

// BenchmarkReadAndProcess measures the agent's own per-line work in
// process: tailing a file (read, split into lines), line processing
// (single-line trim, or Apache combined → JSON) and the checkpoint
// tracking of each record — everything but the put.
func BenchmarkReadAndProcess(b *testing.B) {
	for _, c := range []struct {
		name string
		o    lines.Options
		line func(int) string
	}{
		{"single-line", lines.Options{SingleLine: true}, benchLine},
		{"apache-to-json", lines.Options{Convert: &lines.Convert{Format: lineparse.ApacheCombined}}, benchApache},
	} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			const n = 200_000
			size := writeBenchFile(b, filepath.Join(dir, "app.log"), n, c.line)
			c.o.MaxRecordBytes = 1 << 20
			p, err := lines.New(c.o)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				st, err := state.Open(filepath.Join(b.TempDir(), "s.json"))
				if err != nil {
					b.Fatal(err)
				}
				tl, err := tail.New(tail.Options{Flow: "b", Globs: []string{filepath.Join(dir, "*.log")}, Once: true, Logger: quiet}, st)
				if err != nil {
					b.Fatal(err)
				}
				h := &benchHandler{p: p, sink: &countingSink{}}
				for !tl.Done() {
					if _, err := tl.Poll(time.Now(), h); err != nil {
						b.Fatal(err)
					}
				}
				tl.Close()
				if h.sink.records != n {
					b.Fatalf("%d records", h.sink.records)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkAgentOnce runs the real binary in --once mode over a file of
// lines into kinesalite (KPL-aggregated, so that the local stand-in, which
// takes some thousands of records a second, is not what is measured) and
// reports the agent process's own CPU time per line (user + system, from
// the kernel's accounting of that process): lines per CPU-second.
func BenchmarkAgentOnce(b *testing.B) {
	env := testenv.Load(b)
	kc := env.Kinesis(b)
	bin := shardflowBinary(b)
	for _, c := range []struct {
		name  string
		n     int
		line  func(int) string
		extra string
	}{
		{"single-line", 1_000_000, benchLine, "single_line: true"},
		{"apache-to-json", 300_000, benchApache, "convert: {format: apache_combined}"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				dir := b.TempDir()
				stream := testenv.UniqueName(b, "bench")
				testenv.CreateStream(b, kc, stream, 4)
				size := writeBenchFile(b, filepath.Join(dir, "app.log"), c.n, c.line)
				config := filepath.Join(dir, "agent.yaml")
				os.WriteFile(config, []byte(agentYAML(env, dir, fmt.Sprintf(`
  - name: bench
    files: [%q]
    kinesis_stream: %s
    aggregate: true
    aggregate_max_bytes: 262144
    max_buffer_bytes: 67108864
    %s
`, filepath.Join(dir, "app.log"), stream, c.extra))), 0o644)
				cmd := exec.Command(bin, "agent", "-c", config, "--once", "--progress", "never", "--metrics", "off")
				var out strings.Builder
				cmd.Stdout, cmd.Stderr = &out, &out
				start := time.Now()
				if err := cmd.Run(); err != nil {
					b.Fatalf("%v\n%s", err, out.String())
				}
				wall := time.Since(start)
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
				if !strings.Contains(out.String(), fmt.Sprintf("%d records put", c.n)) {
					b.Fatalf("not every line was put:\n%s", out.String())
				}
				b.ReportMetric(float64(c.n)/cpu.Seconds(), "lines/cpu-s")
				b.ReportMetric(cpu.Seconds(), "cpu-s")
				b.ReportMetric(wall.Seconds(), "wall-s")
				b.ReportMetric(float64(size)/cpu.Seconds()/1e6, "MB/cpu-s")
				b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MB")
			}
		})
	}
}
