package s3

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/uuid"

	"github.com/shardflow/shardflow/flow"
)

const usPerHour = int64(time.Hour / time.Microsecond)

// partitionColumn parses PartitionBy: -1 for arrival time, else the index of
// the event-time column.
func partitionColumn(by string, schema *arrow.Schema) (int, error) {
	switch {
	case by == "" || by == "arrival":
		return -1, nil
	case strings.HasPrefix(by, "event:"):
		name := strings.TrimPrefix(by, "event:")
		idx := schema.FieldIndices(name)
		if len(idx) != 1 {
			return 0, fmt.Errorf("s3: partition_by %q: the schema has %d columns named %q, want 1", by, len(idx), name)
		}
		if ts, ok := schema.Field(idx[0]).Type.(*arrow.TimestampType); !ok || ts.Unit != arrow.Microsecond {
			return 0, fmt.Errorf("s3: partition_by %q: column %q is %s, want timestamp[us]", by, name, schema.Field(idx[0]).Type)
		}
		return idx[0], nil
	}
	return 0, fmt.Errorf(`s3: partition_by %q: want "arrival" or "event:<timestamp column>"`, by)
}

// run is rows [start, end) of a batch that go to the partition of hour.
type run struct {
	hour       int64 // hours since the Unix epoch
	start, end int
}

// runs splits b into runs of consecutive rows of one partition: the whole
// batch by its first row's arrival time, or by each row's event hour.
func (o *Output) runs(b *flow.Batch) []run {
	n := b.Rows()
	if o.eventCol < 0 {
		return []run{{hour: hourOf(o.arrival(b, 0)), start: 0, end: n}}
	}
	ts := b.Record.Column(o.eventCol).(*array.Timestamp)
	var out []run
	for i := 0; i < n; i++ {
		var h int64
		if ts.IsNull(i) {
			h = hourOf(o.arrival(b, i))
		} else {
			h = floorDiv(int64(ts.Value(i)), usPerHour)
		}
		if k := len(out); k > 0 && out[k-1].hour == h {
			out[k-1].end = i + 1
			continue
		}
		out = append(out, run{hour: h, start: i, end: i + 1})
	}
	return out
}

// arrival is row i's arrival time, else the batch's first row's, else now.
func (o *Output) arrival(b *flow.Batch, i int) time.Time {
	if i < len(b.Origins) && !b.Origins[i].ArrivalTime.IsZero() {
		return b.Origins[i].ArrivalTime
	}
	if len(b.Origins) > 0 && !b.Origins[0].ArrivalTime.IsZero() {
		return b.Origins[0].ArrivalTime
	}
	return o.opts.Now()
}

func hourOf(t time.Time) int64 { return floorDiv(t.UnixMicro(), usPerHour) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// PartitionPath is the Hive-style partition of an hour since the epoch:
// dt=YYYY-MM-DD/hr=HH/.
func PartitionPath(hour int64) string {
	t := time.UnixMicro(hour * usPerHour).UTC()
	return t.Format("dt=2006-01-02/hr=15/")
}

// objectKey names a new file of partition hour opened at now.
func (o *Output) objectKey(hour int64, now time.Time) string {
	return o.prefix + PartitionPath(hour) + o.opts.Name + "-" + now.UTC().Format("20060102T150405Z") + "-" + uuid.NewString() + ".parquet"
}
