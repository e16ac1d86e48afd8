package harness

import (
	"fmt"
	"strconv"
	"time"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/flow"
)

// Dataset is a pool of KCL-shaped batches of reference click events, read
// only once built: shards replay it concurrently.
type Dataset struct {
	Batches [][]flow.SourceRecord
	Records int
	Bytes   int64
}

// Generate makes n events of the reference workload (seeded by wl) cut into
// batches of batchSize records, as GetRecords returns them: payload,
// partition key (the user), a 56-digit sequence number, arrival time. The
// payloads share one arena, so the dataset costs about n × 300 bytes plus
// the record headers.
func Generate(wl workload.Config, n, batchSize int) *Dataset {
	if wl.Total == 0 {
		wl.Total = n
	}
	g := workload.New(wl)
	ds := &Dataset{Records: n}
	arena := make([]byte, 0, n*300)
	recs := make([]flow.SourceRecord, n)
	arrival := time.Now()
	for i := range n {
		e := g.Next()
		start := len(arena)
		if cap(arena)-len(arena) < 512 { // a new arena; earlier records keep theirs
			arena = make([]byte, 0, (n-i)*300+512)
			start = 0
		}
		arena = e.AppendJSON(arena)
		recs[i] = flow.SourceRecord{
			Data:           arena[start:len(arena):len(arena)],
			PartitionKey:   "u-" + strconv.Itoa(e.UserID),
			SequenceNumber: fmt.Sprintf("4960%052d", i),
			ArrivalTime:    arrival.Add(time.Duration(i) * time.Microsecond),
		}
		ds.Bytes += int64(len(recs[i].Data))
	}
	for i := 0; i < n; i += batchSize {
		ds.Batches = append(ds.Batches, recs[i:min(i+batchSize, n):min(i+batchSize, n)])
	}
	return ds
}
