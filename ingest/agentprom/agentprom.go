package agentprom

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardflow/shardflow/ingest"
)

// maxFileSeries bounds the lag series per flow.
const maxFileSeries = 100

// Source is what the collector reads: an *ingest.Agent.
type Source interface{ Snapshot() ingest.Snapshot }

// Collector is a prometheus.Collector over an agent's snapshot.
type Collector struct {
	src Source
	// descriptors
	lines, bytesRead, records, recordsPut, bytesPut, entries, calls, callErrors, resent *prometheus.Desc
	buffered, dead, skipped, lag, files, ckpts, ckptErr                                 *prometheus.Desc
}

// New makes the collector; register it with a registry.
func New(src Source) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("shardflow_agent_"+name, help, labels, nil)
	}
	return &Collector{
		src:        src,
		lines:      d("lines_read_total", "Lines read from files and objects.", "flow"),
		bytesRead:  d("bytes_read_total", "Bytes of lines read (line breaks included).", "flow"),
		records:    d("records_total", "Records handed to the sender.", "flow", "destination"),
		recordsPut: d("records_put_total", "Records acknowledged by the destination.", "flow", "destination"),
		bytesPut:   d("bytes_put_total", "Bytes of records acknowledged by the destination.", "flow", "destination"),
		entries:    d("service_records_total", "Kinesis/Firehose records accepted (a KPL aggregate or a packed Firehose record counts once).", "flow", "destination"),
		calls:      d("calls_total", "PutRecords / PutRecordBatch calls made.", "flow", "destination"),
		callErrors: d("call_errors_total", "Calls that failed as a whole (they are made again).", "flow", "destination"),
		resent:     d("retries_total", "Service records sent again after a failure (inside a call or of the whole call).", "flow", "destination"),
		buffered:   d("buffered_bytes", "Bytes of records read and not yet acknowledged (reading pauses at max_buffer_bytes).", "flow"),
		dead:       d("dead_letters_total", "Lines written to the dead-letter file, by reason.", "flow", "reason"),
		skipped:    d("skipped_lines_total", "Lines that carried nothing to send (headers, empty lines).", "flow", "reason"),
		lag:        d("lag_bytes", "Bytes of a file or object not yet delivered (its size when last read minus its checkpoint).", "flow", "file"),
		files:      d("sources", "Files or objects tracked.", "flow"),
		ckpts:      d("checkpoint_writes_total", "Checkpoint file writes."),
		ckptErr:    d("checkpoint_failing", "1 while the last checkpoint write failed."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lines, c.bytesRead, c.records, c.recordsPut, c.bytesPut, c.entries, c.calls,
		c.callErrors, c.resent, c.buffered, c.dead, c.skipped, c.lag, c.files, c.ckpts, c.ckptErr} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	for _, f := range s.Flows {
		counter(c.lines, f.LinesRead, f.Name)
		counter(c.bytesRead, f.BytesRead, f.Name)
		counter(c.records, f.RecordsAdded, f.Name, f.Destination)
		counter(c.recordsPut, f.RecordsPut, f.Name, f.Destination)
		counter(c.bytesPut, f.BytesPut, f.Name, f.Destination)
		counter(c.entries, f.Entries, f.Name, f.Destination)
		counter(c.calls, f.Calls, f.Name, f.Destination)
		counter(c.callErrors, f.CallErrors, f.Name, f.Destination)
		counter(c.resent, f.Resent, f.Name, f.Destination)
		gauge(c.buffered, f.BufferedBytes, f.Name)
		for r, n := range f.DeadLetters {
			counter(c.dead, n, f.Name, r)
		}
		for r, n := range f.Skipped {
			counter(c.skipped, n, f.Name, r)
		}
		gauge(c.files, int64(len(f.Sources)), f.Name)
		// Generations of one path (a truncated file) share a series.
		byName := map[string]int64{}
		for _, src := range f.Sources {
			byName[src.Name] += src.Lag
		}
		names := make([]string, 0, len(byName))
		for n := range byName {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool {
			if byName[names[i]] != byName[names[j]] {
				return byName[names[i]] > byName[names[j]]
			}
			return names[i] < names[j]
		})
		var other int64
		for i, n := range names {
			if i >= maxFileSeries {
				other += byName[n]
				continue
			}
			gauge(c.lag, byName[n], f.Name, n)
		}
		if len(names) > maxFileSeries {
			gauge(c.lag, other, f.Name, "other")
		}
	}
	counter(c.ckpts, s.CheckpointWrites)
	failing := int64(0)
	if s.CheckpointError != "" {
		failing = 1
	}
	gauge(c.ckptErr, failing)
}
