package e2e

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardflow/shardflow/bench/harness"
	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/delivered"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/metrics"
	"github.com/shardflow/shardflow/pipeline"
)

const shards = 16

// BenchmarkE2E puts reference events into a 16-shard kinesalite stream at
// each target rate of SHARDFLOW_E2E_RATES (records/s, default "1000,4000,0";
// 0 = as fast as the producer can) for SHARDFLOW_E2E_SECONDS (default 15)
// and reports put → Firehose-ack latency percentiles and throughputs. Run it
// once: -benchtime 1x.
func BenchmarkE2E(b *testing.B) {
	rates := []float64{1000, 4000, 0}
	if s := os.Getenv("SHARDFLOW_E2E_RATES"); s != "" {
		rates = rates[:0]
		for f := range strings.SplitSeq(s, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				b.Fatalf("SHARDFLOW_E2E_RATES: %v", err)
			}
			rates = append(rates, r)
		}
	}
	secs := 15
	if s := os.Getenv("SHARDFLOW_E2E_SECONDS"); s != "" {
		secs, _ = strconv.Atoi(s)
	}
	for _, rate := range rates {
		name := fmt.Sprintf("rate=%.0f", rate)
		if rate == 0 {
			name = "rate=max"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N { // -benchtime 1x: once
				runE2E(b, rate, time.Duration(secs)*time.Second)
			}
		})
	}
}

// acks records BatchAcked calls per shard, in call order.
type acks struct {
	metrics.Nop
	mu     sync.Mutex
	byShrd map[string][]ack
	total  int
}

type ack struct {
	n  int
	at time.Time
}

func (a *acks) BatchAcked(shard string, records int, _ time.Duration, err error) {
	if err != nil || records == 0 {
		return
	}
	now := time.Now()
	a.mu.Lock()
	a.byShrd[shard] = append(a.byShrd[shard], ack{records, now})
	a.total += records
	a.mu.Unlock()
}

func (a *acks) acked() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// put is one record the producer put.
type put struct {
	seq string
	at  time.Time
}

func runE2E(b *testing.B, rate float64, produceFor time.Duration) {
	b.StopTimer() // setup is not measured
	env := testenv.Load(b)
	ctx := context.Background()
	name := testenv.UniqueName(b, "e2e")
	stream, deliveryName := name+"-in", name+"-out"
	kc := env.Kinesis(b)
	testenv.CreateStream(b, kc, stream, shards)
	fh := env.Firehose(b)
	if err := delivered.CreateDeliveryStream(ctx, fh, deliveryName, env.S3Bucket, time.Second); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = fh.DeleteDeliveryStream(context.Background(), &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String(deliveryName)})
	})
	dir := b.TempDir()
	planFile, err := harness.WritePlanTable(dir, harness.Users)
	if err != nil {
		b.Fatal(err)
	}
	// Defaults of `shardflow run` except a faster shard sync (so that the
	// 16 leases are taken in about a second) and the ops endpoint.
	yaml := fmt.Sprintf(`
name: %s
aws:
  region: %s
  endpoints: {kinesis: %s, dynamodb: %s, firehose: %s, s3: %s}
redis: {url: "%s", key_prefix: "sf-%s"}
source:
  stream: %s
  checkpoints: {type: redis}
  shard_sync_interval: 250ms
schema:
  - {name: event_id, type: string}
  - {name: user_id, type: string}
  - {name: page, type: string}
  - {name: country, type: string, nullable: true}
  - {name: ts, type: timestamp}
  - {name: price, type: float64, nullable: true}
  - {name: user_agent, type: string, nullable: true}
transforms:
  - static_table: {file: %s, key: "{user_id}", fields: [{from: plan, type: string}]}
outputs:
  - name: s3
    firehose: {delivery_stream: %s}
dead_letter:
  file: %s
ops: {listen: "127.0.0.1:0"}
`, name, env.Region, env.KinesisEndpoint, env.DynamoDBEndpoint, env.FirehoseEndpoint, env.S3Endpoint,
		env.RedisURL, name, stream, planFile, deliveryName, filepath.Join(dir, "dead.ndjson"))
	cfg, err := pipeline.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatalf("config: %v", err)
	}
	plan, err := pipeline.Plan(cfg)
	if err != nil {
		b.Fatalf("plan: %v", err)
	}
	hook := &acks{byShrd: map[string][]ack{}}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := pipeline.New(runCtx, plan, pipeline.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WorkerID: "bench", Hooks: hook})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }() // stopped by cancel below; its result is awaited
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("pipeline: %v", err)
			}
		case <-time.After(30 * time.Second):
			b.Error("pipeline did not stop within 30s")
		}
	}
	defer func() {
		if runCtx.Err() == nil {
			stop()
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); len(p.OwnedShards()) < shards; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("leased %d of %d shards in 30s", len(p.OwnedShards()), shards)
		}
	}

	cpu0 := serverCPU()
	self0 := selfCPU()
	b.StartTimer()
	start := time.Now()
	puts, err := produce(ctx, kc, stream, rate, produceFor)
	if err != nil {
		b.Fatal(err)
	}
	produced := 0
	for _, ps := range puts {
		produced += len(ps)
	}
	putDur := time.Since(start)
	for deadline := time.Now().Add(60 * time.Second); hook.acked() < produced; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("acked %d of %d records within 60s of the last put", hook.acked(), produced)
		}
	}
	allAcked := time.Since(start)
	b.StopTimer()
	cpu1, self1 := serverCPU(), selfCPU()
	stop()

	// Match acks to puts: a shard's batches are acked in order, so its
	// k-th acked record is its k-th put by sequence number.
	var lat []time.Duration
	for shard, ps := range puts {
		slices.SortFunc(ps, func(x, y put) int { return cmp.Or(cmp.Compare(len(x.seq), len(y.seq)), strings.Compare(x.seq, y.seq)) })
		i := 0
		for _, a := range hook.byShrd[shard] {
			for range a.n {
				if i < len(ps) {
					lat = append(lat, a.at.Sub(ps[i].at))
				}
				i++
			}
		}
		if i != len(ps) {
			b.Errorf("shard %s: %d records acked, %d put", shard, i, len(ps))
		}
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	wall := allAcked.Seconds()
	b.ReportMetric(float64(produced)/putDur.Seconds(), "put-records/s")
	b.ReportMetric(float64(produced)/wall, "acked-records/s")
	b.ReportMetric(float64(pct(0.50).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(pct(0.99).Milliseconds()), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
	b.ReportMetric((self1-self0).Seconds()/wall, "shardflow+producer-cores")
	for _, s := range []string{"kinesalite", "firehose-local", "s3-local"} {
		if c0, ok := cpu0[s]; ok {
			b.ReportMetric((cpu1[s]-c0).Seconds()/wall, s+"-cores")
		}
	}
	b.Logf("rate %.0f/s: %d records put in %v, all acked after %v; latency p50 %v p90 %v p99 %v max %v",
		rate, produced, putDur.Round(time.Millisecond), allAcked.Round(time.Millisecond), pct(0.5), pct(0.9), pct(0.99), lat[len(lat)-1])
}

// produce puts reference events at rate records/s (0: as fast as possible)
// for d, from 4 goroutines each putting 500-record PutRecords calls, and
// returns what was put, by shard. Records Kinesis failed are put again.
func produce(ctx context.Context, kc *kinesis.Client, stream string, rate float64, d time.Duration) (map[string][]put, error) {
	const workers, batch = 4, 500
	var (
		mu   sync.Mutex
		out  = map[string][]put{}
		errs = make([]error, workers)
		wg   sync.WaitGroup
	)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			gen := workload.New(workload.Config{Seed: uint64(w + 1), Start: time.Now().UTC()})
			var buf []byte
			sent := 0
			for time.Since(start) < d {
				if rate > 0 {
					due := start.Add(time.Duration(float64(sent) / (rate / workers) * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						time.Sleep(wait)
					}
				}
				n := batch
				if rate > 0 {
					n = min(batch, max(1, int(rate/workers/10))) // ~10 calls/s per worker at low rates
				}
				entries := make([]kintypes.PutRecordsRequestEntry, n)
				for i := range entries {
					e := gen.Next()
					buf = e.AppendJSON(buf[:0])
					entries[i] = kintypes.PutRecordsRequestEntry{Data: slices.Clone(buf), PartitionKey: aws.String(e.ID())}
				}
				for len(entries) > 0 {
					at := time.Now()
					res, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
					if err != nil {
						errs[w] = err
						return
					}
					var retry []kintypes.PutRecordsRequestEntry
					mu.Lock()
					for i, r := range res.Records {
						if r.ErrorCode != nil {
							retry = append(retry, entries[i])
							continue
						}
						out[*r.ShardId] = append(out[*r.ShardId], put{seq: *r.SequenceNumber, at: at})
					}
					mu.Unlock()
					sent += len(entries) - len(retry)
					entries = retry
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// serverCPU returns the CPU time used so far by each local server whose
// pid deploy/local/up recorded.
func serverCPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	root, err := filepath.Abs("../../deploy/local/.state/pids")
	if err != nil {
		return out
	}
	for _, s := range []string{"kinesalite", "firehose-local", "s3-local"} {
		pid, err := os.ReadFile(filepath.Join(root, s+".pid"))
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: utime and stime
		// are the 12th and 13th, in clock ticks (100/s on Linux).
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[s] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	return out
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
