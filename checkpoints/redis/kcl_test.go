package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	kclcfg "github.com/vmware/vmware-go-kcl-v2/clientlibrary/config"
	kcli "github.com/vmware/vmware-go-kcl-v2/clientlibrary/interfaces"
	"github.com/vmware/vmware-go-kcl-v2/clientlibrary/worker"
	"github.com/vmware/vmware-go-kcl-v2/logger"

	"github.com/shardflow/shardflow/internal/testenv"
)

// TestWithKCLWorker runs the real KCL worker on kinesalite with this store:
// every record is read once, each shard's checkpoint is its last record, and
// shutdown releases the leases.
func TestWithKCLWorker(t *testing.T) {
	env := testenv.Load(t)
	kc := env.Kinesis(t)
	stream := testenv.UniqueName(t, "ckpt")
	testenv.CreateStream(t, kc, stream, 2)
	client, prefix := env.Redis(t)

	const records = 200
	ctx := context.Background()
	for i := range records {
		_, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{
			StreamName:   aws.String(stream),
			PartitionKey: aws.String(fmt.Sprint("key-", i)),
			Data:         fmt.Appendf(nil, "%d", i),
		})
		if err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
	}

	k := kclcfg.NewKinesisClientLibConfigWithCredential(testApp, stream, env.Region, "w1", env.AWSConfig().Credentials).
		WithTableName(stream).
		WithInitialPositionInStream(kclcfg.TRIM_HORIZON).
		WithFailoverTimeMillis(4000).
		WithLeaseRefreshWaitTime(1000).
		WithShardSyncIntervalMillis(400).
		WithMaxRecords(50).
		WithIdleTimeBetweenReadsInMillis(100).
		WithLogger(testLogger{t})
	k.ParentShardPollIntervalMillis = 400
	store := New(client, Options{Prefix: prefix}) // application: the table name
	seen := &seenRecords{bySeq: map[string]int{}, last: map[string]string{}}
	w := worker.NewWorker(seen, k).WithKinesis(kc).WithCheckpointer(store.Checkpointer(k))
	if err := w.Start(); err != nil {
		t.Fatalf("worker Start: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for seen.count() < records && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	w.Shutdown()

	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.bySeq) != records {
		t.Fatalf("read %d distinct records, want %d", len(seen.bySeq), records)
	}
	for seq, n := range seen.bySeq {
		if n != 1 {
			t.Errorf("record %s read %d times", seq, n)
		}
	}
	if seen.checkpointErr != nil {
		t.Fatalf("checkpoint: %v", seen.checkpointErr)
	}
	reader := store.checkpointer(kcl("reader").WithTableName(stream))
	if len(seen.last) != 2 {
		t.Fatalf("records came from %d shards, want 2", len(seen.last))
	}
	for shard, last := range seen.last {
		if got := storedCheckpoint(t, reader, shard); got != last {
			t.Errorf("shard %s: checkpoint %q, want its last record %q", shard, got, last)
		}
		if owner, err := reader.GetLeaseOwner(shard); !errors.Is(err, chk.NoLeaseOwnerErr) {
			t.Errorf("shard %s: owner %q, %v after shutdown, want released", shard, owner, err)
		}
	}
}

// seenRecords is the test's record processor factory and its findings.
type seenRecords struct {
	mu            sync.Mutex
	bySeq         map[string]int    // sequence number → times read
	last          map[string]string // shard → last sequence number read
	checkpointErr error
}

func (s *seenRecords) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bySeq)
}

func (s *seenRecords) CreateProcessor() kcli.IRecordProcessor { return &seenProcessor{s: s} }

type seenProcessor struct {
	s     *seenRecords
	shard string
}

func (p *seenProcessor) Initialize(in *kcli.InitializationInput) { p.shard = in.ShardId }

func (p *seenProcessor) ProcessRecords(in *kcli.ProcessRecordsInput) {
	if len(in.Records) == 0 {
		return
	}
	p.s.mu.Lock()
	for _, r := range in.Records {
		p.s.bySeq[aws.ToString(r.SequenceNumber)]++
	}
	last := in.Records[len(in.Records)-1].SequenceNumber
	p.s.last[p.shard] = aws.ToString(last)
	p.s.mu.Unlock()
	if err := in.Checkpointer.Checkpoint(last); err != nil {
		p.s.mu.Lock()
		p.s.checkpointErr = errors.Join(p.s.checkpointErr, err)
		p.s.mu.Unlock()
	}
}

func (p *seenProcessor) Shutdown(*kcli.ShutdownInput) {}

// testLogger keeps the KCL's warnings and errors in the test log and drops
// the rest.
type testLogger struct{ t *testing.T }

func (l testLogger) Debugf(string, ...any)                  {}
func (l testLogger) Infof(string, ...any)                   {}
func (l testLogger) Warnf(f string, a ...any)               { l.t.Logf("kcl warn: "+f, a...) }
func (l testLogger) Errorf(f string, a ...any)              { l.t.Logf("kcl error: "+f, a...) }
func (l testLogger) Fatalf(f string, a ...any)              { panic(fmt.Sprintf(f, a...)) }
func (l testLogger) Panicf(f string, a ...any)              { panic(fmt.Sprintf(f, a...)) }
func (l testLogger) WithFields(logger.Fields) logger.Logger { return l }
